from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from portal.models import Role, User
from portal.validators import CONTROL_CHARACTERS, validate_single_line


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Where the token is used, e.g. “laptop CLI”."),
        validators=[validate_single_line],
    )
    read_only = forms.BooleanField(
        label=_("Read-only"), required=False, help_text=_("It may only read: any change gets 403.")
    )


class LoginForm(AuthenticationForm):
    """Django's sign-in form, refusing a user name longer than any user's before authenticating: Django
    only sets the input's maxlength, so a name of thousands of characters reached authenticate(), the
    sign-in limits' records and the audit log, and overflowed their columns (a 500)."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if len(username) > User._meta.get_field(User.USERNAME_FIELD).max_length:
            raise self.get_invalid_login_error()
        if CONTROL_CHARACTERS.search(username):  # no user has one; kept out of the limits' records and logs
            raise self.get_invalid_login_error()
        return super().clean()


class PersonAddForm(forms.Form):
    """An admin adds a person with a local account; the first sign-in link goes to the e-mail address."""

    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        validators=[validate_single_line, UnicodeUsernameValidator()],
    )
    email = forms.EmailField(label=_("E-mail"), help_text=_("The first sign-in link goes here."))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.DEVELOPER)
    first_name = forms.CharField(
        label=_("First name"), max_length=150, required=False, validators=[validate_single_line]
    )
    last_name = forms.CharField(
        label=_("Last name"), max_length=150, required=False, validators=[validate_single_line]
    )
