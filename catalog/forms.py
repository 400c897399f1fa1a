"""Forms of the catalog's admin pages. Validation of what needs the mirror lives in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import ImageImport
from portal.architectures import Architecture
from portal.inputs import BoundedIntegerField
from portal.validators import validate_single_line


class ImageOfferForm(forms.Form):
    offered = forms.BooleanField(label=_("Offered to developers"), required=False)
    display_name = forms.CharField(
        label=_("Friendly name"), max_length=100, required=False, validators=[validate_single_line]
    )


class ImagePropertiesForm(forms.Form):
    architecture = forms.ChoiceField(
        label="hw_architecture", choices=[("", "—"), *Architecture.choices], required=False
    )
    os_distro = forms.CharField(
        label="os_distro", max_length=64, required=False, validators=[validate_single_line]
    )
    os_version = forms.CharField(
        label="os_version", max_length=64, required=False, validators=[validate_single_line]
    )
    machine_type = forms.CharField(
        label="hw_machine_type",
        max_length=32,
        required=False,
        help_text=_("ppc64le needs pseries; x86_64: pc or q35. Blank leaves it to the hypervisor."),
        validators=[validate_single_line],
    )
    min_disk_gb = BoundedIntegerField(label=_("min_disk (GB)"), min_value=0)
    min_ram_mb = BoundedIntegerField(label=_("min_ram (MB)"), min_value=0)


class FlavorOfferForm(forms.Form):
    offered = forms.BooleanField(label=_("Offered to developers"), required=False)


class ImageImportForm(forms.Form):
    file = forms.FileField(
        label=_("Disk file"),
        required=False,
        help_text=_("qcow2, raw, vmdk or vdi; streamed to disk on the portal host as it arrives."),
    )
    path = forms.CharField(
        label=_("Or a file on the portal host"),
        required=False,
        max_length=1024,
        help_text=_("Relative to the import directory, where it was copied with scp or rsync."),
        validators=[validate_single_line],
    )
    name = forms.CharField(label=_("Image name in Glance"), max_length=255, validators=[validate_single_line])
    display_name = forms.CharField(
        label=_("Friendly name"), max_length=100, required=False, validators=[validate_single_line]
    )
    architecture = forms.ChoiceField(label=_("Architecture"), choices=Architecture.choices)
    os_distro = forms.CharField(
        label="os_distro", max_length=64, required=False, validators=[validate_single_line]
    )
    os_version = forms.CharField(
        label="os_version", max_length=64, required=False, validators=[validate_single_line]
    )
    machine_type = forms.CharField(
        label="hw_machine_type",
        max_length=32,
        required=False,
        help_text=_("Blank: pseries for ppc64le, the hypervisor's default for x86_64."),
        validators=[validate_single_line],
    )
    min_disk_gb = BoundedIntegerField(label=_("min_disk (GB)"), min_value=0, initial=0)
    min_ram_mb = BoundedIntegerField(label=_("min_ram (MB)"), min_value=0, initial=0)
    target_format = forms.ChoiceField(
        label=_("Store as"), choices=ImageImport.TargetFormat.choices, initial=ImageImport.TargetFormat.QCOW2
    )
    offer = forms.BooleanField(label=_("Offer to developers once verified"), required=False)

    def clean(self):
        data = super().clean()
        if bool(data.get("file")) == bool((data.get("path") or "").strip()):
            raise forms.ValidationError(_("Upload a disk file or name one on the portal host, not both."))
        return data
