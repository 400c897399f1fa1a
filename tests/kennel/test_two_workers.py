"""Several workers at once do each piece of scheduled work once.

Two real Celery worker processes (four threads each) on one PostgreSQL test database and one Redis are
sent every task of beat's schedule four times at once: what two beats, a message redelivered after a
lost acknowledgement, or a slow run overlapping the next would send. Then each piece of work must have
been done once: one reminder e-mail per VM, one enforcement (audit row) per expired lease, every kept
outbox task sent once, one orphan check, no duplicated rows in the mirror or the utilization history.
The workers count their tasks and cloud calls in one PROMETHEUS_MULTIPROC_DIR, read here as /metrics
would.
"""

from __future__ import annotations

import re
import socket
import urllib.request
from collections import Counter as Tally
from datetime import timedelta

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from inventory.models import UtilizationSample
from onboarding.models import OrphanCheck
from portal.models import AuditEvent, QueuedTask
from portal.services import team_link_project
from provisioning import services
from provisioning.models import CloudImage, CloudSync, VmRequest
from tests.live import ROOT, celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
COPIES = 4
KEPT = 20  # tasks kept in the outbox while "the broker was away"
WORKER_LOG = ROOT / "var" / "test-worker.log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finished_tasks(directory) -> Tally:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    tally: Tally = Tally()
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "kennel_celery_tasks_total":
                tally[sample.labels["task"]] += int(sample.value)
            if sample.name == "kennel_cloud_requests_total":
                tally[f"cloud:{sample.labels['service']}"] += int(sample.value)
    return tally


def test_two_workers_sent_the_whole_schedule_four_times_do_each_piece_of_work_once(member, team, tmp_path):
    team_link_project(actor=None, team=team, project="alpha")
    services.hosts_mirror_refresh()  # a fresh hosts mirror: the utilization snapshot has something to record
    now = timezone.now()
    common = {
        "team": team,
        "owner": member,
        "vcpus": 1,
        "ram_mb": 512,
        "disk_gb": 1,
        "architecture": "x86_64",
    }
    for n in range(3):  # leases ending tomorrow: one reminder each
        VmRequest.objects.create(
            name=f"soon{n}", status=VmRequest.Status.ACTIVE, expires_at=now + timedelta(days=1), **common
        )
    for n in range(2):  # leases that ended: enforced (stopped) once each
        VmRequest.objects.create(
            name=f"over{n}",
            status=VmRequest.Status.ACTIVE,
            server_status="ACTIVE",
            expires_at=now - timedelta(hours=1),
            **common,
        )
    for _ in range(KEPT):
        QueuedTask.objects.create(task="portal.tasks.heartbeat", args=["housekeeping"], kwargs={})
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(*settings.KENNEL_TASK_QUEUES)
    log_from = WORKER_LOG.stat().st_size if WORKER_LOG.exists() else 0
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "KENNEL_VM_EXPIRY_ACTION": "stop"}
    port = free_port()  # worker one also serves the counters itself, as on a machine without a web

    schedule = list(settings.CELERY_BEAT_SCHEDULE.values())
    expected = Tally(entry["task"] for entry in schedule for _ in range(COPIES))
    expected["portal.tasks.heartbeat"] += KEPT  # the outbox's, sent once each

    with (
        celery_worker(
            concurrency=4,
            env={**env, "KENNEL_WORKER_METRICS_LISTEN": f"127.0.0.1:{port}"},
            args=("-n", "one@%h"),
        ),
        celery_worker(concurrency=4, env=env, args=("-n", "two@%h")),
    ):
        eventually(
            lambda: len(current_app.control.ping(timeout=1.0) or []),
            lambda n: n == 2,
            timeout=60,
            what="both workers answering",
        )
        for _ in range(COPIES):
            for entry in schedule:
                queue = entry.get("options", {}).get("queue")
                current_app.send_task(entry["task"], args=entry.get("args", ()), queue=queue)
        finished = eventually(
            lambda: _finished_tasks(metrics_dir),
            lambda tally: all(tally[task] >= n for task, n in expected.items()),
            timeout=240,
            what="every task finished",
        )
        # Tasks the scheduled ones enqueued (reminder e-mails, stops, the orphan check) finish too.
        eventually(
            lambda: _finished_tasks(metrics_dir),
            lambda tally: (
                tally["provisioning.tasks.vm_lease_reminder_send"] >= 3
                and tally["onboarding.tasks.orphan_check_run"] >= 1
            ),
            timeout=120,
            what="the follow-up tasks",
        )
        eventually(
            lambda: sum(broker.llen(queue) for queue in settings.KENNEL_TASK_QUEUES),
            lambda n: n == 0,
            timeout=60,
            what="empty queues",
        )
        finished = _finished_tasks(metrics_dir)
        served = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()

    log = WORKER_LOG.read_bytes()[log_from:].decode(errors="replace")
    mails = re.findall(r"Subject: Your VM (soon\d|over\d) expires", log)
    print(
        f"\ntwo workers, schedule x{COPIES}: tasks finished {sum(v for k, v in finished.items() if '.' in k)}"
    )
    print("  " + ", ".join(f"{k}={v}" for k, v in sorted(finished.items()) if k.startswith("cloud:")))
    print(f"  reminder e-mails {sorted(mails)}")

    # The worker's own endpoint says what the shared directory says.
    heartbeats = [
        sample.value
        for family in text_string_to_metric_families(served)
        for sample in family.samples
        if sample.name == "kennel_celery_tasks_total" and sample.labels["task"] == "portal.tasks.heartbeat"
    ]
    assert sum(heartbeats) == finished["portal.tasks.heartbeat"]
    # Each scheduled task ran as often as it was sent (nothing lost), the outbox's once each.
    assert finished["portal.tasks.heartbeat"] == expected["portal.tasks.heartbeat"]
    # One reminder e-mail per VM whose lease ends soon, claimed once among 2 x 4 runs.
    assert sorted(mails) == ["soon0", "soon1", "soon2"]
    assert finished["provisioning.tasks.vm_lease_reminder_send"] == 3
    assert VmRequest.objects.filter(name__startswith="soon", lease_reminded_at__isnull=False).count() == 3
    # Each expired lease enforced once: one audit row, one stop asked for.
    expired = AuditEvent.objects.filter(action="vm.expire").values_list("target_id").annotate(n=Count("pk"))
    assert sorted(n for _target, n in expired) == [1, 1]
    assert finished["provisioning.tasks.vm_action"] == 2
    # The outbox: every kept task sent exactly once, none left.
    assert not QueuedTask.objects.exists()
    # One orphan check for four copies of its schedule.
    assert OrphanCheck.objects.count() == 1
    assert finished["onboarding.tasks.orphan_check_run"] == 1
    # The mirror's parts were each refreshed, and no claim was left behind by the runs that overlapped.
    syncs = {s.part: s for s in CloudSync.objects.all()}
    assert {"catalog", "hosts", "servers", "quotas"} <= set(syncs)
    assert all(s.running_since is None and s.succeeded_at for s in syncs.values()), syncs
    assert CloudImage.objects.exists()
    # The history has its snapshot (a bucket's samples are upserted: four runs write one set).
    assert UtilizationSample.objects.exists()
