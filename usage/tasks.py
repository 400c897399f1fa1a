from celery import shared_task

from usage import queries, services
from usage.prometheus import PrometheusQueryError, PrometheusUnavailable


@shared_task(ignore_result=True)
def idle_vm_scan() -> dict[str, int] | None:
    """Hourly: flag and unflag idle VMs. Without Prometheus, or while it is away, nothing changes and
    the next run tries again."""
    try:
        scan = services.idle_vm_scan()
    except (services.MetricsNotConfigured, PrometheusUnavailable, PrometheusQueryError):
        return None
    return {"flagged": scan.flagged, "still_idle": scan.still_idle, "cleared": scan.cleared}


@shared_task(ignore_result=True)
def usage_renew() -> dict[str, int]:
    """Every KENNEL_PROMETHEUS_CACHE_SECONDS: every host's and every VM's figures asked again and kept
    for the pages; how many of each the answers hold (0: Prometheus not configured or away, and the
    pages ask it themselves)."""
    from usage.selectors import usage_renew as renew

    answer = renew()
    hosts, vms = answer.rows
    named = {s.labels.get(queries.host_label()) for s in hosts}
    return {"hosts": len(named), "vms": len(vms.get("vcpus", {}))}
