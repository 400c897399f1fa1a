"""The cloud mirror against the FakeCloud: Nova's changes-since (the watermark, deleted servers, servers
Kennel did not make), Placement's generations, the catalog and quotas, the claims that keep two runs
of a part apart, and the age every mirrored page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.cloud.gateway import CloudUnavailable, QuotaService, ServerAction
from provisioning import services
from provisioning.models import CloudFlavor, CloudHost, CloudImage, CloudSync, UnmanagedServer, VmRequest
from provisioning.sync import Part, mirror_run
from quotas.models import TeamQuota
from quotas.selectors import team_usage
from quotas.services import quota_mirror_refresh
from tests.factories import VmRequestFactory
from tests.fixtures.fake_cloud import flavor, image
from tests.polling import until_done

pytestmark = pytest.mark.django_db
Status = VmRequest.Status


def built(member, team, name="vm1", size="m1.tiny"):
    vm = services.vm_request_submit(
        actor=member, team=team, name=name, image=image(), flavor=flavor(size), source="test"
    )
    until_done(lambda: services.vm_request_build_advance(request_id=vm.pk), what=f"building {vm.name}")
    vm.refresh_from_db()
    return vm


def servers_sync() -> CloudSync:
    return CloudSync.objects.get(part=Part.SERVERS)


# --- servers: changes-since ----------------------------------------------------------------------------


def test_the_first_run_lists_everything_then_runs_list_only_changes(fake_cloud, member, team):
    built(member, team)
    first = services.vm_reconcile()
    assert first is not None and servers_sync().full_at == servers_sync().succeeded_at
    calls = fake_cloud.calls["list_servers"]

    second = services.vm_reconcile()

    assert second is not None and fake_cloud.calls["list_servers"] == calls + 1  # one listing per run
    sync = servers_sync()
    assert sync.full_at < sync.succeeded_at, "the second run was incremental"


def test_a_change_older_than_the_watermark_is_not_listed_again_but_a_new_one_is(fake_cloud, member, team):
    old, new = built(member, team, "old"), built(member, team, "new")
    services.vm_reconcile()  # full: the watermark is now
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    fake_cloud.clock = lambda: long_ago  # a change Nova dated before the watermark (and its margin)
    fake_cloud.server_action(old.server_id, ServerAction.STOP)
    fake_cloud.settle()
    fake_cloud.clock = lambda: datetime.now(UTC)
    fake_cloud.server_action(new.server_id, ServerAction.STOP)
    fake_cloud.settle()

    counts = services.vm_reconcile()

    old.refresh_from_db()
    new.refresh_from_db()
    assert counts is not None and counts["listed"] == 1
    assert (old.server_status, new.server_status) == ("ACTIVE", "SHUTOFF")
    # The complete listing, a few minutes later, catches anything an incremental one could miss.
    services.vm_reconcile(full=True)
    old.refresh_from_db()
    assert old.server_status == "SHUTOFF"


def test_the_listing_starts_a_margin_before_the_last_success(fake_cloud, member, team):
    vm = built(member, team)
    services.vm_reconcile()
    watermark = servers_sync().succeeded_at
    # A change Nova dated just before our watermark (its clock a little behind, or a late commit).
    just_before = watermark - services.SERVERS_SINCE_MARGIN / 2
    fake_cloud.clock = lambda: just_before
    fake_cloud.server_action(vm.server_id, ServerAction.STOP)
    fake_cloud.settle()

    services.vm_reconcile()

    vm.refresh_from_db()
    assert vm.server_status == "SHUTOFF"


def test_a_server_deleted_outside_kennel_arrives_through_changes_since(fake_cloud, member, team):
    vm = built(member, team)
    services.vm_reconcile()
    fake_cloud.delete_server(vm.server_id)
    fake_cloud.settle()

    counts = services.vm_reconcile()

    vm.refresh_from_db()
    assert counts is not None and counts["vanished"] == 1
    assert servers_sync().full_at < servers_sync().succeeded_at, "seen by the incremental listing"
    assert vm.status == Status.DELETED and vm.server_status == "DELETED"
    assert "outside Kennel" in vm.status_message


def test_a_failed_run_keeps_the_watermark_so_the_next_one_sees_what_happened_meanwhile(
    fake_cloud, member, team
):
    vm = built(member, team)
    services.vm_reconcile()
    watermark = servers_sync().succeeded_at
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable):
        services.vm_reconcile()
    sync = servers_sync()
    assert sync.succeeded_at == watermark and "refused" in sync.error and sync.running_since is None
    fake_cloud.available = True
    fake_cloud.delete_server(vm.server_id)
    fake_cloud.settle()

    services.vm_reconcile()

    vm.refresh_from_db()
    assert vm.status == Status.DELETED and servers_sync().error == ""


def test_a_rename_and_a_resize_outside_kennel_show_on_the_vm(fake_cloud, member, team):
    vm = built(member, team)
    services.vm_reconcile()
    fake_cloud.rename_server(vm.server_id, "renamed-by-hand")
    fake_cloud.resize_server_outside(vm.server_id, "m1.medium")

    services.vm_reconcile()

    vm.refresh_from_db()
    assert vm.name == "renamed-by-hand"
    assert (vm.flavor_name, vm.vcpus, vm.ram_mb, vm.disk_gb) == ("m1.medium", 2, 4096, 40)
    assert vm.flavor == CloudFlavor.objects.get(name="m1.medium")
    assert team_usage(team)["cores"] == 2  # the team's usage follows the new size


def test_a_server_made_outside_kennel_counts_in_the_teams_usage_until_it_is_deleted(fake_cloud, team):
    services.vm_reconcile()
    before = team_usage(team)
    outsider = fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor("m1.small").cloud_id,
    )
    fake_cloud.settle()

    services.vm_reconcile()

    row = UnmanagedServer.objects.get(server_id=outsider.id)
    assert (row.team, row.status, row.vcpus, row.architecture) == (team, "ACTIVE", 1, "x86_64")
    after = team_usage(team)
    assert after.get("instances", 0) == before.get("instances", 0) + 1
    assert after.get("ram_mb", 0) == before.get("ram_mb", 0) + 2048

    fake_cloud.delete_server(outsider.id)
    fake_cloud.settle()
    counts = services.vm_reconcile()

    assert counts is not None and counts["forgotten"] == 1
    assert not UnmanagedServer.objects.exists()
    assert team_usage(team).get("instances", 0) == before.get("instances", 0)


def test_an_unchanged_cloud_costs_the_same_queries_with_more_servers(fake_cloud, member, team):
    def queries_of_a_quiet_run() -> int:
        services.vm_reconcile()
        services.vm_reconcile()  # the first settles anything new; the second finds nothing changed
        with CaptureQueriesContext(connection) as queries:
            services.vm_reconcile()
        return len(queries)

    built(member, team, "a")
    fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor().cloud_id,
    )
    fake_cloud.settle()
    few = queries_of_a_quiet_run()
    for i in range(8):
        built(member, team, f"more{i}")
        fake_cloud.create_server(
            project_id=team.openstack_project_id,
            name=f"by-hand-{i}",
            image_id=image().cloud_id,
            flavor_id=flavor().cloud_id,
        )
    fake_cloud.settle()
    many = queries_of_a_quiet_run()

    assert few == many, "queries of a reconcile grow with the number of servers"


@pytest.mark.parametrize("n", [2, 9])  # the fake cloud's project holds 20 servers
def test_a_first_complete_listing_writes_in_bulk(n, fake_cloud, member, team, django_assert_max_num_queries):
    """A reconcile that finds every VM changed (the first one, or after a restart) and many servers made
    outside Kennel writes them in bulk statements: as many queries for 2 servers of each as for 9."""
    for i in range(n):
        made = fake_cloud.create_server(
            project_id=team.openstack_project_id,
            name=f"k{i}",
            image_id=image().cloud_id,
            flavor_id=flavor().cloud_id,
        )
        VmRequestFactory(team=team, owner=member, name=f"k{i}", server_id=made.id, server_status="BUILD")
        fake_cloud.create_server(
            project_id=team.openstack_project_id,
            name=f"by-hand-{i}",
            image_id=image().cloud_id,
            flavor_id=flavor().cloud_id,
        )
    fake_cloud.settle()
    # The claim and its record, the VMs, flavors, unmanaged rows, teams, images, one UPDATE per group
    # of changed fields and one INSERT (per 500 rows).
    with django_assert_max_num_queries(14):
        counts = services.vm_reconcile(full=True)
    assert counts is not None and (counts["updated"], counts["unmanaged"]) == (n, n)
    assert VmRequest.objects.filter(server_status="ACTIVE", server_state="running").count() == n
    assert UnmanagedServer.objects.filter(team=team, status="ACTIVE").count() == n
    assert services.vm_reconcile(full=True) == {
        "listed": 2 * n,
        "updated": 0,
        "vanished": 0,
        "unmanaged": 0,
        "forgotten": 0,
    }


# --- one run at a time -----------------------------------------------------------------------------------


def test_a_run_that_finds_the_part_claimed_does_nothing(fake_cloud):
    services.vm_reconcile()
    CloudSync.objects.filter(part=Part.SERVERS).update(running_since=timezone.now())
    calls = fake_cloud.calls["list_servers"]

    assert services.vm_reconcile() is None
    assert services.hosts_mirror_refresh() is True  # other parts are not held
    assert fake_cloud.calls["list_servers"] == calls


def test_a_claim_left_by_a_dead_worker_is_taken_over(fake_cloud):
    services.vm_reconcile()
    CloudSync.objects.filter(part=Part.SERVERS).update(running_since=timezone.now() - timedelta(minutes=6))

    assert services.vm_reconcile() is not None
    assert servers_sync().running_since is None


def test_a_claim_is_released_whatever_the_run_raises():
    with pytest.raises(ZeroDivisionError), mirror_run(Part.CATALOG) as run:
        assert run is not None
        with mirror_run(Part.CATALOG) as second:
            assert second is None  # held by the first
        1 / 0  # noqa: B018
    row = CloudSync.objects.get(part=Part.CATALOG)
    assert row.running_since is None and row.succeeded_at is None


# --- hosts ---------------------------------------------------------------------------------------------


def test_a_host_disabled_down_or_gone_shows_in_the_mirror(fake_cloud):
    fake_cloud.set_compute_service_enabled("x4", enabled=False, reason="maintenance by hand")
    fake_cloud.set_host_up("x3", False)
    fake_cloud.remove_host("x2")

    assert services.hosts_mirror_refresh()

    hosts = {h.name: h for h in CloudHost.objects.all()}
    assert set(hosts) == {"x3", "x4", "p1"}
    assert (hosts["x4"].status, hosts["x4"].disabled_reason) == ("disabled", "maintenance by hand")
    assert hosts["x3"].state == "down" and not hosts["x3"].schedulable
    assert hosts["p1"].schedulable


def test_placement_details_are_read_again_only_for_providers_whose_generation_moved(fake_cloud, member, team):
    services.hosts_mirror_refresh()
    before = {h.name: (h.generation, h.inventories["VCPU"]["used"]) for h in CloudHost.objects.all()}
    vm = built(member, team, size="m1.medium")

    services.hosts_mirror_refresh()

    after = {h.name: (h.generation, h.inventories["VCPU"]["used"]) for h in CloudHost.objects.all()}
    assert after[vm.host][0] > before[vm.host][0] and after[vm.host][1] == before[vm.host][1] + 2
    assert {n: v for n, v in after.items() if n != vm.host} == {
        n: v for n, v in before.items() if n != vm.host
    }


def test_an_unchanged_estate_costs_no_writes_but_the_freshness(fake_cloud):
    services.hosts_mirror_refresh()
    with CaptureQueriesContext(connection) as queries:
        services.hosts_mirror_refresh()
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))]
    # The claim, the hosts' seen_at in one statement, the delete of nothing, the success.
    assert len(writes) <= 4, writes


# --- catalog and quotas ----------------------------------------------------------------------------------


def test_an_image_or_flavor_removed_in_the_cloud_leaves_the_catalog(fake_cloud):
    doomed = image("ppc64le")
    fake_cloud.delete_image(doomed.cloud_id)
    fake_cloud.remove_flavor("m1.xlarge")

    assert services.catalog_mirror_refresh()

    assert not CloudImage.objects.filter(pk=doomed.pk).exists()
    assert not CloudFlavor.objects.filter(name="m1.xlarge").exists()
    assert CloudSync.objects.get(part=Part.CATALOG).succeeded_at is not None


def test_a_quota_changed_in_nova_or_neutron_arrives_with_the_next_quota_run(fake_cloud, team):
    assert quota_mirror_refresh() == 2
    fake_cloud.set_quotas(team.openstack_project_id, QuotaService.COMPUTE, {"instances": 7})
    fake_cloud.set_quotas(team.openstack_project_id, QuotaService.NETWORK, {"floatingip": 3})

    assert quota_mirror_refresh() == 2

    limits = dict(TeamQuota.objects.filter(team=team).values_list("key", "limit"))
    assert limits["instances"] == 7 and limits["floating_ips"] == 3
    assert CloudSync.objects.get(part=Part.QUOTAS).succeeded_at is not None


def test_a_quiet_quota_run_costs_the_same_queries_with_more_teams(fake_cloud):
    from tests.factories import TeamFactory

    def queries_of_a_quiet_run() -> int:
        quota_mirror_refresh()
        with CaptureQueriesContext(connection) as queries:
            quota_mirror_refresh()
        return len(queries)

    few = queries_of_a_quiet_run()
    for i in range(3):
        project = fake_cloud.create_project(name=f"more-{i}")
        TeamFactory(openstack_project_id=project.id)
    many = queries_of_a_quiet_run()

    assert few == many


# --- pages say how old the data is -----------------------------------------------------------------------


def test_the_vm_pages_say_how_old_the_servers_are_and_mark_servers_not_made_by_kennel(
    client, fake_cloud, member, team
):
    vm = built(member, team)
    fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor().cloud_id,
    )
    fake_cloud.settle()
    client.force_login(member)
    assert "Not read from the cloud yet." in client.get(reverse("provisioning:vm-list")).content.decode()

    services.vm_reconcile()

    page = client.get(reverse("provisioning:vm-list")).content.decode()
    assert "As of 0 s ago." in page or "As of 1 s ago." in page
    assert "by-hand" in page and "not Kennel" in page
    detail = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert 'data-testid="mirror-age"' in detail and " s ago." in detail


def test_the_schedule_leaves_room_within_each_bound(settings):
    """Issue 13's bounds: servers and hosts 60 s, quotas, images and flavors 5 minutes. A period of at
    most a third of the bound leaves a slow run and a queue wait room."""
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["vm-reconcile"]["schedule"] <= timedelta(seconds=20)
    assert schedule["hosts-refresh"]["schedule"] <= timedelta(seconds=20) * 1.5
    assert schedule["catalog-refresh"]["schedule"] <= timedelta(minutes=5) / 2
    assert schedule["quota-sync"]["schedule"] <= timedelta(minutes=5) / 2
    assert all(
        schedule[name]["options"]["expires"] < schedule[name]["schedule"].total_seconds()
        for name in ("vm-reconcile", "hosts-refresh", "catalog-refresh", "quota-sync")
    )


@pytest.mark.django_db(transaction=True)
def test_runs_fired_together_list_the_cloud_once(fake_cloud, member, team, monkeypatch):
    """Beat firing faster than a slow run: the runs that find the servers claimed return at once."""
    import threading
    import time

    from django.db import connections

    built(member, team)
    listing = fake_cloud.list_servers
    listings = []

    def slow_listing(**kwargs):
        listings.append(kwargs)
        time.sleep(0.5)  # a large cloud's listing
        return listing(**kwargs)

    monkeypatch.setattr(fake_cloud, "list_servers", slow_listing)
    results = []

    def run() -> None:
        try:
            results.append(services.vm_reconcile())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r is None for r in results) == [False, True, True, True]
    assert len(listings) == 1 and servers_sync().running_since is None
