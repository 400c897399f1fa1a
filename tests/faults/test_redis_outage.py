"""Redis (broker and cache) stopped while people request VMs: the web accepts the requests and says the
work is delayed; when Redis is back every accepted request is built, with nobody retrying by hand.

The web is this process (Django's test client), with its broker and cache on a private redis-server;
a real worker and beat use the same one, and survive its outage.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from celery import current_app

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from portal.models import QueuedTask
from provisioning import services as vm_services
from provisioning.models import VmRequest
from tests.faults.processes import QUICK_RECOVERY, broker, celery_beat
from tests.fixtures.fake_cloud import flavor, image
from tests.fixtures.local_cloud import wait_gone
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = VmRequest.Status
DELAYED = "the work is delayed"


def test_requests_made_while_redis_is_down_are_accepted_and_all_built_when_it_returns(
    client, member, linked_team, private_redis, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url(),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    env = {"REDIS_URL": private_redis.url(), **QUICK_RECOVERY}
    tag = uuid.uuid4().hex[:4]
    names = [f"redis-{tag}-{i}" for i in range(3)]
    gateway = cloud()
    client.force_login(member)
    try:
        with broker(private_redis.url()), celery_worker(env=env) as worker, celery_beat(env=env) as beat:
            eventually(lambda: current_app.control.ping(timeout=1), bool, timeout=60, what="the worker up")
            private_redis.stop()
            outage_began = time.monotonic()
            # Two through the page, one through the API, while Redis is away.
            for name in names[:2]:
                page = client.post(
                    "/vms/new/",
                    {
                        "team": linked_team.pk,
                        "architecture": "x86_64",
                        "image": image("x86_64").pk,
                        "flavor": flavor().pk,
                        "name": name,
                        "ssh_keys": "",
                        "packages": "",
                    },
                    follow=True,
                )
                assert page.status_code == 200
                assert DELAYED in page.content.decode(), page.content.decode()[:2000]
            api = client.post(
                "/api/v1/vms/",
                {
                    "team": linked_team.slug,
                    "name": names[2],
                    "image": image("x86_64").name,
                    "flavor": flavor().name,
                    "architecture": "x86_64",
                },
                content_type="application/json",
            )
            assert api.status_code == 201, api.content
            assert api["Kennel-Work-Delayed"]
            submitted = time.monotonic() - outage_began
            accepted = VmRequest.objects.filter(name__in=names)
            assert sorted(accepted.values_list("status", flat=True)) == [Status.QUEUED] * 3
            assert QueuedTask.objects.filter(task="provisioning.tasks.vm_request_build").count() == 3
            time.sleep(max(0.0, 10 - submitted))  # an outage of about ten seconds in all
            assert worker.poll() is None and beat.poll() is None, "the worker or beat died with Redis"
            private_redis.start()
            back = time.monotonic()
            eventually(QueuedTask.objects.count, lambda n: n == 0, timeout=60, what="sending what was kept")
            flushed = time.monotonic() - back
            print(
                f"\n[fault] Redis down {back - outage_began:.1f} s; 3 requests accepted in {submitted:.1f} s"
            )
            eventually(
                lambda: sorted(VmRequest.objects.filter(name__in=names).values_list("status", flat=True)),
                lambda s: all(x in (Status.ACTIVE, Status.FAILED) for x in s),
                timeout=180,
                what="building what was accepted during the outage",
            )
            elapsed = time.monotonic() - back
            print(
                f"[fault] what was kept went to the worker {flushed:.1f} s after Redis returned;"
                f" all 3 built (in the cloud) {elapsed:.1f} s after it returned"
            )
        for vm in VmRequest.objects.filter(name__in=names):
            assert vm.status == Status.ACTIVE, vm.status_message
            found = [
                s
                for s in gateway.find_servers_by_metadata(
                    project_id=linked_team.openstack_project_id,
                    key=vm_services.METADATA_KEY,
                    value=str(vm.pk),
                )
                if s.name in names
            ]
            assert [s.id for s in found] == [vm.server_id]
    finally:
        for pk in VmRequest.objects.filter(name__in=names).values_list("pk", flat=True):
            for server in [
                s
                for s in gateway.find_servers_by_metadata(
                    project_id=linked_team.openstack_project_id, key=vm_services.METADATA_KEY, value=str(pk)
                )
                if s.name in names
            ]:
                with contextlib.suppress(CloudNotFound):
                    gateway.delete_server(server.id)
                wait_gone(gateway, server.id)
