"""A member's openrc.sh and clouds.yaml stay data, whatever names are stored.

The names below are written straight to the database, past every validator (as rows from before the
validators, or from another tool, would be): shell syntax, command substitution, backticks, new lines
and Unicode line separators. bash sources the downloaded openrc.sh: nothing runs, and each variable
holds exactly the stored value. The downloaded clouds.yaml parses to exactly the stored values, and the
team's name in either file's comments cannot start a line of its own.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from onboarding.models import CloudAccount, Onboarding
from onboarding.selectors import cloud_credentials
from portal.models import Team
from tests.factories import CloudAccountFactory, OnboardingFactory


def hostile(marker) -> dict[str, str]:
    """One hostile value per field; each would create ``marker``-N if a shell ran it."""
    return {
        "team_name": f'x"; touch {marker}-1; #\ntouch {marker}-2\u2028$(touch {marker}-3)',
        "slug": f"a'$(touch {marker}-4)'`touch {marker}-5`",
        "keystone_name": f"u\r\ntouch {marker}-6\n'; touch {marker}-7; '\x85${{IFS}}",
        "project_id": f"$(touch {marker}-8)",
        "auth_url": f"http://127.0.0.1:5000/v3\n`touch {marker}-9`",
        "region_name": "Region\u2029One",
        "interface": "public\\",
    }


@pytest.fixture
def hostile_download(tmp_path, team, member, admin):
    """The member's two files for a team whose stored names are all hostile."""
    marker = "pwned"  # relative: bash runs in tmp_path, and the names must fit their columns
    values = hostile(marker)
    onboarding = OnboardingFactory(team=team, requested_by=admin, state=Onboarding.State.DONE)
    CloudAccountFactory(user=member, keystone_name="member", keystone_user_id="k1")
    # Past the validators: straight UPDATEs.
    Team.objects.filter(pk=team.pk).update(
        name=values["team_name"], slug=values["slug"], openstack_project_id=values["project_id"]
    )
    Onboarding.objects.filter(pk=onboarding.pk).update(
        auth_url=values["auth_url"], region_name=values["region_name"], interface=values["interface"]
    )
    CloudAccount.objects.filter(user=member).update(keystone_name=values["keystone_name"])
    # The short name is a URL part too (a slug), so a hostile one is fetched through the selector the
    # download views call; the views themselves are checked below with a plain short name.
    credentials = cloud_credentials(user=member, slug=values["slug"])
    return values, marker, credentials.openrc(), credentials.clouds_yaml()


def _the_team_name_stays_in_its_comment(text: str) -> None:
    """The team's name is written only into comments: made one line, its "second line" starts none."""
    for line in text.splitlines():
        assert not line.startswith("touch pwned-2"), line
        if line.startswith("#"):
            assert not any(c in line for c in "\r\u2028\u2029\x85"), repr(line)
    assert "touch pwned-2" in text  # still there, inside the comment line


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is part of Debian's base system")
def test_bash_sources_a_hostile_openrc_and_nothing_runs(hostile_download, tmp_path):
    values, marker, text, _clouds = hostile_download
    _the_team_name_stays_in_its_comment(text)
    path = tmp_path / "openrc.sh"
    path.write_text(text)
    names = [
        "OS_USERNAME",
        "OS_PROJECT_NAME",
        "OS_PROJECT_ID",
        "OS_AUTH_URL",
        "OS_REGION_NAME",
        "OS_INTERFACE",
    ]
    variables = " ".join(f'"${name}"' for name in names)
    script = f'set -u; . "$1" </dev/null >/dev/null; printf "%s\\0" {variables}'
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(path)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "OS_PASSWORD": "given"},  # so sourcing asks nothing
        timeout=10,
        check=True,
        cwd=tmp_path,
    )
    got = dict(zip(names, result.stdout.decode().split("\0")[:-1], strict=True))
    assert got == {
        "OS_USERNAME": values["keystone_name"],
        "OS_PROJECT_NAME": values["slug"],
        "OS_PROJECT_ID": values["project_id"],
        "OS_AUTH_URL": values["auth_url"],
        "OS_REGION_NAME": values["region_name"],
        "OS_INTERFACE": values["interface"],
    }
    ran = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(marker))
    assert ran == [], f"the openrc ran commands: {ran}"


def test_a_hostile_clouds_yaml_parses_to_exactly_the_stored_values(hostile_download):
    values, _marker, _openrc, text = hostile_download
    _the_team_name_stays_in_its_comment(text)
    assert not any(line.lstrip().startswith("touch") for line in text.splitlines())  # values are escaped
    parsed = yaml.safe_load(text)
    (name, entry), *others = parsed["clouds"].items()
    assert others == [] and name == f"kennel-{values['slug']}"
    assert entry["auth"]["username"] == values["keystone_name"]
    assert entry["auth"]["project_name"] == values["slug"]
    assert entry["auth"]["project_id"] == values["project_id"]
    assert entry["auth"]["auth_url"] == values["auth_url"]
    assert (entry["region_name"], entry["interface"]) == (values["region_name"], values["interface"])
    assert list(parsed) == ["clouds"]  # no key injected at the top


def test_the_downloads_are_the_same_files_under_a_quoted_name(hostile_download, member):
    values, *_ = hostile_download
    Team.objects.filter(slug=values["slug"]).update(slug="alpha")
    expected = cloud_credentials(user=member, slug="alpha")
    client = Client()
    client.force_login(member)
    got_openrc = client.get(reverse("onboarding:openrc", kwargs={"slug": "alpha"}))
    got_clouds = client.get(reverse("onboarding:clouds-yaml", kwargs={"slug": "alpha"}))
    assert got_openrc.content.decode() == expected.openrc()
    assert got_clouds.content.decode() == expected.clouds_yaml()
    assert got_openrc["Content-Disposition"] == 'attachment; filename="kennel-alpha-openrc.sh"'
