"""A small estate of throwaway objects for the API's hostile-input and schemathesis tests: two teams
on the FakeCloud (it passes the contract suite, so no call reaches the real cloud), a developer, a
team lead, a manager and an admin, and one or more of every object the API names in a path (VMs,
servers, data centers, power requests, quota requests, templates, onboardings, image imports,
property changes, tokens), so that generated requests reach real rows as well as missing ones.

Everything is made inside the test's transaction: nothing commits, so no task is ever enqueued."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings

from catalog import services as catalog_services
from catalog.models import ImageImport
from inventory import services as inventory_services
from inventory.models import PowerActionChoice, ServerRole
from kennel.demo import _demo_profile
from onboarding import services as onboarding_services
from onboarding.models import QuotaTemplate
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.models import ApiToken, Membership, Role, User
from portal.services import api_token_create
from provisioning import services as provisioning_services
from provisioning.models import CloudFlavor, CloudImage, Profile
from quotas import services as quota_services
from tests.factories import MembershipFactory, ServerFactory, TeamFactory, UserFactory
from tests.fixtures.fake_cloud import offer_every_image


@dataclass
class Estate:
    """The people (by role), their API keys, and the values every path parameter can take."""

    users: dict[str, User]
    keys: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, ApiToken] = field(default_factory=dict)
    # By the path's first segment after /api/v1/ (``vms``, ``servers``…): ids or slugs that exist.
    known: dict[str, list] = field(default_factory=dict)

    def key(self, role: str) -> str:
        """The role's API key, issued again if a request revoked it (logout, DELETE tokens/{id}/)."""
        token = self.tokens.get(role)
        if token is None or not ApiToken.objects.filter(pk=token.pk).exists():
            self.tokens[role], self.keys[role] = api_token_create(
                user=self.users[role], name=f"fuzz {role}", source="test"
            )
        return self.keys[role]


@contextmanager
def estate_made(import_dir: Path) -> Iterator[Estate]:
    """Make the estate inside the caller's transaction, with the FakeCloud standing in for the cloud
    while it is in use."""
    fake = FakeCloud()
    with (
        override(fake),
        override_settings(
            KENNEL_IMPORT_DIR=import_dir / "incoming",
            KENNEL_IMPORT_WORK_DIR=import_dir / "work",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            LANGUAGE_CODE="en",
            # Made outside the per-test settings (module scope): the BMCs below are on loopback ports
            # the default KENNEL_BMC_ALLOWED_PORTS leaves out.
            KENNEL_BMC_ALLOWED_PORTS=[(1, 65535)],
        ),
    ):
        (import_dir / "incoming").mkdir(parents=True, exist_ok=True)
        team = TeamFactory(name="Alpha", slug="alpha")
        other_team = TeamFactory(name="Beta", slug="beta")
        me = fake.whoami()
        for t, project_name in ((team, "alpha"), (other_team, "beta")):
            project = fake.find_project(project_name)
            fake.assign_role(user_id=me.id, project_id=project.id, role="admin")
            t.openstack_project_id = project.id
            t.save()
        provisioning_services.catalog_refresh()
        offer_every_image()
        yield _populate(team, other_team, import_dir / "incoming")


@pytest.fixture
def estate(db, tmp_path, clean_cache):
    """The estate, made for one test (clean_cache: the login endpoint's rate limit starts afresh)."""
    with estate_made(tmp_path) as made:
        yield made


@pytest.fixture(scope="module")
def shared_estate(django_db_setup, django_db_blocker, tmp_path_factory):
    """The estate, made once for a module whose tests only read it or whose writes are rolled back with
    each test (the tests' own transactions nest inside this one, which is rolled back at the end)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with estate_made(tmp_path_factory.mktemp("estate")) as made:
                yield made
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _populate(team, other_team, incoming: Path) -> Estate:
    developer = UserFactory(username="fuzz-dev")
    lead = UserFactory(username="fuzz-lead")
    MembershipFactory(user=developer, team=team, level=Membership.Level.MEMBER)
    MembershipFactory(user=lead, team=team, level=Membership.Level.LEAD)
    MembershipFactory(user=developer, team=other_team, level=Membership.Level.LEAD)
    users = {
        "developer": developer,
        "lead": lead,
        "manager": UserFactory(username="fuzz-manager", role=Role.MANAGER),
        "admin": UserFactory(username="fuzz-admin", role=Role.ADMIN),
    }
    admin = users["admin"]
    image = CloudImage.objects.get(offered=True, architecture="x86_64", name__startswith="cirros")
    flavor = CloudFlavor.objects.get(name="m1.tiny")
    _demo_profile()
    profile = Profile.objects.filter(is_active=True).first()
    vms = [
        provisioning_services.vm_request_submit(
            actor=user,
            team=team,
            name=f"fuzz-{n}",
            image=image,
            flavor=flavor,
            profile=profile,
            ssh_keys=[],
            packages=[],
            source="test",
        )
        for n, user in enumerate([developer, lead, developer])
    ]
    quota_services.quota_sync()
    quota_request = quota_services.quota_request_submit(
        actor=lead, team=team, values={"cores": 80}, reason="fuzz"
    )
    server = ServerFactory(name="fuzz-s1", roles=[ServerRole.COMPUTE.value], hypervisor_hostname="h1")
    inventory_services.server_bmc_set(
        actor=None,
        server=server,
        protocol="ipmi",
        address="127.0.0.1",
        port=623,
        username="ADMIN",
        password="secret",
    )
    outside = ServerFactory(name="fuzz-s2", roles=[ServerRole.OUTSIDE.value])
    inventory_services.server_bmc_set(
        actor=None,
        server=outside,
        protocol="redfish",
        address="127.0.0.1",
        port=8000,
        username="root",
        password="secret",
    )
    power = inventory_services.power_request_create(
        actor=admin,
        server=outside,
        action=PowerActionChoice.ON.value,
        reason="fuzz",
        confirm_name=outside.name,
    )
    template = QuotaTemplate.objects.create(name="fuzz-small", values={"instances": 5, "cores": 12})
    onboarding = onboarding_services.team_onboard(
        actor=admin, name="Gamma", slug="gamma", members=[developer], leads=[lead], quota_template=template
    )
    (incoming / "disk.qcow2").write_bytes(b"QFI\xfb" + bytes(1020))
    imported = catalog_services.image_import_create(
        actor=admin, name="fuzz-import", architecture="x86_64", path="disk.qcow2", source="test"
    )
    ImageImport.objects.filter(pk=imported.pk).update(state=ImageImport.State.FAILED, message="fuzz")
    change = catalog_services.image_properties_request(
        actor=admin,
        image=image,
        architecture="x86_64",
        os_distro="fuzzos",
        os_version="1",
        machine_type="",
        min_disk_gb=1,
        min_ram_mb=0,
        source="test",
    )
    onboarding_services.orphan_check_request(actor=admin, source="test")
    from django.utils import timezone

    from usage.models import IdleVm

    idle = IdleVm.objects.create(
        vm=vms[0],
        flagged_at=timezone.now(),
        checked_at=timezone.now(),
        cpu_percent=0.5,
        network_bps=10,
        window_days=14,
    )
    from blueprints import services as blueprint_services

    blueprint_version = next(
        v for v in blueprint_services.blueprint_examples_load(source="test") if v.blueprint.name == "ci-agent"
    )
    service = blueprint_services.service_deploy(
        actor=lead,
        team=team,
        version=blueprint_version,
        name="fuzz-ci",
        parameters={},
        counts={"x86_64": 1},
        source="test",
    )
    made = Estate(users=users)
    for role in users:
        made.key(role)
        api_token_create(user=users[role], name="spare", source="test")
    made.known = {
        "vms": [vm.pk for vm in vms],
        "servers": [server.pk, outside.pk],
        "hosts": [server.pk, outside.pk],  # /usage/hosts/{id}/
        "idle": [idle.pk],  # /usage/idle/{id}/...
        "datacenters": [server.datacenter.code],
        "power-requests": [power.pk],
        "quota-requests": [quota_request.pk],
        "quotas": [team.slug, other_team.slug],
        "teams": [team.slug, other_team.slug],
        "people": [u.pk for u in users.values()],
        "tokens": list(ApiToken.objects.filter(name="spare").values_list("pk", flat=True)),
        "quota-templates": [template.pk],
        "onboardings": [onboarding.team.slug, team.slug],
        "image-imports": [imported.pk],
        "property-changes": [change.pk],
        "images": [image.cloud_id],
        "flavors": [flavor.cloud_id],
        "profiles": [profile.name, str(profile.pk)] if profile else [],
        "audit": [],
        "blueprints": [blueprint_version.blueprint_id],
        "blueprint-versions": [blueprint_version.pk],
        "services": [service.pk],
    }
    return made
