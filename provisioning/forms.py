"""The VM request form: architecture first, then only the images of it and the flavors that fit."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from portal.access import restrict
from portal.inputs import BoundedIntegerField, object_id
from portal.models import Team, User
from portal.validators import validate_single_line
from provisioning import cloudinit, selectors
from provisioning.models import CloudFlavor, CloudImage, Profile, SshKey
from provisioning.services.vm_requests import VM_COUNT_MAX

M = TypeVar("M", bound=Model)


def _chosen(queryset: QuerySet[M], value: object) -> M | None:
    """The row of ``queryset`` whose id the submitted ``value`` names, or None (not an id, or not in it)."""
    pk = object_id(value)
    return None if pk is None else queryset.filter(pk=pk).first()


class VmRequestForm(forms.Form):
    # The querysets depend on the person and on what was chosen: set in __init__.
    team: forms.ModelChoiceField[Team] = forms.ModelChoiceField(
        label=_("Team"), queryset=None, empty_label=None
    )
    architecture = forms.ChoiceField(label=_("Architecture"), widget=forms.RadioSelect)
    image: forms.ModelChoiceField[CloudImage] = forms.ModelChoiceField(label=_("Image"), queryset=None)
    flavor: forms.ModelChoiceField[CloudFlavor] = forms.ModelChoiceField(label=_("Flavor"), queryset=None)
    profile = forms.ModelChoiceField(
        label=_("Cloud-init profile"),
        queryset=Profile.objects.filter(is_active=True),
        required=False,
        empty_label=_("none"),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=63,
        help_text=_("Becomes the VM's host name."),
        validators=[validate_single_line],
    )
    count = BoundedIntegerField(
        label=_("How many"),
        min_value=1,
        max_value=VM_COUNT_MAX,
        initial=1,
        required=False,
        help_text=_(
            "More than one: named name-1, name-2 …; all fit within quota and capacity, or none is made."
        ),
    )
    ssh_keys = cloudinit.LineListField(
        label=_("Your SSH public keys"),
        required=False,
        max_items=20,
        item_validators=[cloudinit.validate_ssh_public_key],
        help_text=_("One per line; added to the default user."),
    )
    packages = cloudinit.LineListField(
        label=_("Extra packages"),
        required=False,
        max_items=50,
        item_validators=[cloudinit.validate_package_name],
        help_text=_("One per line."),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # The developer's imported keys go with every request unless they remove them here.
        self.fields["ssh_keys"].initial = "\n".join(
            restrict(user, SshKey.objects.all()).values_list("public_key", flat=True)
        )
        self.teams = selectors.teams_for_requests(user=user)
        self._choice_field("team").queryset = self.teams
        # A team's own images (snapshots) are offered for that team only.
        team = _chosen(self.teams, self.data.get("team")) or self.teams.first()
        arches = selectors.architecture_list()
        architectures = cast(forms.ChoiceField, self.fields["architecture"])
        architectures.choices = [(a.architecture, a.architecture) for a in arches]
        known = [a.architecture for a in arches]
        # Only a known architecture narrows the images; anything else (a NUL included) narrows to none.
        architecture = self.data.get("architecture")
        if architecture not in known:
            architecture = known[0] if len(known) == 1 else None
        images = selectors.image_list(user=user, architecture=architecture or "-", team=team)
        self._choice_field("image").queryset = images
        image = _chosen(images, self.data.get("image"))
        self.flavors = (
            selectors.flavor_list(user=user, image=image)
            if image
            else (selectors.flavor_list(user=user).none())
        )
        self._choice_field("flavor").queryset = self.flavors
        self.selected_image = image

    def _choice_field(self, name: str) -> forms.ModelChoiceField[Any]:
        """One of the form's model choice fields (``self.fields`` holds them as plain Fields to the type
        checker)."""
        return cast("forms.ModelChoiceField[Any]", self.fields[name])

    def flavor_choices_with_room(self) -> list[selectors.FlavorRoom]:
        """How many of each flavor fit for the chosen image: on its architecture's hosts and within the
        chosen team's quota."""
        if self.selected_image is None:
            return []
        team = _chosen(self.teams, self.data.get("team")) or self.teams.first()
        return selectors.flavor_room(
            flavors=self.flavors,
            architecture=self.selected_image.architecture,
            team=team,
        )


class LeaseExtendForm(forms.Form):
    """Days to add to a VM's lease: a whole number up to the lease limit, never one that would overflow
    the date arithmetic (the service checks the limit against today's date again)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"] = BoundedIntegerField(
            label=_("Days"),
            min_value=1,
            max_value=settings.KENNEL_VM_LEASE_MAX_DAYS,
            error_messages={
                "min_value": _("Extend by at least one day."),
                "max_value": _("A lease can reach at most %(limit_value)s days from today."),
            },
        )
