"""The onboarding chain, membership changes, offboarding, credentials and orphans, on the FakeCloud."""

from __future__ import annotations

import ipaddress
import threading

import pytest
import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from onboarding import selectors, services, steps
from onboarding.models import CloudAccount, Onboarding, OnboardingStep, SubnetAllocation
from portal.cloud.gateway import CloudRequestError, CloudUnavailable, QuotaService
from portal.models import Membership, Team
from provisioning.models import VmRequest
from quotas.models import QuotaRequest
from tests.factories import TeamFactory, UserFactory, VmRequestFactory
from tests.onboarding.worker import run

State = Onboarding.State


def cloud_state(fake, project_id: str) -> dict:
    """Everything the chain makes, by what it is, for comparing two runs."""
    groups = [g for g in fake.list_security_groups() if g.project_id == project_id]
    return {
        "networks": sorted((n.id, n.name) for n in fake.list_networks(project_id=project_id)),
        "subnets": sorted((s.id, s.cidr) for s in fake.list_subnets(project_id=project_id)),
        "routers": sorted((r.id, r.external_network_id) for r in fake.list_routers(project_id=project_id)),
        "interfaces": sorted(
            i for r in fake.list_routers(project_id=project_id) for i in fake.list_router_interfaces(r.id)
        ),
        "rules": sorted(r.id for g in groups for r in g.rules),
        "roles": sorted((a.user_id, a.role) for a in fake.list_role_assignments(project_id=project_id)),
        "users": sorted(u.id for u in fake.list_users()),
        "compute": fake.get_quotas(project_id, QuotaService.COMPUTE),
        "network_quota": fake.get_quotas(project_id, QuotaService.NETWORK),
    }


def test_onboarding_makes_the_project_accounts_roles_network_router_rules_and_quota(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    assert onboarding.state == State.DONE, onboarding.message
    team = onboarding.team
    project = fake.find_project("gamma")
    assert project is not None and team.openstack_project_id == project.id
    assert project.description.startswith("Kennel team gamma")

    accounts = {a.user.username: a for a in CloudAccount.objects.select_related("user")}
    assert set(accounts) == {"lea", "mem", "tad"} and all(a.created_by_kennel for a in accounts.values())
    roles = {(a.user_id, a.role) for a in fake.list_role_assignments(project_id=project.id)}
    assert roles == {
        (fake.whoami().id, "admin"),
        (accounts["lea"].keystone_user_id, "member"),
        (accounts["mem"].keystone_user_id, "member"),
        (accounts["tad"].keystone_user_id, "admin"),  # a portal admin in the team
    }
    assert fake.find_user("mem").description.startswith("Kennel:")

    (network,) = fake.list_networks(project_id=project.id)
    (subnet,) = fake.list_subnets(project_id=project.id)
    (router,) = fake.list_routers(project_id=project.id)
    assert (network.name, subnet.name, router.name) == ("gamma-net", "gamma-subnet", "gamma-router")
    assert subnet.cidr == "10.64.0.0/24" == SubnetAllocation.objects.get(onboarding=onboarding).cidr
    public = next(n for n in fake.list_networks(external=True) if n.name == "public")
    assert router.external_network_id == public.id
    assert fake.list_router_interfaces(router.id) == [subnet.id]

    (default,) = fake.list_security_groups(project_id=project.id)
    ingress = {
        (r.protocol, r.port_range_min, r.remote_ip_prefix) for r in default.rules if r.remote_ip_prefix
    }
    # SSH and ping from the internal networks only (KENNEL_DEFAULT_INGRESS_FROM), never the internet.
    assert ingress == {
        (proto, port, cidr)
        for cidr in settings.KENNEL_DEFAULT_INGRESS_FROM
        for proto, port in (("tcp", 22), ("icmp", None))
    }
    assert "0.0.0.0/0" not in {prefix for _proto, _port, prefix in ingress}

    compute = fake.get_quotas(project.id, QuotaService.COMPUTE)
    assert (compute["instances"], compute["cores"], compute["ram"]) == (5, 12, 24576)
    assert fake.get_quotas(project.id, QuotaService.NETWORK)["floatingip"] == 3
    request = QuotaRequest.objects.get(team=team)
    # Asked by the admin who onboarded (lower than the defaults: the rules approve it at once).
    assert request.status == QuotaRequest.Status.APPLIED and request.requested_by == crew["admin"]
    assert {s.status for s in onboarding.steps.all()} == {OnboardingStep.Status.DONE}


def test_a_second_run_changes_nothing(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    before = cloud_state(fake, project_id)
    services.onboarding_run_again(actor=crew["admin"], onboarding=onboarding)
    onboarding = run(onboarding)
    assert onboarding.state == State.DONE, onboarding.message
    assert cloud_state(fake, project_id) == before
    assert QuotaRequest.objects.filter(team=onboarding.team).count() == 1  # nothing new to ask


def test_run_again_repairs_a_deleted_rule(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    (group,) = fake.list_security_groups(project_id=project_id)
    ssh = next(r for r in group.rules if r.protocol == "tcp")
    fake.delete_security_group_rule(ssh.id)
    services.onboarding_run_again(actor=crew["admin"], onboarding=onboarding)
    run(onboarding)
    (group,) = fake.list_security_groups(project_id=project_id)
    assert any(r.protocol == "tcp" and r.port_range_min == 22 for r in group.rules)


def test_a_refusal_mid_chain_fails_the_step_and_a_retry_resumes_to_the_same_end(fake, onboard, crew):
    fake.fail_next("create_router", CloudRequestError("Bad router request: no room"))
    onboarding = run(onboard("gamma"))
    assert onboarding.state == State.FAILED
    router_step = onboarding.steps.get(name=OnboardingStep.Name.ROUTER)
    assert router_step.status == OnboardingStep.Status.FAILED
    assert "no room" in onboarding.message and "Retry" in onboarding.message
    # Stored as message ids (the step's name, the cloud's words inside): read in Chinese, said in Chinese.
    from django.utils import translation

    with translation.override("zh-hans"):
        chinese = (onboarding.message_text, router_step.message_text)
        step_name = str(OnboardingStep.Name.ROUTER.label)
    assert chinese[0] == chinese[1] and "Bad router request: no room" in chinese[0]
    assert step_name in chinese[0] and "Retry" not in chinese[0] and "failed" not in chinese[0]
    network_id = onboarding.steps.get(name=OnboardingStep.Name.NETWORK).resources["network_id"]

    services.onboarding_retry(actor=crew["admin"], onboarding=onboarding)
    onboarding = run(onboarding)
    assert onboarding.state == State.DONE, onboarding.message
    project_id = onboarding.team.openstack_project_id
    assert [n.id for n in fake.list_networks(project_id=project_id)] == [network_id]  # not made twice
    assert len(fake.list_routers(project_id=project_id)) == 1
    assert len(fake.list_projects()) == 5  # admin, service, alpha, beta and gamma


def test_a_lost_answer_is_found_again_not_made_twice(fake, onboard):
    # The router is made but the answer is lost (a timeout): the step waits for the cloud ...
    fake.fail_next("create_router", after=True)
    onboarding = onboard("gamma")
    with pytest.raises(CloudUnavailable):
        services.onboarding_advance(onboarding_id=onboarding.pk)
    onboarding.refresh_from_db()
    assert onboarding.state == State.RUNNING and "Waiting for the cloud" in onboarding.message
    # ... and the next attempt finds it by name.
    onboarding = run(onboarding)
    assert onboarding.state == State.DONE
    assert len(fake.list_routers(project_id=onboarding.team.openstack_project_id)) == 1


def test_a_project_kennel_did_not_make_is_not_taken_over(fake, onboard):
    fake.create_project(name="gamma", description="made by hand")
    onboarding = run(onboard("gamma"))
    assert onboarding.state == State.FAILED
    assert "already has a project named gamma" in onboarding.message
    assert onboarding.team.openstack_project_id == ""


def test_an_existing_keystone_user_of_the_same_name_is_mapped_not_created(fake, onboard, crew):
    existing = fake.create_user(name="mem")
    onboarding = run(onboard("gamma"))
    account = CloudAccount.objects.get(user=crew["member"])
    assert (account.keystone_user_id, account.created_by_kennel) == (existing.id, False)
    assert (existing.id, "member") in {
        (a.user_id, a.role)
        for a in fake.list_role_assignments(project_id=onboarding.team.openstack_project_id)
    }


def test_the_portal_user_is_never_handed_to_a_member(fake, onboard, crew):
    onboarding = run(onboard("gamma", members=[UserFactory(username="admin")]))
    assert onboarding.state == State.FAILED and "portal's own cloud user" in onboarding.message


# --- subnet ranges ----------------------------------------------------------------------------------


def test_a_range_overlapping_a_subnet_in_the_cloud_or_another_team_is_skipped(fake, onboard, settings):
    settings.KENNEL_TENANT_CIDR_POOL = "10.10.0.0/22"  # alpha has 10.10.0.0/24 in the cloud
    first = run(onboard("gamma"))
    second = run(onboard("delta"))
    assert first.subnet_allocation.cidr == "10.10.1.0/24"
    assert second.subnet_allocation.cidr == "10.10.2.0/24"


def test_a_used_up_pool_fails_with_what_to_do(fake, onboard, settings):
    settings.KENNEL_TENANT_CIDR_POOL = "10.20.0.0/24"  # exactly beta's subnet
    onboarding = run(onboard("gamma"))
    assert onboarding.state == State.FAILED
    assert "used up" in onboarding.message and "widens the teams' subnet pool" in onboarding.message


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_overlap(fake, crew):
    """Twenty chains ask for a range at once, on real PostgreSQL, each on its own connection."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's locks")
    onboardings = [
        Onboarding.objects.create(team=TeamFactory(slug=f"t{i}"), requested_by=crew["admin"])
        for i in range(20)
    ]
    barrier = threading.Barrier(len(onboardings))
    errors: list[BaseException] = []

    def allocate(onboarding):
        try:
            barrier.wait()
            steps.subnet_allocate(onboarding=onboarding)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(o,)) for o in onboardings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ranges = [ipaddress.ip_network(c) for c in SubnetAllocation.objects.values_list("cidr", flat=True)]
    assert len(ranges) == 20
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


# --- membership changes -----------------------------------------------------------------------------


def test_removing_a_member_revokes_the_role_and_deletes_the_account_kennel_made(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    account = CloudAccount.objects.get(user=crew["member"])
    services.team_member_remove(actor=crew["admin"], team=onboarding.team, user=crew["member"])
    assert services.team_roles_sync_run(team_id=onboarding.team.pk) == services.Advance.DONE
    roles = {a.user_id for a in fake.list_role_assignments(project_id=project_id)}
    assert account.keystone_user_id not in roles
    assert fake.find_user("mem") is None and not CloudAccount.objects.filter(pk=account.pk).exists()


def test_adding_a_member_gives_the_role(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    newcomer = UserFactory(username="newbie")
    services.team_member_set(
        actor=crew["admin"], team=onboarding.team, user=newcomer, level=Membership.Level.MEMBER
    )
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    newbie = fake.find_user("newbie")
    assert (newbie.id, "member") in {
        (a.user_id, a.role)
        for a in fake.list_role_assignments(project_id=onboarding.team.openstack_project_id)
    }
    onboarding.refresh_from_db()
    assert onboarding.roles_synced_at is not None and onboarding.roles_message == ""


def test_a_member_in_two_teams_keeps_the_account_when_leaving_one(fake, onboard, crew):
    first = run(onboard("gamma"))
    run(onboard("delta", members=[crew["member"]], leads=[]))
    services.team_member_remove(actor=crew["admin"], team=first.team, user=crew["member"])
    services.team_roles_sync_run(team_id=first.team.pk)
    assert fake.find_user("mem") is not None


def test_a_role_sync_refusal_lands_on_the_row(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    fake.fail_next("assign_role", CloudRequestError("role refused"))
    services.team_member_set(
        actor=crew["admin"], team=onboarding.team, user=UserFactory(username="x1"), level="member"
    )
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    onboarding.refresh_from_db()
    assert "role refused" in onboarding.roles_message


def test_the_role_sync_and_password_messages_are_shown_in_the_readers_language(fake, onboard, crew):
    from django.utils import translation

    onboarding = run(onboard("gamma"))
    services.team_roles_sync_give_up(team_id=onboarding.team.pk, error="connection refused")
    onboarding.refresh_from_db()
    assert onboarding.roles_message_text == (
        "The cloud stayed unreachable while updating roles: connection refused"
    )
    account = CloudAccount.objects.filter(user=crew["member"]).first()
    assert account is not None
    CloudAccount.objects.filter(pk=account.pk).update(password_state=CloudAccount.Password.SETTING)
    services.cloud_password_give_up(account_id=account.pk, error="Keystone said no.")
    account.refresh_from_db()
    assert (
        account.password_message_text == "The password could not be set: Keystone said no. Ask for a new one."
    )
    with translation.override("zh-hans"):
        roles, password = onboarding.roles_message_text, account.password_message_text
    assert "connection refused" in roles and not roles.startswith("The cloud")
    assert "Keystone said no." in password and not password.startswith("The password")


# --- offboarding ------------------------------------------------------------------------------------


def make_vm(fake, onboarding, owner) -> VmRequest:
    image = next(i for i in fake.list_images() if i.name == "cirros-0.6-x86_64")
    size = next(f for f in fake.list_flavors() if f.name == "m1.tiny")
    network_id = onboarding.steps.get(name=OnboardingStep.Name.NETWORK).resources["network_id"]
    server = fake.create_server(
        project_id=onboarding.team.openstack_project_id,
        name="vm1",
        image_id=image.id,
        flavor_id=size.id,
        network_id=network_id,
        metadata={"kennel-request": "1"},
    )
    fake.settle()
    return VmRequestFactory(
        team=onboarding.team,
        owner=owner,
        name="vm1",
        image_name=image.name,
        flavor_name=size.name,
        server_id=server.id,
    )


def test_offboarding_refuses_without_the_typed_name_and_lists_the_vms(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    make_vm(fake, onboarding, crew["member"])
    with pytest.raises(ValidationError, match="vm1"):
        services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="")
    onboarding.refresh_from_db()
    assert onboarding.state == State.DONE


def test_offboarding_deletes_the_vms_and_everything_the_chain_made(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    team = onboarding.team
    project_id = team.openstack_project_id
    vm = make_vm(fake, onboarding, crew["member"])
    public = next(n for n in fake.list_networks(external=True) if n.name == "public")
    fip = fake.create_floating_ip(project_id=project_id, external_network_id=public.id)
    fake.attach_floating_ip(floating_ip_id=fip.id, server_id=vm.server_id)
    users_before = {u.name for u in fake.list_users()}

    services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="gamma")
    onboarding = run(onboarding, rounds=50)
    assert onboarding.state == State.OFFBOARDED, onboarding.message
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETED
    assert fake.find_project(project_id) is None
    assert fake.list_servers(project_id=project_id) == []
    assert fake.list_floating_ips(project_id=project_id) == []
    assert fake.list_routers(project_id=project_id) == [] and fake.list_networks(project_id=project_id) == []
    assert fake.list_subnets(project_id=project_id) == [] and fake.list_ports(project_id=project_id) == []
    assert [g for g in fake.list_security_groups() if g.project_id == project_id] == []
    assert users_before - {u.name for u in fake.list_users()} == {"lea", "mem", "tad"}
    assert not SubnetAllocation.objects.exists() and not CloudAccount.objects.exists()
    team.refresh_from_db()
    assert team.openstack_project_id == "" and not team.memberships.exists()
    assert services.cloud_orphans_find() == []


def test_a_locked_vm_goes_with_its_offboarded_team_and_says_why(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    vm = make_vm(fake, onboarding, crew["member"])
    VmRequest.objects.filter(pk=vm.pk).update(locked=True)  # its owner's lock is no reason to keep it
    services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="gamma")
    onboarding = run(onboarding, rounds=50)
    assert onboarding.state == State.OFFBOARDED, onboarding.message
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETED
    said = [event.text for event in vm.events.all()]
    assert f"Deleted with its team, which {crew['admin'].username} offboarded." in said


def test_a_team_linked_to_an_existing_project_is_not_offboarded(fake, crew):
    team = TeamFactory(slug="alpha", openstack_project_id=fake.find_project("alpha").id)
    assert not Onboarding.objects.filter(team=team).exists()  # nothing of it was made by Kennel


# --- credentials ------------------------------------------------------------------------------------


def test_credentials_name_the_project_and_user_and_hold_no_password(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    credentials = selectors.cloud_credentials(user=crew["member"], slug="gamma")
    clouds = yaml.safe_load(credentials.clouds_yaml())["clouds"]["kennel-gamma"]
    assert clouds["auth"] == {
        "auth_url": "http://127.0.0.1:5000/v3",
        "username": "mem",
        "user_domain_name": "Default",
        "project_id": onboarding.team.openstack_project_id,
        "project_name": "gamma",
        "project_domain_name": "Default",
    }
    openrc = credentials.openrc()
    assert "export OS_USERNAME=mem" in openrc and "read -rs OS_PASSWORD" in openrc
    assert "password" not in yaml.safe_dump(clouds).lower()
    with pytest.raises(Team.DoesNotExist):
        selectors.cloud_credentials(user=UserFactory(username="stranger"), slug="gamma")


def test_a_new_password_is_set_in_keystone_and_shown_once(fake, onboard, crew):
    run(onboard("gamma"))
    member = crew["member"]
    services.cloud_password_reset(actor=member)
    account = CloudAccount.objects.get(user=member)
    assert account.password_state == CloudAccount.Password.SETTING and account.password_ciphertext
    services.cloud_password_apply_run(account_id=account.pk)
    password = services.cloud_password_reveal(actor=member)
    assert fake.password_of(account.keystone_user_id) == password and len(password) >= 20
    account.refresh_from_db()
    assert account.password_ciphertext == "" and account.password_state == CloudAccount.Password.SHOWN
    with pytest.raises(ValidationError, match="no new password"):
        services.cloud_password_reveal(actor=member)


def test_a_mapped_account_gets_no_password_from_kennel(fake, onboard, crew):
    fake.create_user(name="mem")
    run(onboard("gamma"))
    with pytest.raises(ValidationError, match="existed before Kennel"):
        services.cloud_password_reset(actor=crew["member"])


# --- orphans ----------------------------------------------------------------------------------------


def test_orphans_are_found_with_their_reason(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    fake.create_user(name="lost", description="Kennel: portal user lost")
    gone = fake.create_project(name="gone")
    fake.create_network(project_id=gone.id, name="left-behind")
    fake.delete_project(gone.id)
    stranger = fake.create_user(name="stranger")
    fake.assign_role(user_id=stranger.id, project_id=onboarding.team.openstack_project_id, role="member")
    found = {(f["kind"], f["name"]) for f in services.cloud_orphans_find()}
    assert found == {
        ("user", "lost"),
        ("network", "left-behind"),
        ("security_group", "default"),
        ("role_assignment", "member"),
    }


def test_a_floating_ip_attached_to_nothing_is_an_orphan_naming_its_team(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    public = fake.list_networks(external=True)[0]
    leaked = fake.create_floating_ip(
        project_id=onboarding.team.openstack_project_id, external_network_id=public.id
    )
    found = [f for f in services.cloud_orphans_find() if f["kind"] == "floating_ip"]
    assert found == [
        {
            "kind": "floating_ip",
            "id": leaked.id,
            "name": leaked.address,
            "project_id": onboarding.team.openstack_project_id,
            "reason": "allocated and attached to nothing (no port); it counts against team gamma's quota",
        }
    ]
    fake.delete_floating_ip(leaked.id)
    assert [f for f in services.cloud_orphans_find() if f["kind"] == "floating_ip"] == []


def test_a_member_made_portal_admin_gets_the_admin_role_and_back(
    fake, onboard, crew, django_capture_on_commit_callbacks, monkeypatch
):
    from onboarding import tasks
    from portal.services import user_set_role

    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    synced = []
    monkeypatch.setattr(tasks.team_roles_sync, "delay", lambda team_id: synced.append(team_id))
    with django_capture_on_commit_callbacks(execute=True):
        user_set_role(actor=crew["admin"], user=crew["member"], role="admin")
    assert synced == [onboarding.team.pk]  # the hook asked a worker
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    mem = CloudAccount.objects.get(user=crew["member"]).keystone_user_id
    roles = {(a.user_id, a.role) for a in fake.list_role_assignments(project_id=project_id)}
    assert (mem, "admin") in roles and (mem, "member") not in roles
    crew["member"].refresh_from_db()
    user_set_role(actor=crew["admin"], user=crew["member"], role="developer")
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    roles = {(a.user_id, a.role) for a in fake.list_role_assignments(project_id=project_id)}
    assert (mem, "member") in roles and (mem, "admin") not in roles


def test_a_half_onboarded_team_is_offboarded_without_a_project(fake, onboard, crew):
    fake.fail_next("create_project", CloudRequestError("Keystone is read-only"))
    onboarding = run(onboard("gamma"))
    assert onboarding.state == State.FAILED
    services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="gamma")
    onboarding = run(onboarding)
    assert onboarding.state == State.OFFBOARDED, onboarding.message
    assert fake.find_project("gamma") is None and not onboarding.team.memberships.exists()


def test_a_failed_offboarding_retry_removes_what_appeared_meanwhile(fake, onboard, crew):
    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    fake.fail_next("delete_project", CloudRequestError("Keystone said no"))
    services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="gamma")
    onboarding = run(onboarding)
    assert onboarding.state == State.OFFBOARD_FAILED and "Keystone said no" in onboarding.message
    # A VM made after the servers step had run (a request accepted meanwhile).
    image = next(i for i in fake.list_images() if i.name == "cirros-0.6-x86_64")
    fake.create_server(
        project_id=project_id, name="late", image_id=image.id, flavor_id=fake.list_flavors()[0].id
    )
    services.onboarding_retry(actor=crew["admin"], onboarding=onboarding)
    onboarding = run(onboarding, rounds=50)
    assert onboarding.state == State.OFFBOARDED, onboarding.message
    assert fake.find_project(project_id) is None and fake.list_servers(project_id=project_id) == []


@pytest.mark.parametrize("state", [State.QUEUED, State.RUNNING, State.OFFBOARDED])
def test_only_a_finished_or_failed_onboarding_can_be_offboarded(onboard, crew, state):
    onboarding = onboard("gamma")
    Onboarding.objects.filter(pk=onboarding.pk).update(state=state)
    with pytest.raises(ValidationError, match="only an onboarded team"):
        services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="gamma")
    with pytest.raises(ValidationError):
        services.onboarding_retry(actor=crew["admin"], onboarding=onboarding)


def test_only_admins_start_chains(onboard, crew):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.team_onboard(actor=crew["lead"], name="Delta", slug="delta")
    onboarding = onboard("gamma")
    with pytest.raises(PermissionDenied):
        services.team_offboard(actor=crew["lead"], onboarding=onboarding, confirm="gamma")


def test_a_finished_orphan_check_keeps_the_last_twenty(fake):
    for _ in range(25):
        check = services.orphan_check_request(actor=None)
        services.orphan_check_run_now(check_id=check.pk)
    from onboarding.models import OrphanCheck

    assert OrphanCheck.objects.count() == 20
    assert OrphanCheck.objects.first().state == OrphanCheck.State.DONE


def test_a_deactivated_member_loses_the_projects_role_and_gets_it_back_when_let_in(
    fake, onboard, crew, django_capture_on_commit_callbacks, monkeypatch
):
    from onboarding import tasks
    from portal.services import user_set_active

    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    synced = []
    monkeypatch.setattr(tasks.team_roles_sync, "delay", lambda team_id: synced.append(team_id))
    with django_capture_on_commit_callbacks(execute=True):
        user_set_active(actor=crew["admin"], user=crew["member"], active=False)
    assert synced == [onboarding.team.pk]  # the hook asked a worker
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    assert fake.find_user("mem") is None or "mem" not in {
        fake.find_user(a.user_id).name for a in fake.list_role_assignments(project_id=project_id)
    }
    user_set_active(actor=crew["admin"], user=crew["member"], active=True)
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    mem = CloudAccount.objects.get(user=crew["member"]).keystone_user_id
    assert (mem, "member") in {(a.user_id, a.role) for a in fake.list_role_assignments(project_id=project_id)}
