"""Physical servers and the data centers they stand in, whether OpenStack runs on them or not."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Architecture(models.TextChoices):
    X86_64 = "x86_64", "x86_64"
    PPC64LE = "ppc64le", "ppc64le"
    PPC64 = "ppc64", "ppc64"
    AARCH64 = "aarch64", "aarch64"


class ServerRole(models.TextChoices):
    CONTROLLER = "controller", _("Controller")
    NETWORK = "network", _("Network node")
    COMPUTE = "compute", _("Compute")
    PROXY = "proxy", _("HTTP/SSH proxy")
    OUTSIDE = "outside", _("Outside OpenStack")


class DataCenter(models.Model):
    """A site holding racks of servers."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["code"]
        verbose_name = _("data center")
        verbose_name_plural = _("data centers")

    def __str__(self) -> str:
        return self.name


class Server(models.Model):
    """One physical machine. ``hypervisor_hostname`` links it to Nova's compute host of that name."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    architecture = models.CharField(_("architecture"), max_length=16, choices=Architecture.choices)
    datacenter = models.ForeignKey(
        DataCenter, on_delete=models.PROTECT, related_name="servers", verbose_name=_("data center")
    )
    vendor = models.CharField(_("vendor"), max_length=64, blank=True)
    model = models.CharField(_("model"), max_length=64, blank=True)
    serial = models.CharField(_("serial number"), max_length=64, blank=True)
    rack = models.CharField(_("rack"), max_length=32, blank=True)
    rack_unit = models.PositiveSmallIntegerField(_("rack unit"), null=True, blank=True)
    roles = models.JSONField(_("roles"), default=list, blank=True)
    hypervisor_hostname = models.CharField(_("hypervisor host name"), max_length=255, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("server")
        verbose_name_plural = _("servers")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.roles, list) or any(r not in ServerRole.values for r in self.roles):
            raise ValidationError(
                {"roles": _("Roles must be a list of: %(roles)s") % {"roles": ", ".join(ServerRole.values)}}
            )
        if ServerRole.OUTSIDE in self.roles and len(self.roles) > 1:
            raise ValidationError({"roles": _("A server outside OpenStack has no OpenStack role.")})
        if ServerRole.COMPUTE in self.roles and not self.hypervisor_hostname:
            raise ValidationError(
                {"hypervisor_hostname": _("A compute server needs its hypervisor host name.")}
            )

    @property
    def in_openstack(self) -> bool:
        return ServerRole.OUTSIDE not in self.roles

    def role_labels(self) -> list[str]:
        return [str(ServerRole(r).label) for r in self.roles]
