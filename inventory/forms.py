"""Inventory forms. The BMC password is write-only: never rendered back, blank keeps the stored one."""

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import BmcProtocolChoice, PowerActionChoice


class ServerBmcForm(forms.Form):
    protocol = forms.ChoiceField(
        label=_("Protocol"), choices=[("", _("No BMC")), *BmcProtocolChoice.choices], required=False
    )
    address = forms.CharField(
        label=_("Address"),
        max_length=255,
        required=False,
        help_text=_("A host name or IP (HTTPS for Redfish), or a URL base such as http://10.0.0.5."),
    )
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, required=False)
    username = forms.CharField(label=_("Username"), max_length=64, required=False)
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave blank to keep the stored password."),
    )

    def clean(self):
        data = super().clean()
        if data.get("protocol") and not (data.get("address") and data.get("port") and data.get("username")):
            raise forms.ValidationError(_("A BMC needs an address, a port and a username."))
        return data


class PowerRequestForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=PowerActionChoice.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500)
    confirm_name = forms.CharField(
        label=_("Type the server's name to confirm"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class ServerDrainForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500)
