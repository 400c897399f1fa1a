"""Developers import SSH public keys once; every VM request offers them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from provisioning import services
from provisioning.models import SshKey
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"


def test_a_key_is_imported_with_its_fingerprint_once(member):
    key = services.ssh_key_add(user=member, name="", public_key=KEY + "\n", source="test")
    assert key.name == "me@laptop" and key.fingerprint.startswith("SHA256:") and key.public_key == KEY
    with pytest.raises(ValidationError, match="already imported"):
        services.ssh_key_add(user=member, name="again", public_key=KEY, source="test")


def test_a_malformed_key_is_refused_and_nothing_is_saved(member):
    with pytest.raises(ValidationError) as error:
        services.ssh_key_add(user=member, name="x", public_key="ssh-rsa AAAAnotbase64!", source="test")
    assert "public_key" in error.value.message_dict
    assert not SshKey.objects.exists()


def test_keys_page_matrix_and_privacy(people, member, outsider):
    key = services.ssh_key_add(user=member, name="laptop", public_key=KEY, source="test")
    check_matrix(
        people,
        reverse("provisioning:ssh-keys"),
        {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200},
    )
    check_matrix(
        people,
        reverse("provisioning:ssh-key-remove", args=[key.pk]),
        {"anonymous": 302, "member": 302, "outsider": 404, "manager": 404, "admin": 404},
        method="post",
    )
    assert not SshKey.objects.exists()  # only its owner removed it


def test_the_request_form_offers_the_imported_keys(client, member, fake_cloud):
    services.ssh_key_add(user=member, name="laptop", public_key=KEY, source="test")
    client.force_login(member)
    assert KEY in client.get(reverse("provisioning:vm-request")).text
