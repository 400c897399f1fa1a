"""`manage.py demo_load` onboards Team Gamma through the chain, once."""

from __future__ import annotations

from django.core.management import call_command

from kennel.demo import demo_onboard
from onboarding.models import Onboarding
from tests.onboarding.worker import run


def test_the_demo_onboards_gamma_once_and_the_chain_finishes(fake):
    call_command("demo_load", "--no-cloud")
    assert demo_onboard() is True
    onboarding = run(Onboarding.objects.get(team__slug="gamma"))
    assert onboarding.state == Onboarding.State.DONE, onboarding.message
    levels = dict(onboarding.team.memberships.values_list("user__username", "level"))
    assert levels == {"dev1": "lead", "dev2": "member"}
    assert {fake.find_user("dev1").name, fake.find_user("dev2").name} == {"dev1", "dev2"}
    assert demo_onboard() is False  # a second run changes nothing
    assert Onboarding.objects.count() == 1
