"""Forms of the blueprint and service pages; each page's service does the checking."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from blueprints.documents import DOCUMENT_MAX_BYTES
from blueprints.models import BlueprintVersion
from blueprints.services import SERVICE_MAX_VMS
from blueprints.spec import LIST_TYPES, spec_parameters
from portal.models import Team, User
from portal.validators import validate_single_line


class BlueprintImportForm(forms.Form):
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("Global (admins only)")
    )
    document = forms.CharField(
        label=_("Blueprint (YAML)"),
        max_length=DOCUMENT_MAX_BYTES,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 20, "spellcheck": "false"}),
        help_text=_("A document as exported; a new version of the blueprint of that name is stored."),
    )
    note = forms.CharField(
        label=_("What changed"), max_length=300, required=False, validators=[validate_single_line]
    )

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


def _count_fields(form: forms.Form, architectures: list[str], initial: dict[str, int]) -> None:
    for arch in architectures:
        form.fields[f"count_{arch}"] = forms.IntegerField(
            label=_("VMs on %(arch)s") % {"arch": arch},
            min_value=0,
            max_value=SERVICE_MAX_VMS,
            initial=initial.get(arch, 0),
        )


def counts_of(form: forms.Form) -> dict[str, int]:
    return {
        name.removeprefix("count_"): value
        for name, value in form.cleaned_data.items()
        if name.startswith("count_") and value
    }


class ServiceDeployForm(forms.Form):
    """A service's name, how many VMs per architecture, its parameters (checked by the service, by type)
    and its maintainers."""

    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none())
    name = forms.CharField(label=_("Service name"), max_length=40, validators=[validate_single_line])

    def __init__(self, *args: Any, version: BlueprintVersion, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        _count_fields(self, version.architectures, {arch: 1 for arch in version.architectures})
        for parameter in spec_parameters(version.spec):
            default = parameter.default
            if isinstance(default, list):
                default = " ".join(default)
            self.fields[f"param_{parameter.name}"] = forms.CharField(
                label=parameter.label or parameter.name,
                required=False,
                max_length=4000,
                initial=default,
                help_text=parameter.help
                or (_("Names separated by spaces.") if parameter.type in LIST_TYPES else ""),
            )
        self.fields["maintainers"] = forms.ModelMultipleChoiceField(
            label=_("Maintainers"),
            queryset=User.objects.filter(memberships__team__in=teams, is_active=True).distinct(),
            required=False,
        )

    def parameters(self) -> dict[str, Any]:
        return {
            name.removeprefix("param_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("param_") and value != ""
        }


class ServiceScaleForm(forms.Form):
    def __init__(self, *args: Any, architectures: list[str], counts: dict[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _count_fields(self, architectures, counts)


class ServiceUpgradeForm(forms.Form):
    version = forms.ModelChoiceField(label=_("Version"), queryset=BlueprintVersion.objects.none())

    def __init__(self, *args: Any, versions: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = versions
