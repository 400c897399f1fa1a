"""The steps of the onboarding and offboarding chains, and what they share with membership changes:
members' cloud accounts and roles, and the team's subnet range. ``onboarding.services`` runs them.

Each step is idempotent. It looks for what it makes by the id it recorded, else by the name it gives
(a lost answer), before making anything, and records ids at once (``record``) so the next attempt finds
them. A step raises ``StepRefused`` with what to do when it cannot succeed as things are, ``NotYet``
while the cloud finishes something, and lets the gateway's errors through (the runner sorts them).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

# What a worker writes on a row is in the portal's default language (LANGUAGE_CODE): it has no reader.
from django.utils.translation import gettext as _

from onboarding import stored_messages as texts
from onboarding.models import CloudAccount, Onboarding, OnboardingStep, SecurityRule, SubnetAllocation
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError
from portal.models import Membership, Team, User
from portal.origin import WORKER
from portal.services import membership_remove
from portal.stored_messages import StoredMessage

State = Onboarding.State
Name = OnboardingStep.Name
Phase = OnboardingStep.Phase

# Descriptions that mark what Kennel made, so a lost answer and the orphan check recognise it.
USER_MARKER = "Kennel:"
PROJECT_MARKER = "Kennel team"
MEMBER_ROLE, ADMIN_ROLE = "member", "admin"
# States in which a team's members need their cloud accounts.
ACCOUNT_STATES = (State.QUEUED, State.RUNNING, State.DONE, State.FAILED)


class _Said(Exception):
    """An outcome of a step with its ``message`` (``str()``: in English, as the audit log keeps it)."""

    def __init__(self, message: StoredMessage) -> None:
        super().__init__(message.english())
        self.message = message


class StepRefused(_Said):
    """A step cannot succeed as things are; its message says why and what to do."""


class NotYet(_Said):
    """The step waits for the cloud to finish something (VMs being deleted); look again shortly."""


def record(step: OnboardingStep, **resources: Any) -> None:
    """Save what the step made (ids) at once, before anything else can fail."""
    step.resources = {**step.resources, **resources}
    step.save(update_fields=["resources"])


# --- onboarding steps --------------------------------------------------------------------------------


def _resource(onboarding: Onboarding, name: str, key: str) -> str:
    step = onboarding.steps.get(phase=Phase.ONBOARD, name=name)
    value = step.resources.get(key)
    if not value:
        raise StepRefused(texts.NO_RESOURCE(step=texts.STEP_NAMES[step.name](), key=key))
    return str(value)


def _project_id(onboarding: Onboarding) -> str:
    return _resource(onboarding, Name.PROJECT, "project_id")


def _project_description(team: Team) -> str:
    return f"{PROJECT_MARKER} {team.slug}: {team.name}"[:255]


def _step_project(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    team = onboarding.team
    recorded = step.resources.get("project_id")
    project = gateway.find_project(recorded) if recorded else None
    if project is None:
        found = gateway.find_project(team.slug)
        if found is not None:
            ours = step.resources.get("creating") == team.slug or found.description.startswith(
                f"{PROJECT_MARKER} {team.slug}:"
            )
            if not ours:
                raise StepRefused(texts.PROJECT_NAME_TAKEN(name=team.slug))
            project = found
        else:
            record(step, creating=team.slug)
            project = gateway.create_project(name=team.slug, description=_project_description(team))
    record(step, project_id=project.id, project_name=project.name)
    access = gateway.access_info()
    Onboarding.objects.filter(pk=onboarding.pk).update(
        auth_url=settings.KENNEL_CLOUD_PUBLIC_AUTH_URL or access.auth_url,
        region_name=access.region_name or "",
        interface=access.interface or "",
    )
    if team.openstack_project_id != project.id:
        team.openstack_project_id = project.id
        team.full_clean()
        team.save(update_fields=["openstack_project_id"])


def _step_portal_access(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    me = gateway.whoami()
    gateway.assign_role(user_id=me.id, project_id=_project_id(onboarding), role=ADMIN_ROLE)
    record(step, user_id=me.id, user_name=me.name, role=ADMIN_ROLE)


def _step_members(onboarding: Onboarding, step: OnboardingStep) -> None:
    result = team_cloud_roles_sync(team=onboarding.team)
    record(step, **result)
    Onboarding.objects.filter(pk=onboarding.pk).update(roles_synced_at=timezone.now(), roles_message="")


def _step_network(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    project_id = _project_id(onboarding)
    name = f"{onboarding.team.slug}-net"
    networks = [n for n in gateway.list_networks(project_id=project_id) if not n.external]
    network = next((n for n in networks if n.id == step.resources.get("network_id")), None) or next(
        (n for n in networks if n.name == name), None
    )
    if network is None:
        network = gateway.create_network(project_id=project_id, name=name)
    record(step, network_id=network.id, name=network.name)


def _step_subnet(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    network_id = _resource(onboarding, Name.NETWORK, "network_id")
    name = f"{onboarding.team.slug}-subnet"
    subnets = gateway.list_subnets(network_id=network_id)
    subnet = next((s for s in subnets if s.id == step.resources.get("subnet_id")), None) or next(
        (s for s in subnets if s.name == name), None
    )
    if subnet is None:
        allocation = subnet_allocate(onboarding=onboarding)
        record(step, cidr=allocation.cidr)
        subnet = gateway.create_subnet(
            network_id=network_id,
            name=name,
            cidr=allocation.cidr,
            dns_nameservers=tuple(settings.KENNEL_TENANT_DNS),
        )
    record(step, subnet_id=subnet.id, cidr=subnet.cidr, gateway_ip=subnet.gateway_ip)


def _step_router(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    project_id = _project_id(onboarding)
    wanted = settings.KENNEL_EXTERNAL_NETWORK
    external = next(
        (n for n in gateway.list_networks(external=True) if wanted in (n.name, n.id)),
        None,
    )
    if external is None:
        raise StepRefused(texts.NO_EXTERNAL_NETWORK(name=wanted))
    name = f"{onboarding.team.slug}-router"
    routers = gateway.list_routers(project_id=project_id)
    router = next((r for r in routers if r.id == step.resources.get("router_id")), None) or next(
        (r for r in routers if r.name == name), None
    )
    if router is None:
        router = gateway.create_router(project_id=project_id, name=name, external_network_id=external.id)
    record(step, router_id=router.id, name=router.name, external_network_id=external.id)
    if router.external_network_id != external.id:
        raise StepRefused(texts.ROUTER_WITHOUT_GATEWAY(router=router.name, network=external.name))


def _step_router_interface(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    router_id = _resource(onboarding, Name.ROUTER, "router_id")
    subnet_id = _resource(onboarding, Name.SUBNET, "subnet_id")
    if subnet_id not in gateway.list_router_interfaces(router_id):
        gateway.add_router_interface(router_id=router_id, subnet_id=subnet_id)
    record(step, router_id=router_id, subnet_id=subnet_id)


def _step_security_group(onboarding: Onboarding, step: OnboardingStep) -> None:
    """SSH and ICMP into the team's VMs from KENNEL_DEFAULT_INGRESS_FROM (``default_ingress_rules``),
    in the project's default group; mirrored at once so the team page lists them."""
    from onboarding.security_rules import default_ingress_rules, security_group_rule_ensure

    project_id = _project_id(onboarding)
    rule_ids: list[str] = []
    for protocol, low, high, cidr in default_ingress_rules():
        wanted = SecurityRule(
            team=onboarding.team, protocol=protocol, port_min=low, port_max=high, remote_cidr=cidr
        )
        wanted.full_clean(exclude=["team", "requested_by"])  # sets the IP version from the network
        try:
            made = security_group_rule_ensure(project_id=project_id, rule=wanted)
        except CloudRequestError as error:
            if "default security group" in str(error):
                raise StepRefused(texts.NO_DEFAULT_SECURITY_GROUP()) from None
            raise
        rule_ids.append(made.id)
        record(step, security_group_id=made.security_group_id, rule_ids=rule_ids)
        SecurityRule.objects.update_or_create(
            cloud_id=made.id,
            defaults={
                "team": onboarding.team,
                "security_group_id": made.security_group_id,
                "protocol": protocol,
                "port_min": low,
                "port_max": high,
                "ethertype": wanted.ethertype,
                "remote_cidr": wanted.remote_cidr,
                "state": SecurityRule.State.ACTIVE,
                "seen_at": timezone.now(),
            },
        )


def _step_quota(onboarding: Onboarding, step: OnboardingStep) -> None:
    from quotas.dimensions import dimension
    from quotas.models import QuotaRequest
    from quotas.selectors import team_quota_table
    from quotas.services import (
        ApplyOutcome,
        quota_request_apply,
        quota_request_approve,
        quota_request_retry,
        quota_request_submit,
        quota_sync,
    )

    team = onboarding.team
    if not onboarding.quota_values:
        record(step, skipped=_("no quota template: the cloud's defaults stay"))
        return
    actor = onboarding.requested_by
    request_id = step.resources.get("request_id")
    request = QuotaRequest.objects.filter(pk=request_id).first() if request_id else None
    finished = (QuotaRequest.Status.APPLIED, QuotaRequest.Status.REJECTED, QuotaRequest.Status.CANCELLED)
    if request is not None and request.status in finished:
        # Applied before (a second run: look whether the limits drifted) or withdrawn: compare afresh.
        request = None
    if request is None:
        gateway = cloud()
        available = gateway.services()
        quota_sync(team_ids=[team.pk])  # the new project's limits, as the request is checked against them
        current = {line.dimension.key: line.limit for line in team_quota_table(team).lines}
        wanted: dict[str, int] = {}
        skipped = []
        for key, value in onboarding.quota_values.items():
            service = dimension(key).service
            if service is not None and service not in available:
                skipped.append(key)  # e.g. volume storage on a cloud without Cinder
            elif current.get(key) != value:
                wanted[key] = int(value)
        if not wanted:
            record(step, request_id=None, unchanged=True, skipped=skipped)
            return
        template = onboarding.quota_template.name if onboarding.quota_template else "-"
        request = quota_request_submit(
            actor=actor,
            team=team,
            values=wanted,
            reason=f"Onboarding of team {team.slug}: quota template {template}",
            source=WORKER,
        )
        record(step, request_id=request.pk, values=wanted, skipped=skipped)
        if request.status in QuotaRequest.UNDECIDED:
            quota_request_approve(
                actor=actor, request=request, comment="Quota template applied by onboarding.", source=WORKER
            )
    request.refresh_from_db()
    if request.status == QuotaRequest.Status.FAILED:
        quota_request_retry(actor=actor, request=request, source=WORKER)
    applicable = request.status in (QuotaRequest.Status.APPROVED, QuotaRequest.Status.APPLYING)
    if applicable and quota_request_apply(request_id=request.pk) == ApplyOutcome.BUSY:
        raise NotYet(texts.QUOTA_CHANGE_WAITING())
    request.refresh_from_db()
    if request.status == QuotaRequest.Status.APPLIED:
        record(step, applied=request.approved_values)
        return
    raise StepRefused(
        texts.QUOTA_REQUEST_NOT_APPLIED(
            id=request.pk, status=str(request.get_status_display()), error=request.error or ""
        )
    )


# --- offboarding steps -------------------------------------------------------------------------------


def _offboard_project_id(onboarding: Onboarding) -> str | None:
    step = onboarding.steps.filter(phase=Phase.ONBOARD, name=Name.PROJECT).first()
    recorded = step.resources.get("project_id") if step else None
    return recorded or onboarding.team.openstack_project_id or None


def _step_servers(onboarding: Onboarding, step: OnboardingStep) -> None:
    from provisioning import stored_messages as vm_texts
    from provisioning.models import VmRequest
    from provisioning.services import vm_delete_advance, vm_retire

    team = onboarding.team
    actor = onboarding.offboard_requested_by
    assert actor is not None
    project_id = _offboard_project_id(onboarding)
    Status = VmRequest.Status
    deleted = list(step.resources.get("deleted", []))
    for vm in VmRequest.objects.filter(team=team).exclude(status=Status.DELETED):
        if vm.status != Status.DELETING:
            # Everything goes, locked or kept by a team service: the typed confirmation covers it.
            reason = vm_texts.OFFBOARDED(user=actor.get_username())
            vm = vm_retire(vm=vm, reason=reason, source=WORKER, actor=actor)
        if vm.status == Status.DELETING:
            vm_delete_advance(request_id=vm.pk)  # the provisioning task does the same; either is fine
        if vm.name not in deleted:
            deleted.append(vm.name)
    if project_id:
        gateway = cloud()
        kennel_servers = set(VmRequest.objects.filter(team=team).values_list("server_id", flat=True))
        for server in gateway.list_servers(project_id=project_id):
            if server.id in kennel_servers or server.task_state == "deleting":
                continue
            try:
                gateway.delete_server(server.id)  # made outside Kennel; the typed confirmation covers it
            except CloudNotFound:
                continue
            if server.name not in deleted:
                deleted.append(server.name)
    record(step, deleted=deleted)
    left = list(
        VmRequest.objects.filter(team=team).exclude(status=Status.DELETED).values_list("name", flat=True)
    )
    if project_id:
        left += [s.name for s in cloud().list_servers(project_id=project_id) if s.name not in left]
    if left:
        raise NotYet(texts.VMS_BEING_DELETED(count=len(left), names=", ".join(sorted(left))))


def _step_floating_ips(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    released = []
    if project_id:
        gateway = cloud()
        for fip in gateway.list_floating_ips(project_id=project_id):
            with contextlib.suppress(CloudNotFound):
                gateway.delete_floating_ip(fip.id)
            released.append(fip.address)
    record(step, released=released)


def _step_routers(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed = []
    if project_id:
        gateway = cloud()
        for router in gateway.list_routers(project_id=project_id):
            for subnet_id in gateway.list_router_interfaces(router.id):
                with contextlib.suppress(CloudNotFound):
                    gateway.remove_router_interface(router_id=router.id, subnet_id=subnet_id)
            with contextlib.suppress(CloudNotFound):
                gateway.delete_router(router.id)
            removed.append(router.id)
    record(step, removed=removed)


def _step_networks(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed: dict[str, list[str]] = {"subnets": [], "networks": []}
    if project_id:
        gateway = cloud()
        for network in gateway.list_networks(project_id=project_id):
            if network.external:
                continue
            for subnet in gateway.list_subnets(network_id=network.id):
                with contextlib.suppress(CloudNotFound):
                    gateway.delete_subnet(subnet.id)
                removed["subnets"].append(subnet.cidr)
            with contextlib.suppress(CloudNotFound):
                gateway.delete_network(network.id)
            removed["networks"].append(network.id)
    record(step, **removed)


def _step_security_groups(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed = []
    if project_id:
        gateway = cloud()
        # Listed for every project: asking for this one would make Neutron create its default again.
        for group in gateway.list_security_groups():
            if group.project_id != project_id:
                continue
            with contextlib.suppress(CloudNotFound):
                gateway.delete_security_group(group.id)
            removed.append(group.id)
    record(step, removed=removed)


def _step_accounts(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    gateway = cloud()
    accounts = list(
        CloudAccount.objects.filter(user__memberships__team=onboarding.team).exclude(keystone_user_id="")
    )
    revoked = []
    if project_id and gateway.find_project(project_id) is not None:
        mine = {a.keystone_user_id for a in accounts}
        for assignment in gateway.list_role_assignments(project_id=project_id):
            if assignment.user_id in mine:
                with contextlib.suppress(CloudNotFound):
                    gateway.revoke_role(
                        user_id=assignment.user_id, project_id=project_id, role=assignment.role
                    )
                revoked.append([assignment.user_id, assignment.role])
    deleted = accounts_release(accounts, leaving=onboarding.team)
    record(step, revoked=revoked, deleted_users=deleted)


def _step_project_delete(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    if not project_id:
        record(step, deleted=None)
        return
    left = project_leftovers(project_id)
    if left:
        raise StepRefused(texts.PROJECT_NOT_EMPTY(left="; ".join(left)))
    with contextlib.suppress(CloudNotFound):
        cloud().delete_project(project_id)
    record(step, deleted=project_id)


def project_leftovers(project_id: str) -> list[str]:
    """What the cloud still has in the project, one line per kind (empty: nothing)."""
    gateway = cloud()
    kinds: list[tuple[str, list[Any]]] = [
        ("servers", gateway.list_servers(project_id=project_id)),
        ("floating IPs", gateway.list_floating_ips(project_id=project_id)),
        ("routers", gateway.list_routers(project_id=project_id)),
        ("networks", [n for n in gateway.list_networks(project_id=project_id) if not n.external]),
        ("subnets", gateway.list_subnets(project_id=project_id)),
        ("ports", gateway.list_ports(project_id=project_id)),
        ("security groups", [g for g in gateway.list_security_groups() if g.project_id == project_id]),
    ]
    return [
        f"{kind} {', '.join(getattr(item, 'name', '') or item.id for item in items)}"
        for kind, items in kinds
        if items
    ]


def _step_release(onboarding: Onboarding, step: OnboardingStep) -> None:
    from quotas.models import TeamQuota

    team = onboarding.team
    actor = onboarding.offboard_requested_by
    assert actor is not None
    with transaction.atomic():
        released = (
            SubnetAllocation.objects.filter(onboarding=onboarding).values_list("cidr", flat=True).first()
        )
        SubnetAllocation.objects.filter(onboarding=onboarding).delete()
        TeamQuota.objects.filter(team=team).delete()
        members = [m.user for m in team.memberships.select_related("user")]
        for user in members:
            membership_remove(actor=actor, team=team, user=user, source=WORKER)
        if team.openstack_project_id:
            team.openstack_project_id = ""
            team.save(update_fields=["openstack_project_id"])
    record(step, cidr=released, members=sorted(u.username for u in members))


ONBOARD_RUNNERS: dict[str, Callable[[Onboarding, OnboardingStep], None]] = {
    Name.PROJECT: _step_project,
    Name.PORTAL_ACCESS: _step_portal_access,
    Name.MEMBERS: _step_members,
    Name.NETWORK: _step_network,
    Name.SUBNET: _step_subnet,
    Name.ROUTER: _step_router,
    Name.ROUTER_INTERFACE: _step_router_interface,
    Name.SECURITY_GROUP: _step_security_group,
    Name.QUOTA: _step_quota,
}
OFFBOARD_RUNNERS: dict[str, Callable[[Onboarding, OnboardingStep], None]] = {
    Name.SERVERS: _step_servers,
    Name.FLOATING_IPS: _step_floating_ips,
    Name.ROUTERS: _step_routers,
    Name.NETWORKS: _step_networks,
    Name.SECURITY_GROUPS: _step_security_groups,
    Name.ACCOUNTS: _step_accounts,
    Name.PROJECT_DELETE: _step_project_delete,
    Name.RELEASE: _step_release,
}


# --- subnet ranges -----------------------------------------------------------------------------------


def subnet_allocate(*, onboarding: Onboarding) -> SubnetAllocation:
    """The team's private range: its own if it has one, else the first /KENNEL_TENANT_SUBNET_PREFIX of
    KENNEL_TENANT_CIDR_POOL that overlaps neither another team's range (the database) nor any subnet
    the cloud has (one listing). Allocations are serialized by a database lock, and the unique range
    backs it up. StepRefused when the pool is used up."""
    existing = SubnetAllocation.objects.filter(onboarding=onboarding).first()
    if existing is not None:
        return existing
    pool = ipaddress.IPv4Network(settings.KENNEL_TENANT_CIDR_POOL)
    in_cloud = [
        network
        for network in (ipaddress.ip_network(s.cidr, strict=False) for s in cloud().list_subnets())
        if isinstance(network, ipaddress.IPv4Network)
    ]
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _lock_allocations()
                existing = SubnetAllocation.objects.filter(onboarding=onboarding).first()
                if existing is not None:
                    return existing
                taken = [
                    ipaddress.IPv4Network(cidr)
                    for cidr in SubnetAllocation.objects.values_list("cidr", flat=True)
                ]
                for candidate in pool.subnets(new_prefix=settings.KENNEL_TENANT_SUBNET_PREFIX):
                    if any(candidate.overlaps(other) for other in (*taken, *in_cloud)):
                        continue
                    allocation = SubnetAllocation(cidr=str(candidate), onboarding=onboarding)
                    allocation.full_clean(validate_unique=False)
                    allocation.save()
                    return allocation
        except IntegrityError:
            continue  # another allocator won this range under a weaker lock (SQLite): look again
        raise StepRefused(texts.SUBNET_POOL_USED_UP(pool=str(pool), teams=len(taken), cloud=len(in_cloud)))
    raise StepRefused(texts.SUBNET_ALLOCATION_FAILED())


def _lock_allocations() -> None:
    """One allocator at a time: a transaction-scoped advisory lock on PostgreSQL (SQLite already lets
    one writer in at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kennel.subnet_allocate'))")


# --- members' cloud accounts and roles ---------------------------------------------------------------


def cloud_account_ensure(*, user: User, portal_user_id: str) -> CloudAccount:
    """The user's Keystone user, found by the recorded id, else by name (mapped if it was not Kennel's),
    else created (marked ``created_by_kennel`` before the call, so a lost answer is recognised).
    StepRefused when the name is the portal's own cloud user."""
    gateway = cloud()
    account, _created = CloudAccount.objects.get_or_create(
        user=user, defaults={"keystone_name": user.username}
    )
    if account.keystone_user_id:
        found = gateway.find_user(account.keystone_user_id)
        if found is not None:
            return account
        # Deleted behind Kennel's back: find or make it again below.
        CloudAccount.objects.filter(pk=account.pk).update(keystone_user_id="")
    found = gateway.find_user(account.keystone_name)
    if found is not None and found.id == portal_user_id:
        raise StepRefused(texts.CLOUD_USER_NAME_TAKEN(user=user.username))
    if found is None:
        CloudAccount.objects.filter(pk=account.pk).update(created_by_kennel=True)
        try:
            found = gateway.create_user(
                name=account.keystone_name,
                email=user.email or None,
                description=f"{USER_MARKER} portal user {user.username}",
            )
        except CloudRequestError:
            found = gateway.find_user(account.keystone_name)  # made meanwhile by a parallel chain
            if found is None:
                raise
    account.refresh_from_db()
    # Kennel's if it said so before creating it (the answer may have been lost) or its mark says so.
    ours = account.created_by_kennel or found.description.startswith(USER_MARKER)
    CloudAccount.objects.filter(pk=account.pk).update(keystone_user_id=found.id, created_by_kennel=ours)
    account.refresh_from_db()
    return account


def _role_for(user: User) -> str:
    return ADMIN_ROLE if user.is_portal_admin else MEMBER_ROLE


def team_cloud_roles_sync(*, team: Team) -> dict[str, Any]:
    """Make the team project's role assignments match its active members: each member's account
    (ensured) holds exactly its role; accounts Kennel knows that are no longer members lose theirs, and
    Kennel-made ones that no onboarded team needs any more are deleted. Assignments of users Kennel does
    not know are left alone (the orphan check lists them). Returns what it found and changed."""
    gateway = cloud()
    project_id = team.openstack_project_id
    if not project_id:
        raise StepRefused(texts.NO_PROJECT_YET(team=team.name))
    portal_user = gateway.whoami()
    desired: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for membership in Membership.objects.filter(team=team, user__is_active=True).select_related("user"):
        account = cloud_account_ensure(user=membership.user, portal_user_id=portal_user.id)
        desired[account.keystone_user_id] = _role_for(membership.user)
        accounts[membership.user.username] = account.keystone_user_id
    current = gateway.list_role_assignments(project_id=project_id)
    have = {(a.user_id, a.role) for a in current}
    assigned, revoked = [], []
    for user_id, role in sorted(desired.items()):
        if (user_id, role) not in have:
            gateway.assign_role(user_id=user_id, project_id=project_id, role=role)
            assigned.append([user_id, role])
    known = CloudAccount.objects.exclude(keystone_user_id="")
    known_ids = set(known.values_list("keystone_user_id", flat=True))
    for assignment in current:
        if assignment.user_id == portal_user.id or assignment.user_id not in known_ids:
            continue
        if desired.get(assignment.user_id) != assignment.role:
            with contextlib.suppress(CloudNotFound):
                gateway.revoke_role(user_id=assignment.user_id, project_id=project_id, role=assignment.role)
            revoked.append([assignment.user_id, assignment.role])
    gone = known.filter(keystone_user_id__in={user_id for user_id, _role in revoked} - set(desired))
    deleted = accounts_release(list(gone))
    return {
        "accounts": accounts,
        "assignments": sorted([user_id, role] for user_id, role in desired.items()),
        "assigned": assigned,
        "revoked": revoked,
        "deleted_users": deleted,
    }


def account_needed(account: CloudAccount, *, leaving: Team | None = None) -> bool:
    """Whether an active member of some onboarded team (other than ``leaving``) still uses it."""
    memberships = Membership.objects.filter(
        user_id=account.user_id, user__is_active=True, team__onboarding__state__in=ACCOUNT_STATES
    )
    if leaving is not None:
        memberships = memberships.exclude(team=leaving)
    return memberships.exists()


def accounts_release(accounts: Iterable[CloudAccount], *, leaving: Team | None = None) -> list[str]:
    """Delete the Keystone users Kennel made among ``accounts`` that nobody needs any more (mapped
    ones are only forgotten when unused, never deleted). Returns the deleted users' names."""
    gateway = cloud()
    deleted = []
    for account in accounts:
        if account_needed(account, leaving=leaving):
            continue
        if account.created_by_kennel and account.keystone_user_id:
            with contextlib.suppress(CloudNotFound):
                gateway.delete_user(account.keystone_user_id)
            deleted.append(account.keystone_name)
        account.delete()
    return deleted
