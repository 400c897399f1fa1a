from celery import shared_task

from usage import services
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
def vm_usage_renew() -> int:
    """Every KENNEL_PROMETHEUS_CACHE_SECONDS: every VM's figures asked again and kept for the pages;
    the number of VMs in the answer (0: Prometheus not configured or away, and the pages ask it
    themselves)."""
    from usage.selectors import vm_usage_all_renew

    answer = vm_usage_all_renew()
    return len(answer.rows.get("vcpus", {}))
