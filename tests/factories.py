"""factory_boy factories for every model tests make directly, one section per app.

A factory fills in what a test does not care about, so a test spells out only what it is about
(``VmRequestFactory(team=team, vcpus=8, status=VmRequest.Status.DELETED)``). They write rows straight
to the database: a test of a service's behaviour goes through the service instead."""

from __future__ import annotations

from datetime import UTC, datetime

import factory
from django.utils import timezone

from catalog.models import ImageImport
from inventory.models import (
    DataCenter,
    HardwareState,
    PowerRequest,
    Server,
    ServerDrain,
    ServerRole,
    UtilizationSample,
)
from onboarding.models import CloudAccount, Onboarding, OnboardingStep, QuotaTemplate
from portal.architectures import Architecture
from portal.models import Membership, Role, Team, User
from provisioning.models import CloudHost, UnmanagedServer, VmRequest
from quotas.models import QuotaRule, TeamQuota

PASSWORD = "correct-horse-battery"

# --- People and teams (portal) ------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.DEVELOPER
    password = factory.django.Password(PASSWORD)


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    level = Membership.Level.MEMBER


# --- Physical servers (inventory) ---------------------------------------------------------------------


class DataCenterFactory(factory.django.DjangoModelFactory[DataCenter]):
    class Meta:
        model = DataCenter
        django_get_or_create = ("code",)

    code = "dc1"
    name = "Data center 1"


class ServerFactory(factory.django.DjangoModelFactory[Server]):
    class Meta:
        model = Server

    name = factory.Sequence(lambda n: f"S{n}")
    architecture = Architecture.X86_64
    datacenter = factory.SubFactory(DataCenterFactory)
    roles = factory.LazyFunction(lambda: [ServerRole.OUTSIDE.value])


class HardwareStateFactory(factory.django.DjangoModelFactory[HardwareState]):
    """What the last BMC poll saw: by default an answering server, on and healthy, polled now."""

    class Meta:
        model = HardwareState

    server = factory.SubFactory(ServerFactory)
    power_state = "on"
    health = "ok"
    reachable = True
    polled_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.SelfAttribute("polled_at")


class PowerRequestFactory(factory.django.DjangoModelFactory[PowerRequest]):
    """A power action as a row (queued unless said otherwise), without the service's checks."""

    class Meta:
        model = PowerRequest

    server = factory.SubFactory(ServerFactory)
    action = "on"
    reason = "r"
    requested_by = factory.SubFactory(UserFactory, role=Role.ADMIN)


class ServerDrainFactory(factory.django.DjangoModelFactory[ServerDrain]):
    class Meta:
        model = ServerDrain

    server = factory.SubFactory(ServerFactory)
    status = ServerDrain.Status.DRAINED
    reason = "r"
    requested_by = factory.SubFactory(UserFactory, role=Role.ADMIN)
    requested_at = factory.LazyFunction(timezone.now)


class UtilizationSampleFactory(factory.django.DjangoModelFactory[UtilizationSample]):
    """One 5-minute sample of x86_64 by default; ``build()`` them for ``bulk_create``."""

    class Meta:
        model = UtilizationSample

    resolution = UtilizationSample.Resolution.FIVE_MINUTES
    scope = UtilizationSample.Scope.ARCHITECTURE
    key = "x86_64"
    at = factory.LazyFunction(lambda: datetime(2026, 1, 1, tzinfo=UTC))
    host_count = 1
    vm_count = 1
    vcpu_used = 0
    vcpu_capacity = 0
    memory_mb_used = 0
    memory_mb_capacity = 0
    disk_gb_used = 0
    disk_gb_capacity = 0


# --- VMs and the cloud mirror (provisioning) ----------------------------------------------------------


class VmRequestFactory(factory.django.DjangoModelFactory[VmRequest]):
    """A VM as a row, past the request service (no quota check, no build): for reads, pages and
    counts. A test of the life cycle submits through ``provisioning.services`` instead."""

    class Meta:
        model = VmRequest

    team = factory.SubFactory(TeamFactory)
    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"vm{n}")
    architecture = Architecture.X86_64
    image_name = "cirros"
    flavor_name = "m1.tiny"
    vcpus = 1
    ram_mb = 512
    disk_gb = 1
    status = VmRequest.Status.ACTIVE


class UnmanagedServerFactory(factory.django.DjangoModelFactory[UnmanagedServer]):
    """A server the mirror found in the cloud that no Kennel request made."""

    class Meta:
        model = UnmanagedServer

    server_id = factory.Sequence(lambda n: f"unmanaged-{n}")
    name = factory.Sequence(lambda n: f"stray{n}")
    project_id = "p"
    status = "ACTIVE"
    seen_at = factory.LazyFunction(timezone.now)


class CloudHostFactory(factory.django.DjangoModelFactory[CloudHost]):
    class Meta:
        model = CloudHost

    name = factory.Sequence(lambda n: f"host{n}")
    architecture = Architecture.X86_64
    state = "up"
    status = "enabled"
    seen_at = factory.LazyFunction(timezone.now)


# --- Quotas --------------------------------------------------------------------------------------------


class TeamQuotaFactory(factory.django.DjangoModelFactory[TeamQuota]):
    class Meta:
        model = TeamQuota

    team = factory.SubFactory(TeamFactory)
    key = "instances"
    limit = 10


class QuotaRuleFactory(factory.django.DjangoModelFactory[QuotaRule]):
    class Meta:
        model = QuotaRule
        django_get_or_create = ("key",)

    key = "cores"


# --- Teams' cloud side (onboarding) -------------------------------------------------------------------


class QuotaTemplateFactory(factory.django.DjangoModelFactory[QuotaTemplate]):
    class Meta:
        model = QuotaTemplate

    name = factory.Sequence(lambda n: f"template-{n}")
    values = factory.LazyFunction(lambda: {"instances": 5, "cores": 12, "ram_mb": 24576, "floating_ips": 3})


class OnboardingFactory(factory.django.DjangoModelFactory[Onboarding]):
    """An onboarding as a row (queued unless said otherwise), without running its chain."""

    class Meta:
        model = Onboarding

    team = factory.SubFactory(TeamFactory)
    requested_by = factory.SubFactory(UserFactory, role=Role.ADMIN)


class OnboardingStepFactory(factory.django.DjangoModelFactory[OnboardingStep]):
    class Meta:
        model = OnboardingStep

    onboarding = factory.SubFactory(OnboardingFactory)
    phase = OnboardingStep.Phase.ONBOARD
    name = OnboardingStep.Name.PROJECT
    position = 0


class CloudAccountFactory(factory.django.DjangoModelFactory[CloudAccount]):
    """A person's Keystone user, as onboarding records it."""

    class Meta:
        model = CloudAccount

    user = factory.SubFactory(UserFactory)
    keystone_name = factory.LazyAttribute(lambda a: a.user.username)
    keystone_user_id = factory.Sequence(lambda n: f"keystone-{n}")
    created_by_kennel = True


# --- Disk imports (catalog) ---------------------------------------------------------------------------


class ImageImportFactory(factory.django.DjangoModelFactory[ImageImport]):
    class Meta:
        model = ImageImport

    name = factory.Sequence(lambda n: f"import-{n}")
    architecture = Architecture.X86_64
    source = ImageImport.Source.PATH
    source_path = "disk.qcow2"
    requested_by = factory.SubFactory(UserFactory, role=Role.ADMIN)
