"""Quota forms: one number field per dimension (blank: leave as is), and the decision forms."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.inputs import INTEGER_MAX, BoundedIntegerField
from portal.validators import validate_single_line, validate_text
from quotas.dimensions import PER_ARCHITECTURE, arch_key, base_dimensions, dimension
from quotas.models import QuotaRule


def field_name(key: str) -> str:
    return "dim_" + key.replace(":", "__")


def key_of(name: str) -> str:
    return name.removeprefix("dim_").replace("__", ":")


class DimensionValuesForm(forms.Form):
    """New limits for some dimensions. The service checks them (usage, ceilings, hardware); its errors
    come back onto the fields by ``portal.refusals.form_add_refusal(form, error, field_of=field_name)``."""

    def __init__(self, *args, keys: Iterable[str], initial_values: dict[str, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        initial_values = initial_values or {}
        for key in keys:
            d = dimension(key)
            # Negative values pass to the service, which says why they are refused; absurd ones stop here.
            self.fields[field_name(key)] = BoundedIntegerField(
                label=f"{d.label} ({d.unit})" if d.unit else d.label,
                required=False,
                initial=initial_values.get(key),
                min_value=-INTEGER_MAX - 1,
            )

    def dimension_fields(self):
        return [self[name] for name in self.fields if name.startswith("dim_")]

    def values(self) -> dict[str, int]:
        return {
            key_of(name): value
            for name, value in self.cleaned_data.items()
            if name.startswith("dim_") and value is not None
        }


class QuotaRequestForm(DimensionValuesForm):
    reason = forms.CharField(
        label=_("Why the team needs it"), widget=forms.Textarea(attrs={"rows": 3}), validators=[validate_text]
    )


class ApproveForm(DimensionValuesForm):
    comment = forms.CharField(
        label=_("Comment (optional)"), required=False, validators=[validate_single_line]
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), validators=[validate_text]
    )


class AskForm(forms.Form):
    question = forms.CharField(
        label=_("Question"), widget=forms.Textarea(attrs={"rows": 2}), validators=[validate_text]
    )


class AnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Answer"), widget=forms.Textarea(attrs={"rows": 2}), validators=[validate_text]
    )


def rule_key_choices(architectures: Iterable[str]) -> list[tuple[str, str]]:
    choices = [(d.key, str(d.label)) for d in base_dimensions()]
    for arch in sorted(architectures):
        choices += [
            (arch_key(base, arch), str(dimension(arch_key(base, arch)).label)) for base in PER_ARCHITECTURE
        ]
    return choices


class QuotaRuleForm(forms.ModelForm):
    class Meta:
        model = QuotaRule
        fields = ["key", "ceiling", "auto_approve_increase", "auto_approve_days"]

    def __init__(self, *args, architectures: Iterable[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"] = forms.ChoiceField(label=_("Dimension"), choices=rule_key_choices(architectures))


class QuotaPolicyForm(forms.Form):
    members_may_request = forms.BooleanField(label=_("Any team member may request quota"), required=False)
