"""Inventory forms. The BMC password is write-only: never rendered back, blank keeps the stored one."""

from django import forms
from django.utils.translation import gettext_lazy as _

from inventory.models import (
    BmcProtocolChoice,
    BmcTlsVerifyChoice,
    DataCenter,
    PowerActionChoice,
    Server,
    ServerRole,
)
from inventory.services import SERVER_ASSET_FIELDS
from portal.validators import validate_single_line


class ServerForm(forms.ModelForm):
    """A server's record. Validated by the model (as the service will again); saved only by the
    service, never by ``form.save()``."""

    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=ServerRole.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Tick every role it has; “Outside OpenStack” stands alone."),
    )

    class Meta:
        model = Server
        fields = list(SERVER_ASSET_FIELDS)
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "hypervisor_hostname": _(
                "Nova's name for this host; compute servers need it (it links utilization)."
            ),
            "rack_unit": _("The lowest rack unit the server occupies."),
        }

    def __init__(self, *args, datacenters=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["datacenter"].queryset = (
            datacenters if datacenters is not None else DataCenter.objects.none()
        )


class DataCenterForm(forms.ModelForm):
    class Meta:
        model = DataCenter
        fields = ["code", "name"]
        help_texts = {"code": _("Short, for CSV files and the API: letters, digits, hyphens.")}


class ConfirmNameForm(forms.Form):
    confirm_name = forms.CharField(
        label=_("Type the name to confirm"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-testid": "confirm-name"}),
        validators=[validate_single_line],
    )

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_confirm_name(self):
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.expected:
            raise forms.ValidationError(_("Type %(name)s exactly to confirm.") % {"name": self.expected})
        return typed


class ServerBmcForm(forms.Form):
    protocol = forms.ChoiceField(
        label=_("Protocol"), choices=[("", _("No BMC")), *BmcProtocolChoice.choices], required=False
    )
    address = forms.CharField(
        label=_("Address"),
        max_length=255,
        required=False,
        help_text=_("A host name or IP (HTTPS for Redfish), or a URL base such as http://10.0.0.5."),
        validators=[validate_single_line],
    )
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, required=False)
    username = forms.CharField(
        label=_("Username"), max_length=64, required=False, validators=[validate_single_line]
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave blank to keep the stored password."),
    )
    tls_verify = forms.ChoiceField(
        label=_("Certificate check (Redfish over HTTPS)"),
        choices=BmcTlsVerifyChoice.choices,
        required=False,
        help_text=_(
            "Verify the BMC's HTTPS certificate against the certificate authorities the Kennel server "
            "trusts, or skip the check for a self-signed certificate."
        ),
    )

    def clean(self):
        data = super().clean()
        if data.get("protocol") and not (data.get("address") and data.get("port") and data.get("username")):
            raise forms.ValidationError(_("A BMC needs an address, a port and a username."))
        return data


class PowerRequestForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=PowerActionChoice.choices)
    reason = forms.CharField(label=_("Reason"), max_length=500, validators=[validate_single_line])
    confirm_name = forms.CharField(
        label=_("Type the server's name to confirm"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        validators=[validate_single_line],
    )


class ServerDrainForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, validators=[validate_single_line])
    migrate = forms.BooleanField(
        label=_("Move the VMs off by live migration"),
        required=False,
        help_text=_("One at a time, to hosts of the same architecture; VMs that cannot move are listed."),
    )


class ServerImportForm(forms.Form):
    """A CSV file of servers, read as UTF-8 text (with or without a byte-order mark)."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns as in the export; bmc_password may be added. Rows are matched by name."),
    )

    def clean_file(self) -> str:
        from inventory.server_csv import MAX_IMPORT_BYTES

        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)}
            )
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The file is not UTF-8 text; save it as “CSV UTF-8”.")) from None
