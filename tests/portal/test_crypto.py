"""BMC secrets at rest: several keys decrypt, the first encrypts, and rotate_bmc_secrets moves every stored
secret onto the first key so the old one can be dropped."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from inventory import services
from portal.crypto import SecretUnreadable, secret_decrypt, secret_encrypt, secret_is_current
from portal.models import AuditEvent
from tests.factories import ServerFactory

pytestmark = pytest.mark.django_db

OLD, NEW, STRANGER = (Fernet.generate_key().decode() for _ in range(3))


def with_bmc(name: str, password: str):
    return services.server_bmc_set(
        actor=None,
        server=ServerFactory(name=name),
        protocol="ipmi",
        address="10.0.0.1",
        port=623,
        username="ADMIN",
        password=password,
    )


def test_any_configured_key_decrypts_and_the_first_encrypts(settings):
    settings.KENNEL_ENCRYPTION_KEYS = [OLD]
    old_ciphertext = secret_encrypt("pw")
    settings.KENNEL_ENCRYPTION_KEYS = [NEW, OLD]
    assert secret_decrypt(old_ciphertext) == "pw"
    assert not secret_is_current(old_ciphertext)
    assert secret_is_current(secret_encrypt("pw"))
    settings.KENNEL_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(SecretUnreadable):
        secret_decrypt(old_ciphertext)


def test_rotation_makes_old_secrets_readable_with_only_the_new_key(settings, capsys):
    settings.KENNEL_ENCRYPTION_KEYS = [OLD]
    first, second = with_bmc("R1", "pw-one"), with_bmc("R2", "pw-two")
    settings.KENNEL_ENCRYPTION_KEYS = [NEW, OLD]
    with_bmc("R3", "pw-three")  # written with the new key already

    call_command("rotate_bmc_secrets")

    assert "Re-encrypted 2 BMC password(s) with the current key; 1 already on it; 0 unreadable." in (
        capsys.readouterr().out
    )
    settings.KENNEL_ENCRYPTION_KEYS = [NEW]
    for server, password in ((first, "pw-one"), (second, "pw-two")):
        server.refresh_from_db()
        assert secret_decrypt(server.bmc_password_encrypted) == password
    event = AuditEvent.objects.get(action="bmc_secrets.rotate")
    assert event.detail == {"rotated": 2, "current": 1, "unreadable": 0}
    assert "pw-one" not in str(event.detail)


def test_a_second_rotation_changes_nothing(settings):
    settings.KENNEL_ENCRYPTION_KEYS = [OLD]
    server = with_bmc("R1", "pw")
    settings.KENNEL_ENCRYPTION_KEYS = [NEW, OLD]
    assert services.bmc_secrets_rotate().rotated == 1
    server.refresh_from_db()
    ciphertext = server.bmc_password_encrypted
    again = services.bmc_secrets_rotate()
    assert (again.rotated, again.current, again.unreadable) == (0, 1, ())
    server.refresh_from_db()
    assert server.bmc_password_encrypted == ciphertext
    assert AuditEvent.objects.filter(action="bmc_secrets.rotate").count() == 1


def test_a_dry_run_counts_and_writes_nothing(settings, capsys):
    settings.KENNEL_ENCRYPTION_KEYS = [OLD]
    server = with_bmc("R1", "pw")
    before = server.bmc_password_encrypted
    settings.KENNEL_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_bmc_secrets", "--dry-run")
    assert "Would re-encrypt 1 BMC password(s)" in capsys.readouterr().out
    server.refresh_from_db()
    assert server.bmc_password_encrypted == before
    assert not AuditEvent.objects.filter(action="bmc_secrets.rotate").exists()


def test_a_secret_no_key_decrypts_is_named_left_alone_and_fails_the_command(settings):
    settings.KENNEL_ENCRYPTION_KEYS = [STRANGER]
    lost = with_bmc("LOST1", "pw")
    settings.KENNEL_ENCRYPTION_KEYS = [OLD]
    with_bmc("R1", "pw")
    settings.KENNEL_ENCRYPTION_KEYS = [NEW, OLD]
    with pytest.raises(CommandError, match="LOST1") as failure:
        call_command("rotate_bmc_secrets")
    assert lost.bmc_password_encrypted not in str(failure.value)
    lost_before = lost.bmc_password_encrypted
    lost.refresh_from_db()
    assert lost.bmc_password_encrypted == lost_before
    assert AuditEvent.objects.get(action="bmc_secrets.rotate").detail["unreadable"] == 1
