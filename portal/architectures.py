"""The CPU architectures of the cloud's hosts, images, flavors and VMs: one list for every app."""

from django.db import models


class Architecture(models.TextChoices):
    X86_64 = "x86_64", "x86_64"
    PPC64LE = "ppc64le", "ppc64le"
    PPC64 = "ppc64", "ppc64"
    AARCH64 = "aarch64", "aarch64"
