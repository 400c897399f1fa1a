"""Several VMs at once, resize with revert, lock and rebuild end to end: web-side services, a real
Celery worker, the real local OpenStack. Two servers at a time, deleted at the end."""

from __future__ import annotations

import pytest
from celery import current_app

from portal.cloud import cloud
from portal.cloud.gateway import ServerAction
from provisioning import services
from provisioning.models import VmRequest
from tests.fixtures.fake_cloud import flavor, image
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = VmRequest.Status


@pytest.fixture(autouse=True)
def _no_eager_tasks():
    assert not current_app.conf.task_always_eager


def fresh(vm):
    vm.refresh_from_db()
    return vm


def test_two_vms_at_once_one_resized_and_reverted_the_other_locked_and_rebuilt(member, linked_team):
    with celery_worker():
        vms = services.vm_requests_submit(
            actor=member,
            team=linked_team,
            name="it-many",
            count=2,
            image=image(),
            flavor=flavor(),
            source="test",
        )
        try:
            assert [vm.name for vm in vms] == ["it-many-1", "it-many-2"]
            for vm in vms:
                eventually(
                    lambda vm=vm: fresh(vm).status, lambda s: s == Status.ACTIVE, timeout=180, what=vm.name
                )
            first, second = (fresh(vm) for vm in vms)

            services.vm_resize_request(actor=member, vm=first, flavor=flavor("m1.small"), source="test")
            eventually(
                lambda: fresh(first).server_state, lambda s: s == "resized", timeout=180, what="resized"
            )
            assert fresh(first).flavor_name == "m1.small"
            services.vm_action_request(
                actor=member, vm=fresh(first), action=ServerAction.REVERT_RESIZE, source="test"
            )
            eventually(
                lambda: fresh(first).server_state, lambda s: s == "running", timeout=180, what="reverted"
            )
            assert fresh(first).flavor_name == "m1.tiny"

            services.vm_action_request(actor=member, vm=second, action=ServerAction.LOCK, source="test")
            eventually(lambda: fresh(second).locked, lambda locked: locked, timeout=60, what="locked")
            with pytest.raises(services.VmStateConflict, match="locked"):
                services.vm_rebuild_request(actor=member, vm=fresh(second), image=image(), source="test")
            services.vm_action_request(
                actor=member, vm=fresh(second), action=ServerAction.UNLOCK, source="test"
            )
            eventually(lambda: fresh(second).locked, lambda locked: not locked, timeout=60, what="unlocked")
            services.vm_rebuild_request(actor=member, vm=fresh(second), image=image(), source="test")
            eventually(
                lambda: cloud().get_server(second.server_id),
                lambda server: server.status == "ACTIVE" and server.settled,
                timeout=180,
                what="rebuilt",
            )
            history = " ".join(e.message for e in fresh(second).events.all())
            assert "asked to rebuild it from" in history and "refused" not in history
        finally:
            for vm in vms:
                vm = fresh(vm)
                if vm.locked:
                    VmRequest.objects.filter(pk=vm.pk).update(locked=False)
                services.vm_delete_request(actor=member, vm=fresh(vm), source="test")
            for vm in vms:
                eventually(
                    lambda vm=vm: fresh(vm).status, lambda s: s == Status.DELETED, timeout=180, what="deleted"
                )
