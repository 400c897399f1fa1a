"""Profile admin pages: admins build profiles part by part; everyone else reads offered ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kennel.demo import _demo_profile
from provisioning.models import Profile
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(db):
    _demo_profile()
    return Profile.objects.get(name="dc1-standard")


def test_profile_pages_matrix(people, profile):
    read = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, reverse("provisioning:profile-list"), read)
    check_matrix(people, reverse("provisioning:profile-detail", args=[profile.pk]), read)
    edit = {"anonymous": 302, "member": 404, "outsider": 404, "manager": 404, "admin": 200}
    check_matrix(people, reverse("provisioning:profile-part-edit", args=[profile.pk, 0]), edit)
    check_matrix(people, reverse("provisioning:profile-part-add", args=[profile.pk, "dns"]), edit)


def test_an_admin_adds_edits_and_removes_parts(client, admin, profile):
    client.force_login(admin)
    count = len(profile.parts)
    response = client.post(
        reverse("provisioning:profile-part-add", args=[profile.pk, "packages"]), {"packages": "tmux"}
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert len(profile.parts) == count + 1 and profile.parts[-1]["packages"] == ["tmux"]
    client.post(reverse("provisioning:profile-part-delete", args=[profile.pk, count]))
    profile.refresh_from_db()
    assert len(profile.parts) == count


def test_a_bad_part_is_refused_with_the_forms_reason_and_nothing_changes(client, admin, profile):
    client.force_login(admin)
    before = list(profile.parts)
    response = client.post(
        reverse("provisioning:profile-part-add", args=[profile.pk, "proxy"]),
        {"host": "proxy.example", "port": "99999"},
    )
    assert response.status_code == 200 and "Ensure this value is less than or equal to 65535" in response.text
    profile.refresh_from_db()
    assert profile.parts == before


def test_the_detail_page_previews_user_data_and_never_shows_the_password_hash(client, member, profile):
    client.force_login(member)
    page = client.get(reverse("provisioning:profile-detail", args=[profile.pk])).text
    assert "#cloud-config" in page and "mirror.dc1.example/el9/ppc64le" in page
    assert "$6$" not in page  # not in the parts, not in the preview
    assert "hashed_passwd: &lt;hidden&gt;" in page


def test_an_admin_sees_the_hash_in_the_preview(client, admin, profile):
    client.force_login(admin)
    page = client.get(reverse("provisioning:profile-detail", args=[profile.pk])).text
    assert "hashed_passwd: $6$" in page


def test_a_developers_request_preview_hides_the_password_hash(client, member, team, profile, fake_cloud):
    client.force_login(member)
    from tests.fixtures.fake_cloud import image

    response = client.post(
        reverse("provisioning:vm-preview"),
        {
            "team": team.pk,
            "architecture": "x86_64",
            "image": image().pk,
            "name": "web9",
            "profile": profile.pk,
        },
    )

    assert "#cloud-config" in response.text, response.text
    assert "$6$" not in response.text and "hashed_passwd: &lt;hidden&gt;" in response.text
    assert 'data-testid="user-data-hidden"' in response.text


def test_only_admins_create_profiles(client, member, admin):
    client.force_login(member)
    assert client.post(reverse("provisioning:profile-list"), {"name": "x"}).status_code == 403
    client.force_login(admin)
    response = client.post(reverse("provisioning:profile-list"), {"name": "minimal", "is_active": "on"})
    assert response.status_code == 302 and Profile.objects.filter(name="minimal").exists()
