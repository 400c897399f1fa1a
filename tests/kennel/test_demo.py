"""The demo estate loads fully and a second run changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from inventory.models import Server
from kennel.demo import demo_bmcs
from portal.models import AuditEvent, Membership, Team, User

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        sorted(Team.objects.values_list("slug", flat=True)),
        sorted(User.objects.values_list("username", "role", "password")),
        sorted(Membership.objects.values_list("user__username", "team__slug", "level")),
        sorted(
            Server.objects.values_list(
                "name", "architecture", "datacenter__code", "roles", "hypervisor_hostname", "serial"
            )
        ),
        AuditEvent.objects.count(),
    )


def test_demo_load_builds_the_estate_and_is_idempotent(capsys):
    call_command("demo_load", "--no-cloud")
    first = snapshot()
    call_command("demo_load", "--no-cloud")
    assert snapshot() == first
    assert "dev1-kennel" in capsys.readouterr().out  # make run prints the demo passwords
    from blueprints.models import Blueprint

    # The shipped blueprints, global, one version each however often the demo is loaded.
    assert sorted(Blueprint.objects.filter(team=None).values_list("name", "versions__number")) == [
        ("ci-agent", 1),
        ("http-file-server", 1),
        ("squid-proxy", 1),
    ]

    teams, users, memberships, servers, _events = first
    assert teams == ["alpha", "beta"]
    assert {(u, r) for u, r, _ in users} == {
        ("dev1", "developer"),
        ("dev2", "developer"),
        ("manager", "manager"),
        ("admin", "admin"),
    }
    assert {(t, lvl) for u, t, lvl in memberships if u == "dev2"} == {("alpha", "member"), ("beta", "lead")}
    by_name = {name: (arch, dc, roles, hv) for name, arch, dc, roles, hv, _serial in servers}
    assert by_name == {
        "X1": ("x86_64", "dc1", ["controller", "network", "proxy"], ""),
        "X2": ("x86_64", "dc1", ["compute"], "x2"),
        "X3": ("x86_64", "dc1", ["compute"], "x3"),
        "X4": ("x86_64", "dc1", ["compute"], "x4"),
        "X5": ("x86_64", "dc1", ["outside"], ""),
        "P1": ("ppc64le", "dc2", ["compute"], "p1"),
        "P2": ("ppc64le", "dc2", ["outside"], ""),
    }


def test_demo_passwords_work(client):
    call_command("demo_load", "--no-cloud")
    # Through the sign-in form: django-axes needs the request that client.login() does not pass.
    response = client.post("/login/", {"username": "manager", "password": "manager-kennel"})
    assert response.status_code == 302 and client.get("/").wsgi_request.user.username == "manager"


def test_demo_load_repairs_a_changed_role():
    call_command("demo_load", "--no-cloud")
    User.objects.filter(username="manager").update(role="developer")
    call_command("demo_load", "--no-cloud")
    assert User.objects.get(username="manager").role == "manager"


def test_demo_profile_renders_valid_user_data_for_both_architectures():
    from provisioning import cloudinit
    from provisioning.models import Profile
    from provisioning.services import profile_parts

    call_command("demo_load", "--no-cloud")
    parts = profile_parts(Profile.objects.get(name="dc1-standard"))
    for arch in ("x86_64", "ppc64le"):
        text = cloudinit.render_user_data(parts, architecture=arch, hostname="demo")
        assert cloudinit.validate_user_data(text) == []
        assert f"http://mirror.dc1.example/el9/{arch}/" in text and "proxy.dc1.example:3128" in text
        assert "dev-kennel" not in text  # the password travels only as a hash


def test_demo_servers_get_the_bmcs_of_the_shared_estate_file():
    call_command("demo_load", "--no-cloud")
    stored = {s.name: (s.bmc_protocol, s.bmc_address, s.bmc_port) for s in Server.objects.all()}
    assert stored["X1"] == ("redfish", "http://127.0.0.1", 18081)
    assert stored["P2"] == ("ipmi", "127.0.0.1", 16242)


def test_the_emulators_run_the_bmcs_the_demo_stores():
    from bmcsim.demo import DEMO_BMCS  # tests may import the emulators; the portal may not

    emulated = {
        (b.name, b.protocol, b.address, b.port, b.username, b.password, b.powered_on) for b in DEMO_BMCS
    }
    stored = {
        (b.server, b.protocol, b.address, b.port, b.username, b.password, b.powered_on)
        for b in demo_bmcs().values()
    }
    assert emulated == stored and len(stored) == 7


def test_the_demo_loader_imports_no_emulator_code():
    # A Python where bmcsim cannot be imported at all (as in the container image): the demo still loads
    # its estate data. Django is set up, so every app's module the demo pulls in is imported too.
    code = (
        "import sys; sys.modules['bmcsim'] = None\n"
        "import django; django.setup()\n"
        "from kennel.demo import demo_bmcs\n"
        "import kennel.management.commands.demo_load\n"
        "print(sorted(demo_bmcs()))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kennel.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(sorted(["P1", "P2", "X1", "X2", "X3", "X4", "X5"]))


def test_demo_history_gives_the_charts_and_the_forecast_data_labelled_as_demo(client):
    from datetime import timedelta

    from django.utils import timezone

    from inventory.history import ForecastStatus, utilization_forecast
    from inventory.models import UtilizationSample
    from kennel.demo import DEMO_HISTORY_DAYS

    call_command("demo_load", "--no-cloud")
    demo = UtilizationSample.objects.filter(demo=True)
    daily = demo.filter(resolution="1d", scope="architecture", key="x86_64")
    assert daily.count() == DEMO_HISTORY_DAYS
    assert demo.filter(resolution="1h", scope="datacenter").exists()
    written = demo.count()
    call_command("demo_load", "--no-cloud")
    assert UtilizationSample.objects.count() == written  # loaded once

    manager = User.objects.get(username="manager")
    forecasts = utilization_forecast(user=manager)
    x86_vcpu = next(f for f in forecasts if f.key == "x86_64" and f.resource_class == "VCPU")
    assert x86_vcpu.status == ForecastStatus.REACHES  # the forecast has a date to show
    assert x86_vcpu.reaches_at < timezone.now() + timedelta(days=365)

    client.force_login(manager)
    for url in ("/inventory/dashboard/", "/inventory/utilization/history/?range=month"):
        page = client.get(url).content.decode()
        assert 'data-testid="demo-history"' in page and "Demo data" in page, url
    page = client.get("/inventory/utilization/history/?range=month").content.decode()
    assert page.count("<svg") >= 2  # charts drawn from the demo history
