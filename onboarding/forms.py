"""Forms of the onboarding pages. What needs the database or the cloud is checked by the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from onboarding.models import QuotaTemplate, SecurityRule
from portal.architectures import Architecture
from portal.models import Membership, User
from portal.validators import validate_single_line, validate_text
from quotas.dimensions import PER_ARCHITECTURE, arch_key, base_dimensions
from quotas.forms import DimensionValuesForm


def _people():
    return User.objects.filter(is_active=True).order_by("username")


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        full = obj.get_full_name()
        return f"{obj.username} ({full})" if full else obj.username


class PeopleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        full = obj.get_full_name()
        return f"{obj.username} ({full})" if full else obj.username


class TeamOnboardForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, validators=[validate_single_line])
    slug = forms.SlugField(
        label=_("Short name"),
        max_length=48,
        help_text=_("Lower case; names the team's cloud project, network (…-net), subnet and router."),
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        validators=[validate_text],
    )
    members = PeopleChoiceField(label=_("Members"), queryset=User.objects.none(), required=False)
    leads = PeopleChoiceField(
        label=_("Leads"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Leads may ask for quota and manage the team's VMs; they are members too."),
    )
    quota_template = forms.ModelChoiceField(
        label=_("Quota template"),
        queryset=QuotaTemplate.objects.all(),
        required=False,
        empty_label=_("None: keep the cloud's default quotas"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = _people()
        self.fields["leads"].queryset = _people()

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug != slug.lower():
            raise forms.ValidationError(_("Use lower case: Keystone compares project names without case."))
        return slug


def template_keys() -> list[str]:
    """Every dimension a template may set: the bases, then each per-architecture limit."""
    keys = [d.key for d in base_dimensions()]
    keys += [arch_key(base, arch) for base in PER_ARCHITECTURE for arch in Architecture.values]
    return keys


class QuotaTemplateForm(DimensionValuesForm):
    """A template's name and its limits (blank: the template leaves that dimension alone)."""

    def __init__(self, *args, template: QuotaTemplate | None = None, **kwargs):
        super().__init__(
            *args, keys=template_keys(), initial_values=template.values if template else {}, **kwargs
        )
        self.fields = {
            "name": forms.CharField(
                label=_("Name"),
                max_length=64,
                initial=template.name if template else "",
                validators=[validate_single_line],
            ),
            "description": forms.CharField(
                label=_("Description"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                initial=template.description if template else "",
                validators=[validate_text],
            ),
            **self.fields,
        }


class OffboardForm(forms.Form):
    confirm = forms.CharField(
        label=_("Type the team's short name to confirm"), max_length=64, validators=[validate_single_line]
    )


class MemberForm(forms.Form):
    user = PersonChoiceField(label=_("Person"), queryset=User.objects.none())
    level = forms.ChoiceField(
        label=_("Level"), choices=Membership.Level.choices, initial=Membership.Level.MEMBER
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _people()


class SecurityRuleForm(forms.Form):
    """A rule letting traffic in to the team's VMs; ``onboarding.security_rules`` checks it."""

    protocol = forms.ChoiceField(label=_("Protocol"), choices=SecurityRule.Protocol.choices)
    ports = forms.CharField(
        label=_("Ports"),
        required=False,
        max_length=16,
        validators=[validate_single_line],
        help_text=_("One port (22) or a range (8000-8100); empty: every port. Not for ICMP."),
    )
    remote_cidr = forms.CharField(
        label=_("From (network)"),
        max_length=64,
        validators=[validate_single_line],
        help_text=_("Who may connect, as a network: 10.0.0.0/8, 192.0.2.7/32; 0.0.0.0/0 is every address."),
    )
    confirm_open = forms.BooleanField(
        label=_("I confirm: open SSH to every address (admins only)"), required=False
    )
