"""/metrics: who may read it, and that what it says is what happened (a request made, a task run, a
cloud call sent, messages waiting, the estate in the database)."""

from __future__ import annotations

import math
import os
from datetime import timedelta

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from inventory.models import HardwareState
from portal.tasks import heartbeat
from provisioning.models import CloudSync, VmRequest
from quotas.models import QuotaRequest
from tests.factories import ServerFactory
from tests.matrix import check_matrix

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def scraper(settings):
    settings.KENNEL_METRICS_TOKEN = TOKEN
    settings.KENNEL_METRICS_ALLOWED_NETWORKS = []
    return Client(headers={"Authorization": f"Bearer {TOKEN}"})


def scrape(client: Client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_only_the_token_or_an_allowed_network_may_read_metrics(settings, people):
    settings.KENNEL_METRICS_TOKEN = TOKEN
    settings.KENNEL_METRICS_ALLOWED_NETWORKS = []
    # Signed in or not, nobody reads it without the token: it is for Prometheus, not for people.
    check_matrix(
        people, "/metrics", dict.fromkeys(("anonymous", "member", "outsider", "manager", "admin"), 404)
    )
    assert Client(headers={"Authorization": "Bearer wrong"}).get("/metrics").status_code == 403
    assert Client(headers={"Authorization": f"Bearer {TOKEN}"}).get("/metrics").status_code == 200
    # From an allowed network, no token is needed; the client's address is what portal.origin says.
    from ipaddress import ip_network

    settings.KENNEL_METRICS_ALLOWED_NETWORKS = [ip_network("192.0.2.0/24")]
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="198.51.100.7").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="192.0.2.7").post("/metrics").status_code == 405


@pytest.mark.django_db
def test_a_request_is_counted_and_timed_by_its_route_name_not_its_path(scraper, client):
    before = scrape(scraper)
    assert client.get("/login/").status_code == 200
    assert client.get("/vms/987654/").status_code == 302  # anonymous: to the login page
    assert client.get("/no/such/page/").status_code == 404
    after = scrape(scraper)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kennel_http_responses_total", view="login", method="GET", status="200") == 1
    assert (
        delta("kennel_http_responses_total", view="provisioning:vm-detail", method="GET", status="302") == 1
    )
    assert delta("kennel_http_responses_total", view="unmatched", method="GET", status="404") == 1
    assert delta("kennel_http_request_duration_seconds_count", view="login", method="GET") == 1
    assert delta("kennel_http_request_duration_seconds_bucket", view="login", method="GET", le="+Inf") == 1
    # No label anywhere holds a raw path.
    assert not any("987654" in str(labels) for _name, labels in after)


@pytest.mark.django_db
def test_a_task_run_moves_its_counter_by_outcome(scraper, clean_cache):
    before = scrape(scraper)
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        heartbeat.delay("cloud")
        heartbeat.delay("cloud")
    finally:
        current_app.conf.task_always_eager = previous
    after = scrape(scraper)
    ran = value(
        after, "kennel_celery_tasks_total", task="portal.tasks.heartbeat", outcome="succeeded"
    ) - value(before, "kennel_celery_tasks_total", task="portal.tasks.heartbeat", outcome="succeeded")
    assert ran == 2
    assert (
        value(after, "kennel_celery_task_duration_seconds_count", task="portal.tasks.heartbeat")
        - value(before, "kennel_celery_task_duration_seconds_count", task="portal.tasks.heartbeat")
        == 2
    )
    # The heartbeat of the cloud queue is now fresh; the mail queue's never ran.
    assert value(after, "kennel_worker_heartbeat_age_seconds", queue="cloud") < 10
    assert value(after, "kennel_worker_heartbeat_age_seconds", queue="mail") == math.inf


@pytest.fixture
def clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


@pytest.mark.django_db
def test_a_failed_task_is_counted_as_failed(scraper):
    task = current_app.tasks["portal.tasks.heartbeat"]
    before = scrape(scraper)
    result = task.apply(args=(), kwargs={"queue": "cloud", "unexpected": 1})  # a TypeError inside
    assert result.failed()
    after = scrape(scraper)
    assert (
        value(after, "kennel_celery_tasks_total", task="portal.tasks.heartbeat", outcome="failed")
        - value(before, "kennel_celery_tasks_total", task="portal.tasks.heartbeat", outcome="failed")
        == 1
    )


@pytest.mark.django_db
def test_queue_lengths_are_read_from_the_broker_at_scrape_time(scraper):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("mail", "bmc")
    try:
        for _ in range(3):
            current_app.send_task("quotas.tasks.quota_request_notify", args=(0, "test"))
        current_app.send_task("inventory.tasks.bmc_poll")
        samples = scrape(scraper)
        assert value(samples, "kennel_queue_length", queue="mail") == 3
        assert value(samples, "kennel_queue_length", queue="bmc") == 1
        assert value(samples, "kennel_broker_up") == 1
    finally:
        broker.delete("mail", "bmc")


@pytest.mark.django_db
def test_the_estates_gauges_are_counted_from_the_database(scraper, team, member):
    common = {"team": team, "owner": member, "vcpus": 1, "ram_mb": 512, "disk_gb": 1}
    for name, arch, status, state in (
        ("a", "x86_64", VmRequest.Status.ACTIVE, "running"),
        ("b", "x86_64", VmRequest.Status.ACTIVE, "running"),
        ("c", "ppc64le", VmRequest.Status.ACTIVE, "stopped"),
        ("d", "ppc64le", VmRequest.Status.QUEUED, ""),
        ("e", "x86_64", VmRequest.Status.DELETED, "deleted"),
    ):
        VmRequest.objects.create(name=name, architecture=arch, status=status, server_state=state, **common)
    QuotaRequest.objects.create(
        team=team, requested_by=member, reason="tests", values={}, status=QuotaRequest.Status.PENDING
    )
    QuotaRequest.objects.create(
        team=team, requested_by=member, reason="tests", values={}, status=QuotaRequest.Status.APPLIED
    )
    now = timezone.now()
    for reachable in (True, False, False):
        HardwareState.objects.create(server=ServerFactory(), reachable=reachable, polled_at=now)
    CloudSync.objects.create(part="hosts", succeeded_at=now - timedelta(seconds=120))
    CloudSync.objects.create(part="catalog", succeeded_at=now - timedelta(seconds=30), error="Glance: 503")

    samples = scrape(scraper)
    assert value(samples, "kennel_vms", state="running", architecture="x86_64") == 2
    assert value(samples, "kennel_vms", state="stopped", architecture="ppc64le") == 1
    assert value(samples, "kennel_vms", state="queued", architecture="ppc64le") == 1
    assert ("kennel_vms", frozenset({"state": "deleted", "architecture": "x86_64"}.items())) not in samples
    assert value(samples, "kennel_quota_requests_open", status="pending") == 1
    assert value(samples, "kennel_quota_requests_open", status="applying") == 0
    assert value(samples, "kennel_bmcs_unreachable") == 2
    assert value(samples, "kennel_bmcs", reachable="true") == 1
    assert 120 <= value(samples, "kennel_mirror_age_seconds", part="hosts") < 180
    assert value(samples, "kennel_mirror_age_seconds", part="servers") == math.inf
    assert value(samples, "kennel_mirror_failing", part="catalog") == 1
    assert value(samples, "kennel_mirror_failing", part="hosts") == 0


@pytest.mark.integration
@pytest.mark.django_db
def test_cloud_calls_are_counted_by_service_on_the_real_cloud(scraper):
    from portal.cloud.openstack import OpenStackGateway

    gateway = OpenStackGateway(cloud=settings.OPENSTACK_CLOUD, config_file=settings.OPENSTACK_CONFIG_FILE)
    gateway.list_flavors()  # authenticates first (identity), then asks Nova
    before = scrape(scraper)
    gateway.list_flavors()
    gateway.list_images()
    after = scrape(scraper)
    assert (
        value(after, "kennel_cloud_requests_total", service="compute", code="2xx")
        - value(before, "kennel_cloud_requests_total", service="compute", code="2xx")
        >= 1
    )
    assert (
        value(after, "kennel_cloud_requests_total", service="image", code="2xx")
        - value(before, "kennel_cloud_requests_total", service="image", code="2xx")
        >= 1
    )
    assert value(after, "kennel_cloud_requests_total", service="identity", code="2xx") >= 1
    # An answer that is an error is counted under its class, not as a failure to reach the cloud.
    from portal.cloud.gateway import CloudNotFound

    with pytest.raises(CloudNotFound):
        gateway.get_server("00000000-0000-0000-0000-000000000000")
    last = scrape(scraper)
    assert (
        value(last, "kennel_cloud_requests_total", service="compute", code="4xx")
        - value(after, "kennel_cloud_requests_total", service="compute", code="4xx")
        >= 1
    )


@pytest.mark.django_db
def test_with_a_multiprocess_directory_metrics_adds_up_every_processs_counts(scraper, tmp_path, monkeypatch):
    import subprocess
    import sys

    # Two processes (as two gunicorn or Celery pool processes would) count into one directory.
    code = (
        "from portal.metrics import task_observe, cloud_request_observe\n"
        "task_observe('portal.tasks.heartbeat', 'succeeded', 0.2)\n"
        "cloud_request_observe('compute', 503)\n"
    )
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            check=True,
            cwd=settings.BASE_DIR,
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape(scraper)
    assert (
        value(samples, "kennel_celery_tasks_total", task="portal.tasks.heartbeat", outcome="succeeded") == 2
    )
    assert value(samples, "kennel_cloud_requests_total", service="compute", code="5xx") == 2
    assert value(samples, "kennel_cloud_errors_total", service="compute") == 2
    assert value(samples, "kennel_queue_length", queue="cloud") >= 0  # the scrape-time gauges still come


def test_production_allows_no_network_by_default_and_takes_the_listed_ones():
    from tests.portal.test_error_pages import GOOD_FERNET_KEY, GOOD_SECRET, run_django

    production = {
        "KENNEL_MODE": "production",
        "DJANGO_SECRET_KEY": GOOD_SECRET,
        "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
        "DATABASE_URL": "postgres://k@127.0.0.1/k",
        "KENNEL_ENCRYPTION_KEY": GOOD_FERNET_KEY,
    }
    code = "from django.conf import settings; print(settings.KENNEL_METRICS_ALLOWED_NETWORKS)"

    def networks(**extra: str) -> str:
        result = run_django({**production, **extra}, "shell", "-c", code)
        lines = result.stdout.strip().splitlines()
        return lines[-1] if result.returncode == 0 and lines else result.stderr

    assert networks() == "[]"
    assert networks(KENNEL_METRICS_ALLOWED_NETWORKS="10.9.0.0/16") == "[IPv4Network('10.9.0.0/16')]"
    assert "is not an IP network" in networks(KENNEL_METRICS_ALLOWED_NETWORKS="prometheus")
