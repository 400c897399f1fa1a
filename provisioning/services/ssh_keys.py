"""People's SSH public keys, offered when they request a VM."""

from __future__ import annotations

import base64
import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.models import User
from portal.services import audit_record
from provisioning import cloudinit
from provisioning.models import SshKey


def ssh_key_add(*, user: User, name: str, public_key: str, source: str) -> SshKey:
    """Import one OpenSSH public key for ``user``. Refuses a malformed key or one already imported."""
    public_key = public_key.strip()
    try:
        cloudinit.validate_ssh_public_key(public_key)
    except ValidationError as error:
        raise ValidationError({"public_key": error.messages}) from error
    body = base64.b64decode(public_key.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
    if SshKey.objects.filter(user=user, fingerprint=fingerprint).exists():
        raise ValidationError({"public_key": _("You have already imported this key.")})
    key = SshKey(
        user=user,
        name=name.strip() or public_key.split()[-1][:100],
        public_key=public_key,
        fingerprint=fingerprint,
    )
    key.full_clean()
    with transaction.atomic():  # the key and its audit entry, or neither (a database gone between them)
        key.save()
        audit_record(
            actor=user, action="ssh_key.add", target=key, source=source, detail={"fingerprint": fingerprint}
        )
    return key


def ssh_key_remove(*, user: User, key: SshKey, source: str) -> None:
    with transaction.atomic():
        audit_record(
            actor=user,
            action="ssh_key.remove",
            target=key,
            source=source,
            detail={"fingerprint": key.fingerprint},
        )
        key.delete()
