"""Profile admin pages: admins build profiles part by part; everyone else reads offered ones."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kennel.demo import _demo_profile
from portal.models import AuditEvent
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
    # Removing asks first: the GET shows the part and what changes, and removes nothing.
    url = reverse("provisioning:profile-part-delete", args=[profile.pk, count])
    page = client.get(url).text
    assert "Remove the packages part from dc1-standard?" in page and "tmux" in page
    assert "VMs already built keep theirs" in page
    profile.refresh_from_db()
    assert len(profile.parts) == count + 1
    client.post(url)
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


def test_a_new_profile_starts_not_offered_and_only_an_offered_one_is_in_the_request_form(
    client, admin, member, team
):
    from provisioning.forms import VmRequestForm

    client.force_login(admin)
    assert 'name="is_active"' in client.get(reverse("provisioning:profile-list")).text
    client.post(reverse("provisioning:profile-list"), {"name": "draft"})
    draft = Profile.objects.get(name="draft")
    assert not draft.is_active

    def offered() -> set[str]:
        form = VmRequestForm(user=member)
        return set(form.fields["profile"].queryset.values_list("name", flat=True))

    assert "draft" not in offered()
    client.post(reverse("provisioning:profile-offer", args=[draft.pk]), {"offered": "1"})
    assert "draft" in offered()
    client.post(reverse("provisioning:profile-offer", args=[draft.pk]), {"offered": "0"})
    draft.refresh_from_db()
    assert not draft.is_active and "draft" not in offered()
    actions = list(
        AuditEvent.objects.filter(target_id=str(draft.pk)).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["profile.create", "profile.offer", "profile.withdraw"]


def test_life_cycle_changes_are_for_admins_only(people, profile):
    change = {"anonymous": 302, "member": 404, "outsider": 404, "manager": 404, "admin": 302}
    check_matrix(
        people,
        reverse("provisioning:profile-offer", args=[profile.pk]),
        change,
        method="post",
        data={"offered": "0"},
    )
    check_matrix(
        people,
        reverse("provisioning:profile-rename", args=[profile.pk]),
        change,
        method="post",
        data={"name": "dc1-standard"},
    )
    confirm = {"anonymous": 302, "member": 404, "outsider": 404, "manager": 404, "admin": 200}
    check_matrix(people, reverse("provisioning:profile-delete", args=[profile.pk]), confirm)
    check_matrix(people, reverse("provisioning:profile-part-delete", args=[profile.pk, 0]), confirm)


def test_a_profile_no_vm_names_is_deleted_one_a_vm_names_is_archived(client, admin, member, team, profile):
    from tests.factories import VmRequestFactory

    client.force_login(admin)
    spare = Profile.objects.create(name="spare", parts=[], is_active=False)
    page = client.get(reverse("provisioning:profile-delete", args=[spare.pk])).text
    assert 'data-testid="will-delete"' in page
    assert Profile.objects.filter(pk=spare.pk).exists()  # the GET only asks
    client.post(reverse("provisioning:profile-delete", args=[spare.pk]))
    assert not Profile.objects.filter(pk=spare.pk).exists()

    vm = VmRequestFactory(team=team, owner=member, profile=profile)
    page = client.get(reverse("provisioning:profile-delete", args=[profile.pk])).text
    assert 'data-testid="will-archive"' in page and "1 VM names this profile" in page
    client.post(reverse("provisioning:profile-delete", args=[profile.pk]))
    profile.refresh_from_db()
    vm.refresh_from_db()
    assert profile.archived_at is not None and not profile.is_active and vm.profile_id == profile.pk
    listed = client.get(reverse("provisioning:profile-list")).text  # (its message was shown once, above)
    assert ">dc1-standard</a>" not in listed
    assert ">dc1-standard</a>" in client.get(reverse("provisioning:profile-list") + "?archived=1").text
    response = client.post(
        reverse("provisioning:profile-offer", args=[profile.pk]), {"offered": "1"}, follow=True
    )
    assert "An archived profile is not offered again" in response.text
    profile.refresh_from_db()
    assert not profile.is_active
    assert AuditEvent.objects.filter(action="profile.archive", target_id=str(profile.pk)).exists()


def test_a_profile_a_blueprint_names_keeps_its_name_and_is_archived_not_deleted(client, admin, profile):
    from blueprints import services as blueprint_services

    profile.is_active = True
    profile.save()
    text = (blueprint_services.EXAMPLES_DIR / "http-file-server.yaml").read_text()
    text = text.replace("profile: null", "profile: dc1-standard")
    version = blueprint_services.blueprint_import(actor=admin, team=None, text=text, source="test")
    client.force_login(admin)
    response = client.post(
        reverse("provisioning:profile-rename", args=[profile.pk]),
        {"name": "dc1-new", "description": ""},
        follow=True,
    )
    assert f"http-file-server v{version.number} name this profile" in response.text
    profile.refresh_from_db()
    assert profile.name == "dc1-standard"
    client.post(
        reverse("provisioning:profile-rename", args=[profile.pk]),
        {"name": "dc1-standard", "description": "new words"},
    )
    profile.refresh_from_db()
    assert profile.description == "new words"
    # Withdrawn, a new version may not pick it; deleting archives it (the stored version still renders).
    client.post(reverse("provisioning:profile-offer", args=[profile.pk]), {"offered": "0"})
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not offered"):
        blueprint_services.blueprint_import(
            actor=admin, team=None, text=text.replace("- nginx", "- nginx\n- tmux"), source="test"
        )
    client.post(reverse("provisioning:profile-delete", args=[profile.pk]))
    profile.refresh_from_db()
    assert profile.archived_at is not None
    from blueprints.rendering import user_data_render
    from blueprints.spec import parameters_clean

    rendered = user_data_render(
        version.spec, architecture="x86_64", hostname="files-1", values=parameters_clean(version.spec, {})
    )
    assert "proxy" in rendered.lower()
