from django import forms
from django.utils.translation import gettext_lazy as _


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("Where the token is used, e.g. “laptop CLI”.")
    )
    read_only = forms.BooleanField(
        label=_("Read-only"), required=False, help_text=_("It may only read: any change gets 403.")
    )
