"""``/metrics`` for Prometheus: Kennel's own counters (portal.metrics) and the estate's gauges, computed
when scraped with a few cheap queries (no stored gauge goes stale, whichever process answers).

Answered to a scraper holding ``KENNEL_METRICS_TOKEN`` or coming from ``KENNEL_METRICS_ALLOWED_NETWORKS``;
a wrong token is a 403, anyone else gets a 404 (the endpoint does not exist for them).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from inventory.models import HardwareState
from portal.metrics import metrics_exposition
from portal.origin import client_ip
from portal.selectors import heartbeat_key
from provisioning.models import CloudSync, VmRequest
from quotas.models import QuotaRequest

# The parts of the cloud mirror (provisioning.models.CloudSync.part) and what they hold.
MIRROR_PARTS = ("catalog", "servers", "hosts", "quotas")
OPEN_QUOTA_REQUESTS = (
    QuotaRequest.Status.PENDING,
    QuotaRequest.Status.INFO_REQUESTED,
    QuotaRequest.Status.APPROVED,
    QuotaRequest.Status.APPLYING,
)


class EstateCollector(Collector):
    """The estate as Kennel's database has it now: four queries and one cache read per scrape."""

    def collect(self) -> Iterator[Metric]:
        vms = GaugeMetricFamily(
            "kennel_vms",
            "VMs Kennel knows that are not deleted, by state (the cloud's, else the request's) and "
            "architecture.",
            labels=["state", "architecture"],
        )
        rows = (
            VmRequest.objects.exclude(status=VmRequest.Status.DELETED)
            .values("server_state", "status", "architecture")
            .annotate(n=Count("pk"))
            .order_by()
        )
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row["server_state"] or row["status"], row["architecture"])
            counts[key] = counts.get(key, 0) + row["n"]
        for (state, architecture), n in sorted(counts.items()):
            vms.add_metric([state, architecture], n)
        yield vms

        requests = GaugeMetricFamily(
            "kennel_quota_requests_open",
            "Quota requests not yet decided or applied, by status.",
            labels=["status"],
        )
        open_counts = dict(
            QuotaRequest.objects.filter(status__in=OPEN_QUOTA_REQUESTS)
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for status in OPEN_QUOTA_REQUESTS:
            requests.add_metric([str(status)], open_counts.get(status, 0))
        yield requests

        bmcs = GaugeMetricFamily(
            "kennel_bmcs", "Servers' BMCs by whether their latest poll reached them.", labels=["reachable"]
        )
        reachable = dict(HardwareState.objects.values_list("reachable").annotate(n=Count("pk")).order_by())
        bmcs.add_metric(["true"], reachable.get(True, 0))
        bmcs.add_metric(["false"], reachable.get(False, 0))
        yield bmcs
        unreachable = GaugeMetricFamily(
            "kennel_bmcs_unreachable", "Servers whose BMC did not answer its latest poll."
        )
        unreachable.add_metric([], reachable.get(False, 0))
        yield unreachable

        now = timezone.now()
        syncs = {sync.part: sync for sync in CloudSync.objects.filter(part__in=MIRROR_PARTS)}
        age = GaugeMetricFamily(
            "kennel_mirror_age_seconds",
            "How old each part of the cloud mirror is (its last successful refresh); +Inf if never.",
            labels=["part"],
        )
        failing = GaugeMetricFamily(
            "kennel_mirror_failing", "1 when the latest refresh of a mirror part failed.", labels=["part"]
        )
        for part in MIRROR_PARTS:
            sync = syncs.get(part)
            succeeded = sync.succeeded_at if sync else None
            age.add_metric([part], (now - succeeded).total_seconds() if succeeded else math.inf)
            failing.add_metric([part], 1 if sync and sync.error else 0)
        yield age
        yield failing

        beats = cache.get_many([heartbeat_key(queue) for queue in settings.KENNEL_TASK_QUEUES])
        heartbeat = GaugeMetricFamily(
            "kennel_worker_heartbeat_age_seconds",
            "Seconds since a worker of each queue ran its heartbeat (every 30 s); +Inf if never.",
            labels=["queue"],
        )
        for queue in settings.KENNEL_TASK_QUEUES:
            seen = beats.get(heartbeat_key(queue))
            heartbeat.add_metric([queue], time.time() - float(seen) if seen is not None else math.inf)
        yield heartbeat


def _may_scrape(request: HttpRequest) -> bool:
    """True for the token or an allowed network; PermissionDenied for a wrong token; False otherwise."""
    scheme, _space, key = request.headers.get("Authorization", "").partition(" ")
    expected = settings.KENNEL_METRICS_TOKEN
    if scheme.lower() == "bearer" and key.strip():
        if expected and constant_time_compare(key.strip(), expected):
            return True
        raise PermissionDenied
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in settings.KENNEL_METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format (see the module's docstring for who may read it)."""
    if not _may_scrape(request):
        raise Http404
    # The classic text format (0.0.4), which every Prometheus 2.x reads.
    return HttpResponse(metrics_exposition([EstateCollector()]), content_type=CONTENT_TYPE_PLAIN_0_0_4)
