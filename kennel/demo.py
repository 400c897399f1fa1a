"""The team's estate and people as demo data (see DEVELOPERS.md). Loaded by ``manage.py demo_load``.

Idempotent: every write goes through an upsert-style service that changes (and audits) only what
differs, so a second run writes nothing.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from inventory.models import ServerRole
from inventory.services import datacenter_upsert, server_bmc_set, server_upsert
from portal import services
from portal.architectures import Architecture
from portal.models import Membership, Role, Team, User


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    teams: tuple[tuple[str, str], ...] = ()  # (team slug, membership level)
    first_name: str = ""


DEMO_TEAMS = (
    ("alpha", "Team Alpha", "Builds and tests the x86_64 product line."),
    ("beta", "Team Beta", "Ports the product to IBM Power (ppc64le)."),
)

DEMO_USERS = (
    DemoUser("dev1", "dev1-kennel", Role.DEVELOPER, (("alpha", Membership.Level.LEAD),), "Dev One"),
    DemoUser(
        "dev2",
        "dev2-kennel",
        Role.DEVELOPER,
        (("beta", Membership.Level.LEAD), ("alpha", Membership.Level.MEMBER)),
        "Dev Two",
    ),
    DemoUser("manager", "manager-kennel", Role.MANAGER, (), "Mona Manager"),
    DemoUser("admin", "admin-kennel", Role.ADMIN, (), "Ada Admin"),
)

# The demo servers' BMCs, in the data file the emulators (``python -m bmcsim demo``) read too.
DEMO_ESTATE = Path(__file__).with_name("demo_estate.toml")


@dataclass(frozen=True)
class DemoBmc:
    """One demo server's emulated BMC, on loopback."""

    server: str
    protocol: str  # "ipmi" or "redfish"
    port: int
    username: str
    password: str
    powered_on: bool = True

    @property
    def address(self) -> str:
        """The address as Kennel stores it: the Redfish emulators speak plain HTTP."""
        return "http://127.0.0.1" if self.protocol == "redfish" else "127.0.0.1"


def demo_bmcs() -> dict[str, DemoBmc]:
    """The demo servers' BMCs by server name, from ``demo_estate.toml``."""
    with DEMO_ESTATE.open("rb") as estate:
        return {entry["server"]: DemoBmc(**entry) for entry in tomllib.load(estate)["bmc"]}


DEMO_DATACENTERS = (("dc1", "Data center 1"), ("dc2", "Data center 2"))

_X86 = {"architecture": Architecture.X86_64, "vendor": "Dell", "model": "PowerEdge R740"}
_P8 = {"architecture": Architecture.PPC64LE, "vendor": "IBM", "model": "Power System S822LC (8335-GTA)"}
DEMO_SERVERS = (
    ("X1", "dc1", _X86, [ServerRole.CONTROLLER, ServerRole.NETWORK, ServerRole.PROXY], "", "A01", 10),
    ("X2", "dc1", _X86, [ServerRole.COMPUTE], "x2", "A01", 12),
    ("X3", "dc1", _X86, [ServerRole.COMPUTE], "x3", "A01", 14),
    ("X4", "dc1", _X86, [ServerRole.COMPUTE], "x4", "A01", 16),
    ("X5", "dc1", _X86, [ServerRole.OUTSIDE], "", "A01", 18),
    ("P1", "dc2", _P8, [ServerRole.COMPUTE], "p1", "B03", 20),
    ("P2", "dc2", _P8, [ServerRole.OUTSIDE], "", "B03", 22),
)


@transaction.atomic
def demo_load() -> list[DemoUser]:
    """Create or bring up to date the demo teams, users and servers. Returns the demo users."""
    teams = {}
    for slug, name, description in DEMO_TEAMS:
        team = Team.objects.filter(slug=slug).first()
        teams[slug] = team or services.team_create(actor=None, name=name, slug=slug, description=description)
    for demo in DEMO_USERS:
        user = User.objects.filter(username=demo.username).first()
        if user is None:
            user = services.user_create(
                actor=None,
                username=demo.username,
                password=demo.password,
                role=demo.role,
                first_name=demo.first_name,
                email=f"{demo.username}@kennel.invalid",
            )
        elif user.role != demo.role:
            services.user_set_role(actor=None, user=user, role=demo.role, source="demo")
        for slug, level in demo.teams:
            services.membership_set(actor=None, team=teams[slug], user=user, level=level)
    datacenters = {
        code: datacenter_upsert(actor=None, code=code, name=name) for code, name in DEMO_DATACENTERS
    }
    bmcs = demo_bmcs()
    for index, (name, dc, kind, roles, hypervisor, rack, unit) in enumerate(DEMO_SERVERS, start=1):
        server = server_upsert(
            actor=None,
            name=name,
            fields={
                **kind,
                "datacenter": datacenters[dc],
                "roles": [str(r) for r in roles],
                "hypervisor_hostname": hypervisor,
                "rack": rack,
                "rack_unit": unit,
                "serial": f"KN{index:04d}{name}",
            },
        )
        # Each demo server's BMC is its emulator on loopback (``python -m bmcsim demo``, started by make run).
        bmc = bmcs[name]
        server_bmc_set(
            actor=None,
            server=server,
            protocol=bmc.protocol,
            address=bmc.address,
            port=bmc.port,
            username=bmc.username,
            password=bmc.password,
        )
    _demo_profile()
    _demo_blueprints()
    return list(DEMO_USERS)


# The team's network as the demo profile knows it (DEVELOPERS.md): Squid on X1, SSH out via proxytunnel.
DEMO_PROFILE_PARTS = (
    (
        "proxy",
        {
            "host": "proxy.dc1.example",
            "port": 3128,
            "no_proxy": "localhost\n127.0.0.1\n.dc1.example\n10.0.0.0/8",
        },
    ),
    ("proxytunnel", {"proxy_host": "proxy.dc1.example", "proxy_port": 3128, "host_patterns": "*"}),
    ("dns", {"nameservers": "10.0.0.53\n10.0.1.53", "search_domains": "dc1.example"}),
    (
        "yum_repo",
        {
            "repo_id": "team-base",
            "name": "Team mirror",
            "enabled": True,
            "baseurls": "x86_64 http://mirror.dc1.example/el9/x86_64/\nppc64le http://mirror.dc1.example/el9/ppc64le/",
        },
    ),
    ("user", {"name": "dev", "password": "dev-kennel", "sudo": True, "shell": "/bin/bash"}),
    ("packages", {"packages": "vim-enhanced\ngit"}),
)


def _demo_profile() -> None:
    """The team's standard profile, created once (an admin may edit it later; it is not overwritten)."""
    from provisioning import cloudinit
    from provisioning.models import Profile
    from provisioning.services import profile_save

    if Profile.objects.filter(name="dc1-standard").exists():
        return
    parts = []
    for kind, data in DEMO_PROFILE_PARTS:
        form = cloudinit.PART_FORMS[kind](data=data)
        if not form.is_valid():
            raise ValueError(f"demo profile part {kind}: {form.errors.as_text()}")
        parts.append(form.part())
    profile_save(
        actor=None,
        name="dc1-standard",
        parts=parts,
        is_active=True,
        description="Squid proxy, SSH via proxytunnel, DNS and yum mirror of data center 1; user dev.",
    )


def _demo_blueprints() -> None:
    """The blueprints Kennel ships (HTTP file server, Squid proxy, CI agent), as global blueprints."""
    from blueprints.services import blueprint_examples_load

    blueprint_examples_load(source="demo")


# The local cloud's images as the demo catalog offers them to developers (friendly names).
DEMO_IMAGE_NAMES = {
    "cirros-0.6-x86_64": "CirrOS 0.6",
    "cirros-0.6-ppc64le": "CirrOS 0.6",
    "centos-stream-9-x86_64": "CentOS Stream 9",
    "centos-stream-9-ppc64le": "CentOS Stream 9",
}


def demo_cloud_link() -> str | None:
    """Link the demo teams to the local cloud's same-named projects, mirror the catalog and offer
    its images. Returns None, or what went wrong (the cloud may still be starting)."""
    from portal.cloud.gateway import CloudError
    from provisioning.services import catalog_refresh
    from quotas.services import quota_sync

    try:
        for slug, _name, _description in DEMO_TEAMS:
            services.team_link_project(actor=None, team=Team.objects.get(slug=slug), project=slug)
        catalog_refresh()
        quota_sync()  # the teams' quota tables show at once, not after the first scheduled sync
    except CloudError as error:
        return str(error)
    _demo_catalog()
    return None


# A third demo team that Kennel onboards itself (alpha and beta are linked to projects the devcloud
# made): its chain runs in the worker `make run` starts, and its page shows the steps.
DEMO_ONBOARDED_TEAM = ("gamma", "Team Gamma", "Onboarded by Kennel: its own project, network and router.")
DEMO_QUOTA_TEMPLATE = ("demo-small", {"instances": 8, "cores": 16, "ram_mb": 32768, "floating_ips": 2})


def demo_onboard() -> bool:
    """Onboard Team Gamma once (dev1 lead, dev2 member) with the demo quota template; the worker does
    the cloud's part. ``manage.py demo_load`` calls it (tests that link the demo do not, so they leave
    no project behind). Returns whether it started the chain."""
    from onboarding.models import QuotaTemplate
    from onboarding.services import quota_template_save, team_onboard

    slug, name, description = DEMO_ONBOARDED_TEAM
    if Team.objects.filter(slug=slug).exists():
        return False
    admin = User.objects.get(username="admin")
    template_name, values = DEMO_QUOTA_TEMPLATE
    template = QuotaTemplate.objects.filter(name=template_name).first() or quota_template_save(
        actor=admin, name=template_name, values=values, description="Demo: a small team", source="demo"
    )
    team_onboard(
        actor=admin,
        name=name,
        slug=slug,
        description=description,
        leads=[User.objects.get(username="dev1")],
        members=[User.objects.get(username="dev2")],
        quota_template=template,
        source="demo",
    )
    return True


def _demo_catalog() -> None:
    """Offer the local cloud's images under friendly names, once: an image that already has a friendly
    name was set up before (an admin may since have withdrawn it, and that is not undone)."""
    from catalog.services import image_offer_set
    from provisioning.models import CloudImage

    for image in CloudImage.objects.filter(name__in=DEMO_IMAGE_NAMES, display_name=""):
        image_offer_set(actor=None, image=image, offered=True, display_name=DEMO_IMAGE_NAMES[image.name])


# The demo estate's history, made up so the manager's charts and the "when must we buy" forecast have
# something to show on a first run: per architecture (and its data center) the capacity of its compute
# hosts and a used amount that grows over the months with a weekly rhythm. Every sample is marked
# ``demo`` and the pages that show history say so; real samples replace them bucket by bucket.
DEMO_HISTORY_DAYS = 120
DEMO_HISTORY_HOURS = 7 * 24
# key: (scope, hosts, vCPU, RAM MB, disk GB capacity, share used at the start and now)
_DEMO_HISTORY = {
    "x86_64": ("architecture", 3, 576, 3 * 384 * 1024, 3 * 3500, 0.38, 0.74),
    "ppc64le": ("architecture", 1, 320, 512 * 1024, 4000, 0.20, 0.41),
    "Data center 1": ("datacenter", 3, 576, 3 * 384 * 1024, 3 * 3500, 0.38, 0.74),
    "Data center 2": ("datacenter", 1, 320, 512 * 1024, 4000, 0.20, 0.41),
}


def demo_history(*, now: datetime | None = None) -> int:
    """Load the demo estate's made-up utilization history once: a daily sample for each of the last
    DEMO_HISTORY_DAYS days and an hourly one for the last week, per architecture and data center, all
    marked as demo data. Does nothing when demo history is already there; a bucket that already has a
    sample (a real one) keeps it. Returns the number of samples written."""
    from inventory.models import UtilizationSample

    if UtilizationSample.objects.filter(demo=True).exists():
        return 0
    now = now or timezone.now()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    samples = []
    for key, figures in _DEMO_HISTORY.items():
        for day in range(DEMO_HISTORY_DAYS, 0, -1):
            at = today - timedelta(days=day)
            share = _demo_share(figures, day)
            samples.append(_demo_sample(key, figures, UtilizationSample.Resolution.DAY, at, share))
        for hour in range(DEMO_HISTORY_HOURS, 0, -1):
            at = this_hour - timedelta(hours=hour)
            daily = 0.04 * math.sin(2 * math.pi * (at.hour - 9) / 24)  # busier in working hours
            share = _demo_share(figures, hour / 24) + daily
            samples.append(_demo_sample(key, figures, UtilizationSample.Resolution.HOUR, at, share))
    written = UtilizationSample.objects.bulk_create(samples, ignore_conflicts=True)
    return len(written)


def _demo_share(figures: tuple, days_ago: float) -> float:
    """The share used ``days_ago``: a steady climb from the start's to today's, quieter at weekends
    (a 7-day wave of ±3%)."""
    start, end = figures[5], figures[6]
    trend = end - (end - start) * days_ago / DEMO_HISTORY_DAYS
    return max(trend + 0.03 * math.sin(2 * math.pi * days_ago / 7), 0.0)


def _demo_sample(key: str, figures: tuple, resolution: str, at: datetime, share: float):
    from inventory.models import UtilizationSample

    scope, hosts, vcpus, ram_mb, disk_gb = figures[:5]
    used_vcpus = round(vcpus * share)
    return UtilizationSample(
        resolution=resolution,
        scope=scope,
        key=key,
        at=at,
        demo=True,
        host_count=hosts,
        vm_count=used_vcpus // 2,
        vcpu_used=used_vcpus,
        vcpu_capacity=vcpus,
        memory_mb_used=round(ram_mb * min(share * 0.9 + 0.05, 1)),
        memory_mb_capacity=ram_mb,
        disk_gb_used=round(disk_gb * (0.1 + share * 0.4)),
        disk_gb_capacity=disk_gb,
    )
