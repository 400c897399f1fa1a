"""Encryption at rest for stored secrets (BMC passwords, members' cloud credentials), with the keys from
KENNEL_ENCRYPTION_KEY. The core's, so every app encrypts the same way.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``): authenticated, so a tampered or
foreign ciphertext fails loudly instead of decrypting to garbage. The first key encrypts; all keys
decrypt, which is how a key is rotated: put the new key first, run ``manage.py rotate_bmc_secrets``
(every stored secret re-encrypted with it), then drop the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.KENNEL_ENCRYPTION_KEYS])


def secret_encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the stored secret does not decrypt with KENNEL_ENCRYPTION_KEY") from None


def secret_is_current(ciphertext: str) -> bool:
    """Was ``ciphertext`` encrypted with the first (current) key?"""
    try:
        Fernet(settings.KENNEL_ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def secret_rotate(ciphertext: str) -> str:
    """``ciphertext`` re-encrypted with the first key; raises SecretUnreadable when no key decrypts it."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the stored secret does not decrypt with KENNEL_ENCRYPTION_KEY") from None
