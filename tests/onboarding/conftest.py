"""Onboarding tests run the chain against the FakeCloud (it passes the contract suite, the new network,
security group and identity calls included); test_integration.py runs it against the real cloud."""

from __future__ import annotations

import pytest

from onboarding import services
from onboarding.models import Onboarding
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.models import Role
from tests.factories import QuotaTemplateFactory, UserFactory


@pytest.fixture
def fake(db):
    fake = FakeCloud()
    with override(fake):
        yield fake


@pytest.fixture
def template(db):
    return QuotaTemplateFactory(
        name="small", values={"instances": 5, "cores": 12, "ram_mb": 24576, "floating_ips": 3}
    )


@pytest.fixture
def crew(db):
    """An admin who onboards, a lead, a member and a portal admin who is also in the team."""
    return {
        "admin": UserFactory(username="root-admin", role=Role.ADMIN),
        "lead": UserFactory(username="lea"),
        "member": UserFactory(username="mem"),
        "team_admin": UserFactory(username="tad", role=Role.ADMIN),
    }


@pytest.fixture
def onboard(fake, crew, template):
    def make(slug: str = "gamma", **kwargs) -> Onboarding:
        return services.team_onboard(
            actor=crew["admin"],
            name=kwargs.pop("name", slug.title()),
            slug=slug,
            members=kwargs.pop("members", [crew["member"], crew["team_admin"]]),
            leads=kwargs.pop("leads", [crew["lead"]]),
            quota_template=kwargs.pop("quota_template", template),
            **kwargs,
        )

    return make
