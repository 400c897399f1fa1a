"""Celery queues: every task is placed in exactly one queue, and a message really lands in its queue, so
that a slow BMC sweep or a mail outage never waits in front of a VM build."""

from __future__ import annotations

import importlib
import json

import pytest
import redis
from celery import current_app
from django.apps import apps
from django.conf import settings

from kennel.celery import app

QUEUES = settings.KENNEL_TASK_QUEUES


def kennel_tasks() -> set[str]:
    """Every task of every installed app (their tasks modules imported, as a worker does)."""
    for config in apps.get_app_configs():
        try:
            importlib.import_module(f"{config.name}.tasks")
        except ModuleNotFoundError as error:
            if error.name != f"{config.name}.tasks":
                raise
    # Celery's own tasks, and tasks a test module defines for itself, are not Kennel's.
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


def test_every_task_is_named_in_exactly_one_queue():
    placed = [task for tasks in QUEUES.values() for task in tasks]
    assert len(placed) == len(set(placed)), "a task is named in two queues"
    tasks = kennel_tasks()
    assert sorted(tasks - set(placed)) == [], "tasks without a queue in settings.KENNEL_TASK_QUEUES"
    assert sorted(set(placed) - tasks) == [], "KENNEL_TASK_QUEUES names tasks that do not exist"
    assert set(QUEUES) == {"cloud", "bmc", "mail", "housekeeping"}


@pytest.mark.parametrize(
    ("task", "queue"),
    [(task, queue) for queue, tasks in QUEUES.items() for task in tasks],
)
def test_each_task_is_routed_to_its_queue(task, queue):
    route = app.amqp.router.route({}, task, (), {})
    assert route["queue"].name == queue


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*QUEUES)
    yield client
    client.delete(*QUEUES)


def test_messages_land_in_their_queues_on_the_broker(broker):
    sent = {
        "provisioning.tasks.vm_request_build": "cloud",
        "inventory.tasks.bmc_poll": "bmc",
        "quotas.tasks.quota_request_notify": "mail",
        "provisioning.tasks.vm_lease_reminder_send": "mail",
        "inventory.tasks.utilization_snapshot": "housekeeping",
    }
    for task in sent:
        current_app.send_task(task, args=())
    landed = {
        json.loads(raw)["headers"]["task"]: queue for queue in QUEUES for raw in broker.lrange(queue, 0, -1)
    }
    assert landed == sent


def test_beat_sends_a_heartbeat_to_every_queue():
    beats = {
        entry["options"]["queue"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "portal.tasks.heartbeat"
    }
    assert beats == set(QUEUES)
    # A worker started without -Q consumes every queue (make run's and the tests' single worker).
    assert {queue.name for queue in app.conf.task_queues} == set(QUEUES)
