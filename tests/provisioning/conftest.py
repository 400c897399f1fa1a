"""Provisioning tests run their services against the in-memory FakeCloud (it passes the same
contract suite as the real cloud); tests/provisioning/test_integration.py drives the real one."""

from __future__ import annotations

import pytest

from portal.cloud import override
from portal.cloud.fake import FakeCloud
from provisioning.models import CloudFlavor, CloudImage
from provisioning.services import catalog_refresh


@pytest.fixture
def fake_cloud(team, other_team):
    """The fake cloud with the demo teams linked to its ``alpha`` and ``beta`` projects, as onboarding
    leaves them (the portal's cloud user holds the admin role there), and the mirror refreshed."""
    fake = FakeCloud()
    with override(fake):
        me = fake.whoami()
        for t, project_name in ((team, "alpha"), (other_team, "beta")):
            project = fake.find_project(project_name)
            fake.assign_role(user_id=me.id, project_id=project.id, role="admin")
            t.openstack_project_id = project.id
            t.save()
        catalog_refresh()
        offer_every_image()
        yield fake


def offer_every_image() -> None:
    """What an admin does in the catalog before developers can pick an image: offer them all."""
    CloudImage.objects.filter(status="active").exclude(architecture="").update(offered=True)


def image(arch: str = "x86_64", name: str = "cirros") -> CloudImage:
    return CloudImage.objects.get(architecture=arch, name__startswith=name)


def flavor(name: str = "m1.tiny") -> CloudFlavor:
    return CloudFlavor.objects.get(name=name)
