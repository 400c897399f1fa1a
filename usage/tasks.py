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
