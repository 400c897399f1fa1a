"""A team's footprint in the cloud: the chain that builds it, the chain that removes it, the members'
Keystone accounts, the private subnets handed out, and the admins' quota templates.

An ``Onboarding`` is an explicit state machine over a fixed list of steps (``OnboardingStep`` rows);
each step records the ids of what it made before the next step starts, so a retry looks them up and
skips what exists. The same row later carries the offboarding chain, whose steps remove it all.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.models import Team
from portal.stored_messages import message_text
from portal.validators import validate_single_line, validate_text
from quotas.dimensions import QUOTA_VALUE_MAX, dimension


class QuotaTemplate(models.Model):
    """Named quota limits an admin picks when onboarding a team, in Kennel's dimension names
    (``instances``, ``cores``, ``ram_mb``, ``floating_ips``, ``cores:ppc64le`` ...)."""

    name = models.CharField(_("name"), max_length=64, unique=True, validators=[validate_single_line])
    description = models.TextField(_("description"), blank=True, validators=[validate_text])
    values = models.JSONField(_("limits"), default=dict)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("quota template")
        verbose_name_plural = _("quota templates")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.values, dict) or not self.values:
            raise ValidationError({"values": _("Give at least one limit.")})
        errors = []
        for key, value in self.values.items():
            try:
                dimension(key)
            except ValueError:
                errors.append(_("%(key)s is not a quota dimension.") % {"key": key})
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= QUOTA_VALUE_MAX:
                errors.append(
                    _("%(key)s: give a whole number, 0 to %(max)s.") % {"key": key, "max": QUOTA_VALUE_MAX}
                )
        if errors:
            raise ValidationError({"values": errors})


class Onboarding(models.Model):
    """The cloud side of one team, made and removed by Kennel.

    queued → running → done | failed; failed → queued (retry: the failed step resumes, done steps are
    skipped); done → queued (run again: every step finds its resources and changes nothing, or repairs
    what drifted). done | failed → offboard_queued → offboarding → offboarded | offboard_failed;
    offboard_failed → offboard_queued. A worker holds the row with ``claim`` while it works; a hold
    without a heartbeat for a while is taken over.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Onboarding in progress")
        DONE = "done", _("Onboarded")
        FAILED = "failed", _("Onboarding failed")
        OFFBOARD_QUEUED = "offboard_queued", _("Offboarding: waiting for a worker")
        OFFBOARDING = "offboarding", _("Offboarding in progress")
        OFFBOARD_FAILED = "offboard_failed", _("Offboarding failed")
        OFFBOARDED = "offboarded", _("Offboarded")

    # The explicit transitions; services refuse anything else.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        State.QUEUED: (State.RUNNING,),
        State.RUNNING: (State.DONE, State.FAILED),
        State.FAILED: (State.QUEUED, State.OFFBOARD_QUEUED),
        State.DONE: (State.QUEUED, State.OFFBOARD_QUEUED),
        State.OFFBOARD_QUEUED: (State.OFFBOARDING,),
        State.OFFBOARDING: (State.OFFBOARDED, State.OFFBOARD_FAILED),
        State.OFFBOARD_FAILED: (State.OFFBOARD_QUEUED,),
        State.OFFBOARDED: (),
    }
    WORKING = (State.QUEUED, State.RUNNING, State.OFFBOARD_QUEUED, State.OFFBOARDING)
    FINISHED = (State.DONE, State.FAILED, State.OFFBOARD_FAILED, State.OFFBOARDED)

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="onboarding")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    quota_template = models.ForeignKey(
        QuotaTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="onboardings"
    )
    # The template's limits when the chain started: editing the template later changes no team.
    quota_values = models.JSONField(_("quota"), default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.QUEUED, db_index=True
    )
    message = models.TextField(_("message"), blank=True)  # in English, as stored
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    claim = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Where members' openstack clients find the cloud, read by the worker at the project step.
    auth_url = models.CharField(max_length=255, blank=True)
    region_name = models.CharField(max_length=64, blank=True)
    interface = models.CharField(max_length=16, blank=True)
    offboard_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Membership changes after onboarding: when the project's role assignments last matched, or why not.
    roles_synced_at = models.DateTimeField(_("roles in sync at"), null=True, blank=True)
    roles_message = models.TextField(_("role sync problem"), blank=True)  # in English, as stored
    roles_message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("onboarding")
        verbose_name_plural = _("onboardings")

    def __str__(self) -> str:
        return f"{self.team}: {self.state}"

    @property
    def message_text(self) -> str:
        """The message in the reader's language (``portal.stored_messages``)."""
        return message_text(self.message_ref, self.message)

    @property
    def roles_message_text(self) -> str:
        return message_text(self.roles_message_ref, self.roles_message)

    @property
    def working(self) -> bool:
        return self.state in self.WORKING

    @property
    def badge(self) -> str:
        """The status colour the pages use (the house's badge classes)."""
        if self.state in (self.State.FAILED, self.State.OFFBOARD_FAILED):
            return "failed"
        return {self.State.DONE: "active", self.State.OFFBOARDED: "deleted"}.get(
            self.State(self.state), "queued"
        )

    @property
    def offboarding(self) -> bool:
        return self.state in (
            self.State.OFFBOARD_QUEUED,
            self.State.OFFBOARDING,
            self.State.OFFBOARD_FAILED,
            self.State.OFFBOARDED,
        )

    @property
    def phase(self) -> str:
        return OnboardingStep.Phase.OFFBOARD if self.offboarding else OnboardingStep.Phase.ONBOARD


class OnboardingStep(models.Model):
    """One step of a chain: its status, what it made (ids) or removed, and why it failed."""

    class Phase(models.TextChoices):
        ONBOARD = "onboard", _("Onboarding")
        OFFBOARD = "offboard", _("Offboarding")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Name(models.TextChoices):
        PROJECT = "project", _("Keystone project")
        PORTAL_ACCESS = "portal_access", _("The portal's admin role in the project")
        MEMBERS = "members", _("Members' cloud accounts and roles")
        NETWORK = "network", _("Private network")
        SUBNET = "subnet", _("Subnet")
        ROUTER = "router", _("Router to the external network")
        ROUTER_INTERFACE = "router_interface", _("Router interface on the subnet")
        SECURITY_GROUP = "security_group", _("Default security group rules (SSH, ICMP)")
        QUOTA = "quota", _("Quota template")
        SERVERS = "servers", _("Delete the team's VMs")
        FLOATING_IPS = "floating_ips", _("Release floating IPs")
        ROUTERS = "routers", _("Remove routers")
        NETWORKS = "networks", _("Remove subnets and networks")
        SECURITY_GROUPS = "security_groups", _("Remove security groups")
        ACCOUNTS = "accounts", _("Remove members' roles and Kennel-made accounts")
        PROJECT_DELETE = "project_delete", _("Delete the Keystone project")
        RELEASE = "release", _("Release the subnet range and the team's cloud link")

    onboarding = models.ForeignKey(Onboarding, on_delete=models.CASCADE, related_name="steps")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    name = models.CharField(_("step"), max_length=32, choices=Name.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    resources = models.JSONField(_("resources"), default=dict, blank=True)
    message = models.TextField(_("message"), blank=True)  # in English, as stored
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["onboarding", "phase", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["onboarding", "phase", "name"], name="one_step_of_a_kind_per_chain"
            )
        ]
        verbose_name = _("onboarding step")
        verbose_name_plural = _("onboarding steps")

    def __str__(self) -> str:
        return f"{self.onboarding_id} {self.phase}/{self.name}: {self.status}"

    @property
    def message_text(self) -> str:
        """The message in the reader's language (``portal.stored_messages``)."""
        return message_text(self.message_ref, self.message)

    @property
    def resource_lines(self) -> list[tuple[str, str]]:
        """What the step recorded, for people: (key, value) with lists and maps flattened, empty and
        bookkeeping entries left out."""
        lines = []
        for key, value in self.resources.items():
            if key == "creating" or value in (None, "", [], {}, False):
                continue
            if isinstance(value, dict):
                text = ", ".join(f"{k}={v}" for k, v in value.items())
            elif isinstance(value, list):
                text = ", ".join(" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in value)
            else:
                text = str(value)
            lines.append((key.replace("_", " "), text))
        return lines


class CloudAccount(models.Model):
    """A portal user's Keystone user: one Kennel created (named after the portal user), or one that
    already existed under that name and is only mapped. Kennel sets passwords and deletes users only
    for the ones it created. The new password of a reset lives here encrypted until its owner has
    seen it once (or it expires)."""

    class Password(models.TextChoices):
        NONE = "none", _("Not set by Kennel")
        SETTING = "setting", _("Being set")
        READY = "ready", _("Set; not shown yet")
        SHOWN = "shown", _("Set and shown")
        FAILED = "failed", _("Could not be set")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cloud_account"
    )
    keystone_name = models.CharField(_("cloud user name"), max_length=255)
    keystone_user_id = models.CharField(_("cloud user id"), max_length=64, blank=True, db_index=True)
    # Set before Kennel asks Keystone to create the user, so a lost answer is recognised as Kennel's.
    created_by_kennel = models.BooleanField(_("created by Kennel"), default=False)
    password_state = models.CharField(max_length=8, choices=Password.choices, default=Password.NONE)
    password_ciphertext = models.TextField(blank=True)
    password_message = models.TextField(blank=True)  # in English, as stored
    password_message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    password_set_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["keystone_name"]
        verbose_name = _("cloud account")
        verbose_name_plural = _("cloud accounts")

    def __str__(self) -> str:
        return self.keystone_name

    @property
    def password_message_text(self) -> str:
        return message_text(self.password_message_ref, self.password_message)


class SubnetAllocation(models.Model):
    """A private subnet range handed to one team, from KENNEL_TENANT_CIDR_POOL. The unique ``cidr``
    backs up the allocation lock: two teams can never hold the same range."""

    cidr = models.CharField(_("range"), max_length=43, unique=True)
    onboarding = models.OneToOneField(Onboarding, on_delete=models.CASCADE, related_name="subnet_allocation")
    created_at = models.DateTimeField(_("allocated"), auto_now_add=True)

    class Meta:
        ordering = ["cidr"]
        verbose_name = _("subnet allocation")
        verbose_name_plural = _("subnet allocations")

    def __str__(self) -> str:
        return self.cidr


class OrphanCheck(models.Model):
    """One look for what no team accounts for: resources of deleted projects, projects Kennel made
    that no team links, Kennel-made users without a team, role assignments Kennel did not make."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    findings = models.JSONField(default=list, blank=True)  # [{kind, id, name, project_id, reason}]
    message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("asked"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("orphan check")
        verbose_name_plural = _("orphan checks")

    def __str__(self) -> str:
        return f"orphan check #{self.pk}: {self.state}"


class SecurityRule(models.Model):
    """One rule letting traffic in to a team's VMs: an ingress rule of the ``default`` security group of
    the team's project (the group every VM Kennel builds is in). Rows are Neutron's rules as a worker
    last listed them (``state`` active), or a lead's change on its way: ``adding`` until a worker made
    it in Neutron, ``removing`` until a worker deleted it, ``failed`` with the reason.

    ``protocol`` empty means any protocol; ``port_min``/``port_max`` only for tcp and udp (none: every
    port); ``remote_cidr`` empty with ``remote_group`` set means the team's own VMs (Neutron's default
    rules), both empty means from anywhere."""

    class Protocol(models.TextChoices):
        TCP = "tcp", _("TCP")
        UDP = "udp", _("UDP")
        ICMP = "icmp", _("ICMP (ping)")

    class State(models.TextChoices):
        ACTIVE = "active", _("in force")
        ADDING = "adding", _("being added")
        REMOVING = "removing", _("being removed")
        FAILED = "failed", _("failed")

    PORTED = (Protocol.TCP, Protocol.UDP)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="security_rules")
    cloud_id = models.CharField(_("Neutron rule id"), max_length=64, blank=True)
    security_group_id = models.CharField(_("security group id"), max_length=64, blank=True)
    protocol = models.CharField(_("protocol"), max_length=16, blank=True, choices=Protocol.choices)
    port_min = models.PositiveIntegerField(_("first port"), null=True, blank=True)
    port_max = models.PositiveIntegerField(_("last port"), null=True, blank=True)
    ethertype = models.CharField(_("IP version"), max_length=8, default="IPv4")
    remote_cidr = models.CharField(_("from (CIDR)"), max_length=64, blank=True)
    remote_group = models.BooleanField(_("from the team's own VMs"), default=False)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.ACTIVE)
    error = models.TextField(_("error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed"), auto_now_add=True)
    seen_at = models.DateTimeField(_("seen in Neutron"), null=True, blank=True)

    class Meta:
        ordering = ["team", "protocol", "port_min", "remote_cidr", "pk"]
        verbose_name = _("security group rule")
        verbose_name_plural = _("security group rules")
        constraints = [
            models.UniqueConstraint(
                fields=["cloud_id"], condition=~models.Q(cloud_id=""), name="security_rule_cloud_id_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.describe()}"

    @property
    def world(self) -> bool:
        """Open to every address (0.0.0.0/0 or ::/0, or no source at all)."""
        return not self.remote_group and self.remote_cidr in ("", "0.0.0.0/0", "::/0")

    @property
    def covers_ssh(self) -> bool:
        return self.covers(self.Protocol.TCP, 22)

    def covers(self, protocol: str, port: int) -> bool:
        """Whether the rule lets ``protocol`` traffic to ``port`` in (any protocol and every port
        included)."""
        if self.protocol not in ("", protocol):
            return False
        low, high = self.port_min or 1, self.port_max or 65535
        return low <= port <= high

    @property
    def pending(self) -> bool:
        return self.state in (self.State.ADDING, self.State.REMOVING)

    def ports_display(self) -> str:
        if self.protocol not in self.PORTED:
            return ""
        if self.port_min is None:
            return str(_("every port"))
        if self.port_min == self.port_max:
            return str(self.port_min)
        return f"{self.port_min}-{self.port_max}"

    def describe(self) -> str:
        """The rule in plain words, e.g. "TCP port 22 from 10.0.0.0/8"."""
        what = self.get_protocol_display() if self.protocol else str(_("Any protocol"))
        ports = self.ports_display()
        if self.remote_group:
            source = str(_("the team's own VMs"))
        elif self.world:
            source = str(_("anywhere")) + (f" ({self.remote_cidr})" if self.remote_cidr else "")
        else:
            source = self.remote_cidr
        if ports:
            return str(_("%(what)s port %(ports)s from %(source)s")) % {
                "what": what,
                "ports": ports,
                "source": source,
            }
        return str(_("%(what)s from %(source)s")) % {"what": what, "source": source}

    def clean(self) -> None:
        import ipaddress

        errors: dict[str, object] = {}
        if self.protocol and self.protocol not in self.Protocol.values:
            errors["protocol"] = _("Choose TCP, UDP or ICMP.")
        if self.protocol in self.PORTED:
            if self.port_min is None and self.port_max is not None:
                self.port_min = self.port_max
            if self.port_max is None and self.port_min is not None:
                self.port_max = self.port_min
            for name in ("port_min", "port_max"):
                value = getattr(self, name)
                if value is not None and not 1 <= value <= 65535:
                    errors[name] = _("A port is a number from 1 to 65535.")
            if (
                not errors
                and self.port_min is not None
                and self.port_max is not None
                and self.port_min > self.port_max
            ):
                errors["port_max"] = _("The last port must not be below the first.")
        elif self.port_min is not None or self.port_max is not None:
            errors["port_min"] = _("Only TCP and UDP rules have ports.")
        if self.remote_cidr:
            try:
                network = ipaddress.ip_network(self.remote_cidr, strict=True)
            except ValueError:
                try:
                    loose = ipaddress.ip_network(self.remote_cidr, strict=False)
                except ValueError:
                    errors["remote_cidr"] = _("Write a network as address/prefix, e.g. 10.0.0.0/8.")
                else:
                    errors["remote_cidr"] = _("%(given)s has host bits set: did you mean %(network)s?") % {
                        "given": self.remote_cidr,
                        "network": loose,
                    }
            else:
                self.remote_cidr = str(network)
                self.ethertype = "IPv6" if network.version == 6 else "IPv4"
        if errors:
            raise ValidationError(errors)
