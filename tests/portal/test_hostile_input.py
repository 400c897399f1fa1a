"""Hostile input on the HTML side: no page, form or htmx partial answers 5xx, whatever it is sent.

Every non-API URL pattern has a row in ``COVERAGE`` (a test walks the URL resolver and fails on a
pattern without one, so a new page or form is covered or the suite fails). For each row, hypothesis
GETs the page (and its htmx partial) with hostile query strings and POSTs hostile values into every
field of its form: the fields the table names plus every field found in the portal's own rendered
forms that post to it. Each example runs in a savepoint that is rolled back, against one estate built
once for the module (teams, people of each role, a VM, a server, a power request, a quota request, an
onboarded team, ...). Path references (ids and slugs) get hostile values of their own.

A 5xx is recorded with what caused it (the exception and where it was raised) and the request that
reproduces it; the test reports every distinct one at the end. In CI the examples are derandomized
(``ci`` profile, tests/conftest.py).
"""

from __future__ import annotations

import copy
import importlib
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes, urlparse

import pytest
from django import forms
from django.core.signals import got_request_exception
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from inventory.models import PowerRequest, ServerRole
from onboarding.models import Onboarding
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.models import Membership, Role
from tests.factories import (
    CloudAccountFactory,
    DataCenterFactory,
    ImageImportFactory,
    MembershipFactory,
    OnboardingFactory,
    OnboardingStepFactory,
    PowerRequestFactory,
    QuotaTemplateFactory,
    ServerFactory,
    TeamFactory,
    UserFactory,
)
from tests.polling import until_done

# Values that broke, or could break, a server somewhere: non-ASCII digits, numbers past every integer
# type, NUL, lone UTF-16 surrogates (sent as the bytes a careless client would), control and
# direction characters, markup, very long text, JSON-ish and SQL-ish text.
HOSTILE = (
    "",
    " ",
    "abc",
    "²",
    "١٢٣",
    "-1",
    "0",
    "1.5",
    "1e9",
    " 7 ",
    "0x10",
    "2147483648",
    "-2147483649",
    "9223372036854775808",
    "9" * 40,
    "1" * 5000,
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\x1b[31m",
    "\u202egnp.exe",
    "line\nbreak\r\n",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../../../etc/passwd",
    "%00%ff",
    "null",
    "[]",
    '{"a": 1}',
    "true",
    "on",
    "🐶" * 50,
    "x" * 70_000,
)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


def _encode(value: str) -> bytes:
    # surrogatepass: a lone surrogate goes out as the (invalid) UTF-8 bytes a broken client sends.
    return value.encode("utf-8", "surrogatepass")


def form_encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(
        f"{quote_from_bytes(_encode(k))}={quote_from_bytes(_encode(v))}" for k, v in pairs
    ).encode()


MULTIPART_GARBAGE = (
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nnope"),
    ("multipart/form-data", b"no boundary at all"),
    ("multipart/form-data; boundary=xyz", b"\xff\xfe\x00garbage"),
    (
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="\xff.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n\xff\xfe\x00\x81\r\n--xyz--\r\n",
    ),
    ("application/x-www-form-urlencoded", b"%%%&&&==\xff\xfe"),
    ("application/json", b'{"a": ' * 1000),
)


# --- the estate ---------------------------------------------------------------------------------------


@dataclass
class Estate:
    people: dict[str, Any]
    ids: dict[str, Any] = field(default_factory=dict)


SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1Wl7m7bWcE3K6w0s6lYq3B0D1z4cJz3C7dD1Q4f7C hostile@test"


def _build_estate() -> Estate:
    from onboarding.services import team_member_set  # noqa: F401  (import check only)
    from portal.services import api_token_create
    from provisioning import services as vm_services
    from provisioning.models import CloudFlavor, CloudImage
    from provisioning.services import catalog_refresh
    from quotas import services as quota_services

    team = TeamFactory(name="Alpha", slug="alpha")
    other = TeamFactory(name="Beta", slug="beta")
    member = UserFactory(username="member")
    MembershipFactory(user=member, team=team, level=Membership.Level.MEMBER)
    lead = UserFactory(username="lead")
    MembershipFactory(user=lead, team=team, level=Membership.Level.LEAD)
    outsider = UserFactory(username="outsider")
    MembershipFactory(user=outsider, team=other)
    manager = UserFactory(username="manager", role=Role.MANAGER)
    admin = UserFactory(username="admin", role=Role.ADMIN)
    people = {"member": member, "lead": lead, "manager": manager, "admin": admin}

    fake = FakeCloud()
    estate = Estate(people=people)
    estate.ids["fake"] = fake
    with override(fake):
        me = fake.whoami()
        for t, project_name in ((team, "alpha"), (other, "beta")):
            project = fake.find_project(project_name)
            fake.assign_role(user_id=me.id, project_id=project.id, role="admin")
            t.openstack_project_id = project.id
            t.save()
        catalog_refresh()
        CloudImage.objects.filter(status="active").exclude(architecture="").update(offered=True)
        image = CloudImage.objects.get(architecture="x86_64", name__startswith="cirros")
        flavor = CloudFlavor.objects.get(name="m1.tiny")
        vm = vm_services.vm_request_submit(
            actor=member, team=team, name="web1", image=image, flavor=flavor, source="test"
        )
        until_done(lambda: vm_services.vm_request_build_advance(request_id=vm.pk), what="building web1")
        profile = vm_services.profile_save(actor=admin, name="basic", parts=[], is_active=True, source="test")
        key = vm_services.ssh_key_add(user=member, name="laptop", public_key=SSH_KEY, source="test")
        token, _key = api_token_create(user=member, name="laptop", source="test")
        quota_services.quota_sync()
        quota_request = quota_services.quota_request_submit(
            actor=lead, team=team, values={"cores": 80}, reason="CI"
        )
    datacenter = DataCenterFactory(code="dc9", name="DC 9")
    server = ServerFactory(
        name="PX1", roles=[ServerRole.COMPUTE.value], hypervisor_hostname="px1", datacenter=datacenter
    )
    power_request = PowerRequestFactory(
        server=server, action="hard_off", status=PowerRequest.Status.AWAITING_CONFIRMATION, requested_by=admin
    )
    onboarding = OnboardingFactory(
        team=team,
        requested_by=admin,
        state=Onboarding.State.FAILED,
        auth_url="http://127.0.0.1:5000/v3",
        region_name="RegionOne",
        interface="public",
    )
    OnboardingStepFactory(onboarding=onboarding, status="failed", message="boom")
    keystone = fake.create_user(name="member", description="Kennel: portal user member")
    CloudAccountFactory(user=member, keystone_name="member", keystone_user_id=keystone.id)
    template = QuotaTemplateFactory(name="small", values={"cores": 4})
    image_import = ImageImportFactory(name="imp", source_path="m.qcow2", requested_by=admin)
    from django.utils import timezone

    from provisioning.models import CloudFloatingIp

    floating_ip = CloudFloatingIp.objects.create(
        cloud_id="fip-hostile",
        address="203.0.113.9",
        project_id=team.openstack_project_id,
        team=team,
        seen_at=timezone.now(),
    )
    from onboarding.models import SecurityRule

    security_rule = SecurityRule.objects.create(
        team=team, cloud_id="rule-hostile", protocol="tcp", port_min=22, port_max=22, remote_cidr="10.0.0.0/8"
    )
    from usage.models import IdleVm

    idle_vm = IdleVm.objects.create(
        vm=vm,
        flagged_at=timezone.now(),
        checked_at=timezone.now(),
        cpu_percent=0.4,
        network_bps=90,
        window_days=14,
    )
    from blueprints import services as blueprint_services

    with override(fake):
        blueprint_version = next(
            v
            for v in blueprint_services.blueprint_examples_load(source="test")
            if v.blueprint.name == "ci-agent"
        )
        service = blueprint_services.service_deploy(
            actor=lead,
            team=team,
            version=blueprint_version,
            name="ci",
            parameters={},
            counts={"x86_64": 1},
            source="test",
        )
    from provisioning.models import Volume

    volume = Volume.objects.create(
        team=team, owner=member, name="data", size_gb=5, status=Volume.Status.AVAILABLE, volume_id="vol-1"
    )
    estate.ids.update(
        volume=volume,
        blueprint_version=blueprint_version,
        service=service,
        idle_vm=idle_vm,
        floating_ip=floating_ip,
        security_rule=security_rule,
        team=team,
        vm=vm,
        image=image,
        flavor=flavor,
        profile=profile,
        key=key,
        token=token,
        quota_request=quota_request,
        datacenter=datacenter,
        server=server,
        power_request=power_request,
        onboarding=onboarding,
        template=template,
        image_import=image_import,
    )
    return estate


@pytest.fixture(scope="module")
def estate(django_db_setup, django_db_blocker) -> Iterator[Estate]:
    """Built once for the module inside a transaction that is rolled back at its end."""
    with django_db_blocker.unblock(), transaction.atomic():
        built = _build_estate()
        with override(built.ids["fake"]):
            yield built
        transaction.set_rollback(True)


# --- the coverage table -------------------------------------------------------------------------------

ALL = ("member", "lead", "manager", "admin")
STAFF = ("manager", "admin")


@dataclass(frozen=True)
class Case:
    """How to reach a URL name with hostile input.

    ``kwargs`` gives the URL's arguments from the estate; ``query`` the query parameters the page or
    its htmx partial reads; ``post`` a baseline of valid values (None: the view takes no POST);
    ``files`` file fields; ``roles`` who can reach it.
    """

    kwargs: Callable[[Estate], dict[str, Any]] = lambda e: {}
    get: bool = True
    query: tuple[str, ...] = ()
    post: dict[str, str] | None = None
    files: tuple[str, ...] = ()
    roles: tuple[str, ...] = ALL
    allowed: tuple[int, ...] = ()  # a 5xx that is the designed answer (the health check's 503)


def _pk(name: str) -> Callable[[Estate], dict[str, Any]]:
    return lambda e: {"pk": e.ids[name].pk}


def _slug(e: Estate) -> dict[str, Any]:
    return {"slug": e.ids["team"].slug}


LIST_QUERY = ("page", "sort", "ordering", "q", "status", "team", "architecture", "state")

COVERAGE: dict[str, Case] = {
    "home": Case(),
    "login": Case(post={"username": "member", "password": "x"}, roles=("anonymous",)),
    "logout": Case(get=False, post={}),
    "team-list": Case(query=("page",)),
    "team-detail": Case(kwargs=_slug),
    "people": Case(
        query=(*LIST_QUERY, "role", "active"),
        post={"user": "", "role": "developer", "active": "1"},
        roles=STAFF,
    ),
    "audit-list": Case(query=(*LIST_QUERY, "actor", "action", "since", "until", "target"), roles=STAFF),
    "token-list": Case(post={"name": "cli"}),
    "token-revoke": Case(kwargs=_pk("token"), get=False, post={}),
    "person-add": Case(
        post={
            "username": "hostile",
            "email": "h@example.org",
            "role": "developer",
            "first_name": "",
            "last_name": "",
        },
        roles=("admin",),
    ),
    "person-sign-in-link": Case(
        kwargs=lambda e: {"pk": e.people["member"].pk}, get=False, post={}, roles=("admin",)
    ),
    "password-set": Case(
        kwargs=lambda e: {"uidb64": "MQ", "token": "set-password"},
        post={"new_password1": "", "new_password2": ""},
        roles=("anonymous",),
    ),
    "health": Case(roles=("anonymous", "admin"), allowed=(503,)),
    "metrics": Case(roles=("anonymous", "admin")),  # the test client's loopback address may read it
    "set_language": Case(get=False, post={"language": "zh-hans", "next": "/"}, roles=("anonymous", "member")),
    # inventory
    "inventory:server-list": Case(query=(*LIST_QUERY, "datacenter", "role", "power", "health"), roles=STAFF),
    "inventory:server-create": Case(
        post={"name": "N1", "architecture": "x86_64", "datacenter": "", "rack_unit": "3"}, roles=("admin",)
    ),
    "inventory:server-export": Case(roles=STAFF),
    "inventory:server-import": Case(post={"token": ""}, files=("file",), roles=("admin",)),
    "inventory:server-detail": Case(kwargs=_pk("server"), roles=STAFF),
    "inventory:server-edit": Case(
        kwargs=_pk("server"),
        post={"name": "PX1", "architecture": "x86_64", "rack_unit": "3", "roles": "compute"},
        roles=("admin",),
    ),
    "inventory:server-delete": Case(kwargs=_pk("server"), post={"confirm_name": "PX1"}, roles=("admin",)),
    "inventory:server-bmc-edit": Case(
        kwargs=_pk("server"),
        post={
            "protocol": "redfish",
            "address": "127.0.0.1",
            "port": "8000",
            "username": "root",
            "password": "pässwörd",
            "tls_verify": "",
        },
        roles=("admin",),
    ),
    "inventory:server-power": Case(
        kwargs=_pk("server"),
        get=False,
        post={"action": "hard_off", "reason": "r", "confirm_name": "PX1"},
        roles=("admin",),
    ),
    "inventory:server-drain": Case(kwargs=_pk("server"), get=False, post={"reason": "r"}, roles=("admin",)),
    "inventory:server-undrain": Case(kwargs=_pk("server"), get=False, post={}, roles=("admin",)),
    "inventory:power-confirm": Case(kwargs=_pk("power_request"), get=False, post={}, roles=("admin",)),
    "inventory:power-cancel": Case(kwargs=_pk("power_request"), get=False, post={}, roles=("admin",)),
    "inventory:utilization": Case(roles=STAFF),
    "inventory:utilization-history": Case(query=("range", "resolution", "scope"), roles=STAFF),
    "inventory:dashboard": Case(roles=STAFF),
    "inventory:datacenter-list": Case(query=("page",), roles=STAFF),
    "inventory:datacenter-create": Case(post={"code": "dc5", "name": "DC"}, roles=("admin",)),
    "inventory:datacenter-edit": Case(
        kwargs=_pk("datacenter"), post={"code": "dc9", "name": "DC"}, roles=("admin",)
    ),
    "inventory:datacenter-delete": Case(
        kwargs=_pk("datacenter"), post={"confirm_name": "DC 9"}, roles=("admin",)
    ),
    # provisioning
    "provisioning:vm-list": Case(query=(*LIST_QUERY, "mine", "owner")),
    "provisioning:unmanaged-list": Case(query=("page",)),
    "provisioning:vm-request": Case(
        query=("team", "architecture", "image", "flavor", "profile", "name", "ssh_keys", "packages"),
        post={"team": "", "architecture": "x86_64", "image": "", "flavor": "", "name": "web2"},
    ),
    "provisioning:vm-preview": Case(
        get=False,
        post={"team": "", "architecture": "x86_64", "image": "", "flavor": "", "profile": "", "name": "w"},
    ),
    "provisioning:vm-detail": Case(kwargs=_pk("vm")),
    "provisioning:vm-action": Case(kwargs=_pk("vm"), get=False, post={"action": "reboot_soft"}),
    "provisioning:vm-delete": Case(kwargs=_pk("vm"), post={"confirm_name": "web1"}),
    "provisioning:vm-extend": Case(kwargs=_pk("vm"), get=False, post={"days": "7"}),
    "provisioning:vm-resize": Case(kwargs=_pk("vm"), get=False, post={"flavor": "1"}),
    "provisioning:vm-rebuild": Case(kwargs=_pk("vm"), get=False, post={"image": "1"}),
    "provisioning:vm-snapshot": Case(kwargs=_pk("vm"), get=False, post={"name": "web1-snap"}),
    "provisioning:vm-floating-ip": Case(kwargs=_pk("vm"), get=False, post={"attach": "1"}),
    "provisioning:vm-console": Case(kwargs=_pk("vm"), post={}),
    "provisioning:vm-console-log": Case(kwargs=_pk("vm"), post={}),
    "provisioning:floating-ip-release": Case(
        kwargs=_pk("floating_ip"), get=False, post={}, roles=("lead", "admin")
    ),
    "provisioning:ssh-keys": Case(post={"name": "k", "public_key": SSH_KEY}),
    "provisioning:volume-list": Case(query=("team",), post={"team": "", "name": "data2", "size_gb": "5"}),
    "provisioning:volume-attach": Case(kwargs=_pk("volume"), get=False, post={"vm": "1", "from_vm": "1"}),
    "provisioning:volume-detach": Case(kwargs=_pk("volume"), get=False, post={"from_vm": "1"}),
    "provisioning:volume-delete": Case(kwargs=_pk("volume"), post={}),
    "provisioning:ssh-key-remove": Case(kwargs=_pk("key"), get=False, post={}),
    "provisioning:profile-list": Case(post={"name": "p2", "description": "", "is_active": "on"}),
    "provisioning:profile-detail": Case(kwargs=_pk("profile")),
    "provisioning:profile-part-add": Case(
        kwargs=lambda e: {"pk": e.ids["profile"].pk, "kind": "packages"},
        post={"packages": "vim"},
        roles=("admin",),
    ),
    "provisioning:profile-part-edit": Case(
        kwargs=lambda e: {"pk": e.ids["profile"].pk, "index": 0}, post={}, roles=("admin",)
    ),
    "provisioning:profile-part-delete": Case(
        kwargs=lambda e: {"pk": e.ids["profile"].pk, "index": 0}, post={}, roles=("admin",)
    ),
    "provisioning:profile-offer": Case(
        kwargs=_pk("profile"), get=False, post={"offered": "1"}, roles=("admin",)
    ),
    "provisioning:profile-rename": Case(
        kwargs=_pk("profile"), get=False, post={"name": "basic", "description": ""}, roles=("admin",)
    ),
    "provisioning:profile-delete": Case(kwargs=_pk("profile"), post={}, roles=("admin",)),
    # blueprints and services
    "blueprints:list": Case(post={"document": "kennel_blueprint: 1\nname: x\n", "note": "", "team": ""}),
    "blueprints:detail": Case(
        kwargs=lambda e: {"pk": e.ids["blueprint_version"].blueprint_id},
        query=("version",),
        post={"name": "svc2", "count_x86_64": "1", "count_ppc64le": "0", "param_executors": "2"},
    ),
    "blueprints:version-export": Case(kwargs=_pk("blueprint_version")),
    "blueprints:service-detail": Case(kwargs=_pk("service")),
    "blueprints:service-scale": Case(
        kwargs=_pk("service"), get=False, post={"count_x86_64": "1", "count_ppc64le": "1"}
    ),
    "blueprints:service-upgrade": Case(kwargs=_pk("service"), get=False, post={"version": ""}),
    "blueprints:service-rollback": Case(kwargs=_pk("service"), get=False, post={}),
    "blueprints:service-retry": Case(kwargs=_pk("service"), get=False, post={}),
    "blueprints:service-delete": Case(kwargs=_pk("service"), get=False, post={}),
    # catalog
    "catalog:images": Case(roles=("admin",)),
    "catalog:image-offer": Case(
        kwargs=_pk("image"), get=False, post={"offered": "on", "display_name": "x"}, roles=("admin",)
    ),
    "catalog:image-properties": Case(
        kwargs=_pk("image"),
        get=False,
        post={"architecture": "x86_64", "min_disk_gb": "1", "min_ram_mb": "64", "machine_type": "q35"},
        roles=("admin",),
    ),
    "catalog:flavors": Case(roles=("admin",)),
    "catalog:flavor-offer": Case(kwargs=_pk("flavor"), get=False, post={"offered": "on"}, roles=("admin",)),
    "catalog:imports": Case(
        post={
            "path": "m.qcow2",
            "name": "img",
            "architecture": "x86_64",
            "min_disk_gb": "0",
            "min_ram_mb": "0",
            "target_format": "qcow2",
        },
        files=("file",),
        roles=("admin",),
    ),
    "catalog:import-detail": Case(kwargs=_pk("image_import"), roles=("admin",)),
    "catalog:import-retry": Case(kwargs=_pk("image_import"), get=False, post={}, roles=("admin",)),
    "catalog:import-discard": Case(kwargs=_pk("image_import"), get=False, post={}, roles=("admin",)),
    # quotas
    "quotas:overview": Case(query=("sort", "format", "q", "page")),
    "quotas:request-create": Case(
        kwargs=_slug, post={"dim_cores": "100", "dim_instances": "20", "reason": "r"}, roles=("lead", "admin")
    ),
    "quotas:request-list": Case(query=LIST_QUERY),
    "quotas:request-detail": Case(kwargs=_pk("quota_request")),
    "quotas:request-act": Case(
        kwargs=lambda e: {"pk": e.ids["quota_request"].pk, "act": "approve"},
        get=False,
        post={"dim_cores": "80", "comment": "ok", "reason": "r", "question": "q", "answer": "a"},
        roles=("lead", "admin"),
    ),
    "quotas:rules": Case(
        post={
            "form": "rule",
            "key": "cores",
            "ceiling": "100",
            "auto_approve_increase": "10",
            "auto_approve_days": "30",
            "delete": "",
            "members_may_request": "on",
        },
        roles=("admin",),
    ),
    # onboarding
    "onboarding:list": Case(roles=("admin",)),
    "onboarding:new": Case(
        post={"name": "Delta", "slug": "delta", "description": "", "members": "", "leads": ""},
        roles=("admin",),
    ),
    "onboarding:templates": Case(roles=("admin",)),
    "onboarding:template-new": Case(post={"name": "t2", "dim_cores": "4"}, roles=("admin",)),
    "onboarding:template-edit": Case(
        kwargs=_pk("template"), post={"name": "small", "dim_cores": "4"}, roles=("admin",)
    ),
    "onboarding:template-delete": Case(kwargs=_pk("template"), get=False, post={}, roles=("admin",)),
    "onboarding:orphans": Case(post={}, roles=("admin",)),
    "onboarding:team": Case(kwargs=_slug),
    "onboarding:retry": Case(kwargs=_slug, get=False, post={}, roles=("admin",)),
    "onboarding:again": Case(kwargs=_slug, get=False, post={}, roles=("admin",)),
    "onboarding:offboard": Case(kwargs=_slug, post={"confirm": "alpha"}, roles=("admin",)),
    "onboarding:members": Case(kwargs=_slug, post={"user": "", "level": "member"}, roles=("admin",)),
    "onboarding:member-remove": Case(
        kwargs=lambda e: {"slug": "alpha", "user_id": e.people["lead"].pk},
        get=False,
        post={},
        roles=("admin",),
    ),
    "onboarding:security-rules": Case(
        kwargs=_slug,
        post={"protocol": "tcp", "ports": "8080", "remote_cidr": "10.0.0.0/8"},
        roles=("lead", "admin"),
    ),
    "onboarding:security-rule-remove": Case(
        kwargs=_pk("security_rule"), get=False, post={}, roles=("lead", "admin")
    ),
    "onboarding:credentials": Case(kwargs=_slug, roles=("member",)),
    "onboarding:clouds-yaml": Case(kwargs=_slug, roles=("member",)),
    "onboarding:openrc": Case(kwargs=_slug, roles=("member",)),
    "onboarding:password-reset": Case(kwargs=_slug, get=False, post={}, roles=("member",)),
    "onboarding:password-reveal": Case(kwargs=_slug, get=False, post={}, roles=("member",)),
    # usage (metrics not configured in tests: the pages say so; the query strings still reach them)
    "usage:hosts": Case(roles=STAFF),
    "usage:host-detail": Case(kwargs=_pk("server"), query=("window", "page"), roles=STAFF),
    "usage:vms": Case(query=("page",)),
    "usage:vm-detail": Case(kwargs=_pk("vm"), query=("window",)),
    "usage:team-detail": Case(kwargs=_slug, query=("page",)),
    "usage:idle": Case(),
    "usage:idle-stop": Case(kwargs=_pk("idle_vm"), get=False, post={}),
    "usage:idle-delete": Case(kwargs=_pk("idle_vm"), get=False, post={"confirm": "x"}),
}

# URL names outside this test: the REST API (its own property tests, over the OpenAPI schema) and its
# documentation pages.
# admin/: Django's own admin, read-only for portal admins; its odd paths are in tests/portal/test_admin.py.
EXCLUDED_PREFIXES = ("api/", "admin/")


def html_patterns() -> list[tuple[str, str]]:
    """Every (route, view name) of the portal outside the API, from the URL resolver itself."""
    found: list[tuple[str, str]] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(EXCLUDED_PREFIXES):
                continue
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, route, ns)
            elif isinstance(p, URLPattern):
                found.append((route, f"{namespace}{p.name}" if p.name else f"<unnamed {route}>"))

    walk(get_resolver().url_patterns, "", "")
    return found


# --- running requests ---------------------------------------------------------------------------------


@dataclass
class Findings:
    """Distinct server errors: one per (view, exception type, where it was raised)."""

    seen: dict[tuple[str, str, str], str] = field(default_factory=dict)
    requests: int = 0

    def report(self) -> str:
        return "\n\n".join(f"{k[0]}: {k[1]} at {k[2]}\n  {v}" for k, v in sorted(self.seen.items()))


_last_exception: list[BaseException] = []


def _remember(sender, request=None, **kwargs) -> None:
    import sys

    exc = sys.exc_info()[1]
    if exc is not None:
        _last_exception.append(exc)


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/work/" in f.filename]
    ours = [f for f in frames if "/.venv/" not in f.filename] or frames
    if not ours:
        return "?"
    f = ours[-1]
    return f"{f.filename.split('/')[-2]}/{f.filename.split('/')[-1]}:{f.lineno}"


def _clients(estate: Estate) -> dict[str, Client]:
    clients = {}
    for role in (*ALL, "anonymous"):
        client = Client(raise_request_exception=False)
        if role != "anonymous":
            client.force_login(estate.people[role])
        clients[role] = client
    return clients


def send(
    findings: Findings,
    name: str,
    client: Client,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "application/x-www-form-urlencoded",
    htmx: bool = False,
    allowed: tuple[int, ...] = (),
) -> int:
    """One request in a savepoint that is rolled back; a 5xx is recorded, never raised."""
    headers = {"HX-Request": "true"} if htmx else {}
    _last_exception.clear()
    # A logout (or a person disabled) ends the session; the rollback brings its row back, and the
    # client gets its cookie back, so the next example still asks as its role.
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        if method == "GET":
            response = client.get(path, headers=headers)
        else:
            response = client.generic(method, path, body, content_type=content_type, headers=headers)
        transaction.set_rollback(True)
    client.cookies = cookies
    findings.requests += 1
    if response.status_code >= 500 and response.status_code not in allowed:
        exc = _last_exception[-1] if _last_exception else None
        key = (
            name,
            type(exc).__name__ if exc else f"HTTP {response.status_code}",
            _where(exc) if exc else "",
        )
        if key not in findings.seen:
            shown = body[:300] if method != "GET" else b""
            findings.seen[key] = f"{method} {path[:300]} {shown!r} -> {response.status_code}: {exc!s:.200}"
    return response.status_code


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_ACTION = re.compile(r'\baction="([^"]*)"')
_METHOD = re.compile(r'\bmethod="([^"]*)"', re.I)
_FIELD = re.compile(r'<(?:input|select|textarea|button)\b[^>]*\bname="([^"]+)"', re.I)


def discovered_fields(estate: Estate, clients: dict[str, Client]) -> dict[tuple[str, str], set[str]]:
    """Every field of every form the portal renders, by the URL name the form sends to and its method
    ("get" or "post"); read once per estate."""
    if "fields" not in estate.ids:
        estate.ids["fields"] = _discover_fields(estate, clients)
    return estate.ids["fields"]


def _discover_fields(estate: Estate, clients: dict[str, Client]) -> dict[tuple[str, str], set[str]]:
    fields: dict[tuple[str, str], set[str]] = {}
    for name, case in COVERAGE.items():
        if not case.get:
            continue
        path = reverse(name, kwargs=case.kwargs(estate))
        for role in ("admin", "lead", "member"):
            with transaction.atomic():
                response = clients[role].get(path)
                transaction.set_rollback(True)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            for attrs, inner in _FORM.findall(response.content.decode()):
                action = _ACTION.search(attrs)
                target = urlparse(action.group(1)).path if action and action.group(1) else path
                try:
                    match = resolve(target)
                except Resolver404:
                    continue
                names = set(_FIELD.findall(inner)) - {"csrfmiddlewaretoken"}
                method = _METHOD.search(attrs)
                how = method.group(1).lower() if method else "get"
                fields.setdefault((match.view_name, how), set()).update(names)
    return fields


# --- the tests ----------------------------------------------------------------------------------------


def test_every_html_url_is_in_the_coverage_table():
    names = {name for _route, name in html_patterns()}
    missing = sorted(names - set(COVERAGE))
    stale = sorted(set(COVERAGE) - names)
    assert not missing, f"URL patterns without a row in COVERAGE (add one, with its form's fields): {missing}"
    assert not stale, f"COVERAGE rows for URL names that no longer exist: {stale}"


@pytest.mark.django_db
def test_every_rendered_form_posts_to_a_covered_endpoint_that_takes_posts(estate, quiet_request_log):
    clients = _clients(estate)
    found = discovered_fields(estate, clients)
    assert len(found) > 30  # the walk saw the portal's forms
    for view_name, method in found:
        assert view_name in COVERAGE, f"a form sends to {view_name}, which COVERAGE does not name"
        case = COVERAGE[view_name]
        if method == "post":
            assert case.post is not None, f"a form posts to {view_name}: give its COVERAGE row post={{...}}"
        else:
            assert case.get, f"a form GETs {view_name}: its COVERAGE row must have get=True"


EXAMPLES_PER_VIEW = 6
PROPERTY = settings(
    max_examples=EXAMPLES_PER_VIEW,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # every distinct 5xx is reported; no time spent shrinking
    suppress_health_check=list(HealthCheck),
    database=None,
)

FINDINGS = Findings()


def _hostile_pairs(draw, names: list[str], baseline: dict[str, str]) -> list[tuple[str, str]]:
    """For each field: its valid value, a hostile one, or nothing; sometimes repeated; sometimes an
    unknown field. Half the time one hostile value goes into every field chosen to be hostile (a long
    name, a NUL, a number past every integer type everywhere at once)."""
    atom = draw(st.one_of(st.none(), st.sampled_from(HOSTILE)))
    pairs: list[tuple[str, str]] = []
    for name in names:
        how = draw(st.sampled_from(("valid", "hostile", "hostile", "absent", "twice")))
        value = atom if atom is not None else draw(hostile_text)
        if how == "valid" and name in baseline:
            pairs.append((name, baseline[name]))
        elif how == "hostile":
            pairs.append((name, value))
        elif how == "twice":
            pairs += [(name, value), (name, baseline.get(name, ""))]
    if draw(st.booleans()):
        pairs.append((draw(hostile_text) or "x", draw(hostile_text)))
    return pairs


def _multipart(pairs: list[tuple[str, str]], files: tuple[str, ...], payload: bytes) -> tuple[bytes, str]:
    boundary = b"hostileboundary"

    def part(disposition: bytes, content: bytes) -> bytes:
        return b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + content + b"\r\n"

    parts = [part(b'name="' + _encode(k).replace(b'"', b"") + b'"\r\n\r\n', _encode(v)) for k, v in pairs]
    parts += [
        part(b'name="' + f.encode() + b'"; filename="x.csv"\r\nContent-Type: text/csv\r\n\r\n', payload)
        for f in files
    ]
    body = b"".join(parts) + b"--" + boundary + b"--\r\n"
    return body, "multipart/form-data; boundary=" + boundary.decode()


FILE_PAYLOADS = (
    b"name,architecture\nA1,x86_64\n",
    "name,architecture\nÄ1,x86_64\n".encode("latin-1"),
    b"\xff\xfe\x00\x00garbage",
    b"name,architecture,bmc_password\nA2,x86_64,p\xc3\xa4ss\n",
    b"name\x00,architecture\n\x00,\x00\n",
    b"",
)


def _property_for(name, case, path, query_names, post_names, clients):
    """The hypothesis property for one URL name: no request it is sent answers 5xx."""

    @PROPERTY
    @given(data=st.data())
    def run(data):
        role = data.draw(st.sampled_from(case.roles))
        client = clients[role]
        htmx = data.draw(st.booleans())
        if case.get:
            pairs = _hostile_pairs(data.draw, query_names, {})
            send(
                FINDINGS,
                name,
                client,
                "GET",
                f"{path}?{form_encode(pairs).decode()}",
                htmx=htmx,
                allowed=case.allowed,
            )
        if case.post is not None:
            pairs = _hostile_pairs(data.draw, post_names, case.post)
            if case.files and data.draw(st.booleans()):
                payload = data.draw(st.sampled_from(FILE_PAYLOADS))
                body, ctype = _multipart(pairs, case.files, payload)
            elif data.draw(st.integers(0, 9)) == 0:
                ctype, body = data.draw(st.sampled_from(MULTIPART_GARBAGE))
            else:
                body, ctype = form_encode(pairs), "application/x-www-form-urlencoded"
            send(
                FINDINGS,
                name,
                client,
                "POST",
                path,
                body=body,
                content_type=ctype,
                htmx=htmx,
                allowed=case.allowed,
            )

    return run


@pytest.fixture
def quiet_request_log():
    """4xx and 5xx are logged by django.request with a traceback each; thousands of them are noise here."""
    logger = logging.getLogger("django.request")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(previous)


@pytest.mark.django_db
def test_no_page_or_form_answers_a_server_error(estate, quiet_request_log):
    """GET every page (and its htmx partial) with hostile query strings; POST hostile values into every
    form field; send garbage bodies. Every distinct 5xx is listed in the failure."""
    got_request_exception.connect(_remember)
    clients = _clients(estate)
    fields = discovered_fields(estate, clients)
    started = time.monotonic()
    try:
        for name, case in COVERAGE.items():
            if os.environ.get("KENNEL_HOSTILE_ONLY", "") not in name:  # to debug one view
                continue
            path = reverse(name, kwargs=case.kwargs(estate))
            query_names = list(case.query) + sorted(fields.get((name, "get"), set()))
            post_names = sorted(set(case.post or {}) | fields.get((name, "post"), set()) | set(case.query))

            _property_for(name, case, path, query_names, post_names, clients)()
    finally:
        got_request_exception.disconnect(_remember)
    elapsed = time.monotonic() - started
    print(f"\nhostile input: {FINDINGS.requests} requests on {len(COVERAGE)} URL names in {elapsed:.1f} s")
    assert not FINDINGS.seen, f"{len(FINDINGS.seen)} distinct server errors:\n\n{FINDINGS.report()}"


# Path references: values the URL converters accept (ids: any run of ASCII digits; slugs and strings:
# any text) but that name nothing, or overflow every integer type.
PATH_VALUES = {
    "int": ("0", "2147483648", "9223372036854775808", "9" * 400, "9" * 5000),
    "slug": ("x", "-", "a" * 5000, "no-such-team"),
    "str": ("²", "abc", "%00", "x" * 5000, "..", "%F0%9F%90%B6"),
}
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


@pytest.mark.django_db
def test_odd_path_references_are_never_server_errors(estate, quiet_request_log):
    got_request_exception.connect(_remember)
    clients = _clients(estate)
    findings = Findings()
    try:
        for route, name in html_patterns():
            converters = _CONVERTER.findall(route)
            if not converters:
                continue
            case = COVERAGE[name]
            kwargs = case.kwargs(estate)
            for converter, arg in converters:
                for value in PATH_VALUES.get(converter or "str", PATH_VALUES["str"]):
                    path = "/" + _CONVERTER.sub(
                        lambda m, arg=arg, value=value, kwargs=kwargs: (
                            value if m.group(2) == arg else str(kwargs[m.group(2)])
                        ),
                        route,
                    )
                    for role in case.roles[:1]:
                        if case.get:
                            send(findings, name, clients[role], "GET", path, allowed=case.allowed)
                        if case.post is not None:
                            send(
                                findings, name, clients[role], "POST", path, body=b"x=1", allowed=case.allowed
                            )
    finally:
        got_request_exception.disconnect(_remember)
    print(f"\nodd path references: {findings.requests} requests")
    assert not findings.seen, f"{len(findings.seen)} distinct server errors:\n\n{findings.report()}"


@pytest.mark.skipif(not os.environ.get("KENNEL_HOSTILE_SWEEP"), reason="long: KENNEL_HOSTILE_SWEEP=1 runs it")
@pytest.mark.django_db
def test_sweep_every_hostile_value_through_every_field(estate, quiet_request_log):
    """Not in CI (minutes): each hostile value alone in each field and query parameter, the other
    fields valid, as the most and the least privileged role that reaches the view."""
    got_request_exception.connect(_remember)
    clients = _clients(estate)
    fields = discovered_fields(estate, clients)
    findings = Findings()
    only = os.environ.get("KENNEL_HOSTILE_ONLY", "")
    try:
        for name, case in COVERAGE.items():
            if only and only not in name:
                continue
            path = reverse(name, kwargs=case.kwargs(estate))
            for role in {case.roles[0], case.roles[-1]}:
                client = clients[role]
                if case.get:
                    for q in sorted(set(case.query) | fields.get((name, "get"), set())):
                        for value in HOSTILE:
                            query = form_encode([(q, value)]).decode()
                            send(findings, name, client, "GET", f"{path}?{query}", allowed=case.allowed)
                if case.post is not None:
                    for f in sorted(set(case.post) | fields.get((name, "post"), set())):
                        for value in HOSTILE:
                            pairs = [(k, v) for k, v in case.post.items() if k != f] + [(f, value)]
                            send(findings, name, client, "POST", path, body=form_encode(pairs))
                    for payload in FILE_PAYLOADS if case.files else ():
                        body, ctype = _multipart(list(case.post.items()), case.files, payload)
                        send(findings, name, client, "POST", path, body=body, content_type=ctype)
                    for ctype, body in MULTIPART_GARBAGE:
                        send(findings, name, client, "POST", path, body=body, content_type=ctype)
    finally:
        got_request_exception.disconnect(_remember)
    print(f"\nsweep: {findings.requests} requests")
    assert not findings.seen, f"{len(findings.seen)} distinct server errors:\n\n{findings.report()}"


def _form_classes() -> list[type[forms.BaseForm]]:
    for module in FORM_MODULES:
        importlib.import_module(module)
    found, todo = [], [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in APPS:
            found.append(cls)
    return found


APPS = ("portal", "provisioning", "inventory", "catalog", "quotas", "onboarding")
FORM_MODULES = [f"{app}.{m}" for app in APPS for m in ("forms", "views")] + [
    "provisioning.profile_views",
    "provisioning.cloudinit",
]


def _bounded(field: forms.Field, model_field=None) -> bool:
    if not isinstance(field, forms.IntegerField):
        return True
    validators = [*field.validators, *(model_field.validators if model_field is not None else [])]
    return any(isinstance(v, MaxValueValidator) for v in validators) and any(
        isinstance(v, MinValueValidator) for v in validators
    )


def test_every_integer_form_field_is_bounded():
    """A whole number in any form has a floor and a ceiling (the form's own or, in a model form, the
    model field's database range), so none overflows date arithmetic, a cloud API or PostgreSQL.
    Forms that add their fields at run time are instantiated too."""
    from django.apps import apps

    from provisioning.forms import LeaseExtendForm
    from quotas.forms import ApproveForm

    unbounded = []
    for cls in _form_classes():
        model = getattr(getattr(cls, "_meta", None), "model", None)
        for name, form_field in cls.base_fields.items():
            model_field = None
            if model is not None and name in {f.name for f in model._meta.get_fields()}:
                model_field = model._meta.get_field(name)
            if not _bounded(form_field, model_field):
                unbounded.append(f"{cls.__module__}.{cls.__name__}.{name}")
    for form in (LeaseExtendForm(), ApproveForm(keys=["cores", "instances", "ram_mb"])):
        unbounded += [f"{type(form).__name__}.{n}" for n, f in form.fields.items() if not _bounded(f)]
    assert apps.ready and len(_form_classes()) > 20
    assert not unbounded, f"integer fields without bounds: {unbounded}"
