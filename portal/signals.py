"""Django's auth signals are the only hook for sign-in events; the receivers only call the service."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from portal.models import AuditEvent
from portal.origin import origin
from portal.services import audit_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action="auth.login", target=user, source=origin(request) if request else "")


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action="auth.logout", target=user, source=origin(request) if request else "")


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # "anonymous (...)" must fit the audit log's 150 characters, however long the name typed.
    attempted = str(credentials.get("username", ""))[: 150 - len("anonymous ()")]
    audit_record(
        actor=None,
        actor_name=f"anonymous ({attempted})",
        action="auth.login",
        source=origin(request) if request else "",
        outcome=AuditEvent.Outcome.FAILURE,
    )
