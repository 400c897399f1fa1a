"""nova-api, neutron-server and Keystone, each stopped while people request VMs, then started again.

The pages say the cloud cannot be reached (from the mirror's last failed refresh, not a 500), each
request says it is waiting for the cloud, and every one is built once the service is back. The service
is stopped through ``devcloud/run stop-service`` and always started again, each outage under a minute:
other tests share this cloud.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid

import pytest

from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound
from provisioning import services as vm_services
from provisioning.models import VmRequest
from tests.faults.processes import QUICK_RECOVERY, broker, celery_beat
from tests.fixtures.fake_cloud import flavor, image
from tests.fixtures.local_cloud import wait_gone
from tests.live import ROOT, celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = VmRequest.Status
OUTAGE_SECONDS = 10


def devcloud(command: str, service: str) -> None:
    subprocess.run(
        [str(ROOT / "devcloud" / "run"), command, service],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ},
    )


@pytest.mark.parametrize("service", ["nova-api", "neutron", "keystone"])
def test_requests_wait_out_a_stopped_cloud_service_and_all_finish(
    service, client, member, linked_team, private_redis
):
    tag = uuid.uuid4().hex[:4]
    names = [f"out-{service[:4]}-{tag}-{i}" for i in range(2)]
    gateway = cloud()
    env = {"REDIS_URL": private_redis.url(), **QUICK_RECOVERY}
    client.force_login(member)

    def submit(name: str) -> VmRequest:
        return vm_services.vm_request_submit(
            actor=member, team=linked_team, name=name, image=image("x86_64"), flavor=flavor(), source="test"
        )

    try:
        with broker(private_redis.url()), celery_worker(env=env), celery_beat(env=env):
            devcloud("stop-service", service)
            stopped = time.monotonic()
            try:
                vms = [submit(name) for name in names]  # accepted: the web never waits on the cloud
                # What beat's catalog refresh records, run here at once. Without Keystone the services
                # may still answer for a while (the portal's token and their token caches are valid):
                # the banner is for a refresh that failed, the waiting rows below for the rest.
                try:
                    vm_services.catalog_refresh()
                    refresh_failed = False
                except CloudError:
                    refresh_failed = True
                listing = client.get("/vms/")
                assert listing.status_code == 200
                banner = "The cloud cannot be reached right now" in listing.content.decode()
                assert banner == refresh_failed
                assert refresh_failed or service == "keystone"
                for vm in vms:
                    eventually(
                        lambda vm=vm: VmRequest.objects.get(pk=vm.pk).status_message,
                        lambda m: "Waiting for the cloud" in m,
                        timeout=OUTAGE_SECONDS + 20,
                        what=f"{vm.name} saying it waits for the cloud",
                    )
                    page = client.get(f"/vms/{vm.pk}/")
                    assert page.status_code == 200
                    assert "Waiting for the cloud" in page.content.decode()
                    assert VmRequest.objects.get(pk=vm.pk).status in (Status.QUEUED, Status.BUILDING)
                time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
            finally:
                devcloud("start-service", service)
            back = time.monotonic()
            eventually(
                lambda: sorted(VmRequest.objects.filter(name__in=names).values_list("status", flat=True)),
                lambda s: all(x in (Status.ACTIVE, Status.FAILED) for x in s),
                timeout=180,
                what=f"building after {service} came back",
            )
            elapsed = time.monotonic() - back
        print(
            f"\n[fault] {service} stopped {back - stopped:.1f} s: both requests active "
            f"{elapsed:.1f} s after it answered again"
        )
        vm_services.catalog_refresh()
        assert "The cloud cannot be reached" not in client.get("/vms/").content.decode()
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
            with contextlib.suppress(CloudError):
                for server in [
                    s
                    for s in gateway.find_servers_by_metadata(
                        project_id=linked_team.openstack_project_id,
                        key=vm_services.METADATA_KEY,
                        value=str(pk),
                    )
                    if s.name in names
                ]:
                    with contextlib.suppress(CloudNotFound):
                        gateway.delete_server(server.id)
                    wait_gone(gateway, server.id)
