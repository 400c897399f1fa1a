"""The real ``kennel`` script against a live Kennel over HTTP: login and logout, lists, requests and
operations on VMs (the fake cloud, tasks run eagerly), permissions, exit codes and error messages."""

from __future__ import annotations

import json
import stat

import pytest

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create
from provisioning.models import VmRequest
from tests.factories import PASSWORD, PowerRequestFactory, ServerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_saves_url_and_a_fresh_token_in_a_file_only_the_user_can_read(
    kennel, live_server, member, config_file
):
    done = kennel(
        "login",
        live_server.url,
        "-u",
        "member",
        "--password-stdin",
        "--name",
        "ci box",
        input=PASSWORD + "\n",
    )
    assert done.code == 0, done.err
    assert f"Logged in to {live_server.url} as member" in done.out
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    saved = json.loads(config_file.read_text())
    token = ApiToken.objects.get(user=member)
    assert saved["url"] == live_server.url and saved["username"] == "member"
    assert ApiToken.digest_of(saved["token"]) == token.digest and saved["token_id"] == token.pk
    assert token.name == "ci box"
    whoami = kennel("whoami", "--json")
    assert whoami.code == 0 and whoami.json()["username"] == "member" and whoami.json()["role"] == "developer"


def test_a_wrong_password_says_so_exits_3_and_saves_nothing(kennel, live_server, member, config_file):
    done = kennel("login", live_server.url, "-u", "member", "--password-stdin", input="wrong\n")
    assert done.code == 3
    assert "Wrong username or password" in done.err
    assert not config_file.exists() and not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(action="auth.login", outcome="failure").exists()
    # The server's reasons come in the user's language.
    chinese = kennel(
        "login",
        live_server.url,
        "-u",
        "member",
        "--password-stdin",
        input="wrong\n",
        env={"LANG": "zh_CN.UTF-8"},
    )
    assert chinese.code == 3 and "用户名或密码错误" in chinese.err


def test_logging_in_again_revokes_the_previous_token(kennel, logged_in, member):
    logged_in(member)
    first = ApiToken.objects.get(user=member)
    logged_in(member)
    assert (
        list(ApiToken.objects.filter(user=member)) != [first]
        and ApiToken.objects.filter(user=member).count() == 1
    )


def test_logout_revokes_the_token_on_the_server_and_forgets_it(kennel, logged_in, member, config_file):
    logged_in(member)
    done = kennel("logout")
    assert done.code == 0 and "Token revoked on the server" in done.out
    assert not ApiToken.objects.filter(user=member).exists()
    saved = json.loads(config_file.read_text())
    assert saved["token"] == "" and saved["url"]  # the address stays for the next login
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    after = kennel("vm", "list")
    assert after.code == 3 and "Not logged in. Run: kennel login" in after.err


def test_login_with_an_existing_token_checks_it_first(kennel, live_server, member, config_file):
    _token, key = api_token_create(user=member, name="from the web", source="test")
    bad = kennel("login", live_server.url, "--token", "kn_nonsense")
    assert bad.code == 3 and "kennel login" in bad.err and not config_file.exists()
    good = kennel("login", live_server.url, "--token", "-", input=key + "\n")
    assert good.code == 0, good.err
    assert json.loads(config_file.read_text())["token"] == key


def test_the_saved_token_is_never_sent_to_another_server(kennel, logged_in, member, live_server):
    logged_in(member)
    done = kennel("--url", "http://127.0.0.1:9", "arch", "list")
    assert done.code == 3
    assert f"You are logged in to {live_server.url}, not http://127.0.0.1:9" in done.err
    assert "Cannot reach" not in done.err  # refused before any connection
    env = kennel("arch", "list", env={"KENNEL_URL": "http://127.0.0.1:9"})
    assert env.code == 3 and "not http://127.0.0.1:9" in env.err


def test_a_token_revoked_elsewhere_gets_exit_3_and_the_way_out(kennel, logged_in, member, live_server):
    logged_in(member)
    ApiToken.objects.filter(user=member).delete()
    done = kennel("arch", "list")
    assert done.code == 3
    assert "Invalid, expired or revoked token" in done.err and f"kennel login {live_server.url}" in done.err


def test_catalog_lists_for_people_and_for_scripts(kennel, logged_in, member, fake_cloud):
    logged_in(member)
    arches = kennel("arch", "list")
    assert arches.code == 0 and arches.out.splitlines()[0].split() == ["ARCH", "IMAGES", "HOSTS"]
    assert {line.split()[0] for line in arches.out.splitlines()[1:]} == {"ppc64le", "x86_64"}
    images = kennel("image", "list", "--arch", "ppc64le", "--json")
    assert images.code == 0 and {i["architecture"] for i in images.json()} == {"ppc64le"}
    flavors = kennel("flavor", "list", "--arch", "ppc64le")
    assert flavors.code == 0 and "FIT NOW" in flavors.out and "m1.tiny" in flavors.out
    profiles = kennel("profile", "list", "--json")
    assert profiles.code == 0 and isinstance(profiles.json(), list)


def test_profile_show_prints_the_user_data_of_one_architecture(kennel, logged_in, member, fake_cloud):
    from kennel.demo import _demo_profile

    _demo_profile()
    logged_in(member)
    done = kennel("profile", "show", "dc1-standard", "--arch", "ppc64le")
    assert done.code == 0, done.err
    assert "# user-data on ppc64le" in done.out and "#cloud-config" in done.out and "x86_64" not in done.out
    missing = kennel("profile", "show", "no-such-profile")
    assert missing.code == 4 and "Not found" in missing.err


def test_request_list_show_extend_and_delete_a_vm(kennel, logged_in, member, fake_cloud, eager_tasks):
    logged_in(member)
    done = kennel(
        "vm",
        "request",
        "--arch",
        "ppc64le",
        "--image",
        "cirros-0.6-ppc64le",
        "--flavor",
        "m1.tiny",
        "--name",
        "cli1",
        "--package",
        "tmux",
        "--json",
    )
    assert done.code == 0, done.err
    vm = VmRequest.objects.get(name="cli1")
    assert done.json()["id"] == vm.pk and vm.owner == member and vm.team.slug == "alpha"
    assert vm.status == VmRequest.Status.ACTIVE and "tmux" in vm.user_data  # built by the eager task
    listed = kennel("vm", "list")
    assert listed.code == 0 and "cli1" in listed.out and "running" in listed.out
    shown = kennel("vm", "show", "cli1")
    assert shown.code == 0 and "history:" in shown.out and "Requested by member" in shown.out
    extended = kennel("vm", "extend", "cli1", "--days", "5")
    assert extended.code == 0 and "lease now ends" in extended.out
    refused = kennel("vm", "delete", "cli1")  # no terminal to type the name on
    assert refused.code == 2 and "--yes" in refused.err
    deleted = kennel("vm", "delete", "cli1", "--yes", "--wait", "--interval", "0.2")
    assert deleted.code == 0, deleted.err
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETED
    gone = kennel("vm", "list")
    assert "cli1" not in gone.out and "cli1" in kennel("vm", "list", "--all").out


def test_a_request_with_wait_reports_each_step_and_the_outcome(
    kennel, logged_in, member, fake_cloud, eager_tasks
):
    logged_in(member)
    done = kennel(
        "vm",
        "request",
        "--image",
        "cirros-0.6-ppc64le",
        "--flavor",
        "m1.tiny",
        "--name",
        "cli2",
        "--wait",
    )
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("Requested cli2 (id ")
    assert sum("Requested by member" in line for line in lines) == 1  # each step once
    assert lines[-1].startswith("cli2 is active on ")


def test_the_server_reason_for_a_refused_request_is_shown_with_exit_1(kennel, logged_in, member, fake_cloud):
    logged_in(member)
    unknown = kennel("vm", "request", "--image", "nope", "--flavor", "m1.tiny", "--name", "x1")
    assert unknown.code == 1 and "image: No such image: 'nope'." in unknown.err
    wrong_arch = kennel(
        "vm",
        "request",
        "--arch",
        "x86_64",
        "--image",
        "cirros-0.6-ppc64le",
        "--flavor",
        "m1.tiny",
    )
    assert wrong_arch.code == 1 and "is ppc64le, not x86_64" in wrong_arch.err
    bad_key = kennel(
        "vm", "request", "--image", "cirros-0.6-ppc64le", "--flavor", "m1.tiny", "--key", "/nonexistent.pub"
    )
    assert bad_key.code == 2 and "Cannot read the key file" in bad_key.err
    assert not VmRequest.objects.exists()


def test_a_vm_nobody_can_see_is_not_found(kennel, logged_in, member, fake_cloud):
    logged_in(member)
    by_name = kennel("vm", "show", "ghost")
    assert by_name.code == 4 and "You have no VM named 'ghost'" in by_name.err
    by_id = kennel("vm", "reboot", "999999", "--hard")
    assert by_id.code == 4


def test_a_developer_cannot_use_manager_or_admin_commands(kennel, logged_in, member):
    ServerFactory(name="x9")
    logged_in(member)
    for args in (
        ["host", "list"],
        ["host", "show", "x9"],
        ["host", "power", "x9", "cycle", "--reason", "r", "--confirm", "x9"],
        ["request", "approve", "1"],
    ):
        done = kennel(*args)
        assert done.code == 5, (args, done.err)
        assert "you (member) are a developer" in done.err, done.err


def test_a_manager_lists_hosts_and_an_admins_power_action_gets_the_servers_refusal(
    kennel, logged_in, manager, admin
):
    ServerFactory(name="x9")
    logged_in(manager)
    listed = kennel("host", "list")
    assert listed.code == 0 and "x9" in listed.out
    assert kennel("host", "show", "x9", "--json").json()["name"] == "x9"
    refused = kennel("host", "power", "x9", "cycle", "--reason", "r", "--confirm", "x9")
    assert refused.code == 5 and "are a manager" in refused.err
    logged_in(admin)
    noninteractive = kennel("host", "power", "x9", "cycle")
    assert noninteractive.code == 2 and "--reason and --confirm" in noninteractive.err
    no_bmc = kennel("host", "power", "x9", "cycle", "--reason", "firmware", "--confirm", "x9")
    assert no_bmc.code == 5 and no_bmc.err.startswith("kennel: Refused: ") and "BMC" in no_bmc.err


def test_usage_errors_exit_2_and_an_unreachable_server_exits_7(kennel, live_server, member):
    assert kennel("vm", "request", "--image", "x").code == 2  # --flavor is required
    assert kennel("vm").code == 2
    assert kennel("login", "kennel.example.org").code == 2
    down = kennel("--url", "http://127.0.0.1:9", "arch", "list", env={"KENNEL_TOKEN": "kn_x"})
    assert down.code == 7 and "Cannot reach http://127.0.0.1:9" in down.err


def test_every_command_has_help(kennel):
    from kennel_cli.commands.completion import command_tree
    from kennel_cli.main import build_parser

    for path, node in command_tree(build_parser()).items():
        if node["commands"]:
            continue
        done = kennel(*path.split(), "--help")
        assert done.code == 0 and "exit codes:" in done.out, path
        if path not in ("logout", "completion"):
            assert "--json" in done.out, path


def test_login_says_when_the_token_expires_and_whoami_repeats_it(
    kennel, logged_in, live_server, member, settings
):
    done = kennel("login", live_server.url, "-u", "member", "--password-stdin", input=PASSWORD + "\n")
    assert done.code == 0, done.err
    token = ApiToken.objects.get(user=member)
    local = token.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    days = settings.KENNEL_API_TOKEN_DAYS
    assert f"The token (full access) expires: {local} (in {days - 1} days)." in done.out
    whoami = kennel("whoami")
    assert whoami.code == 0
    assert f"expires: {local} (in {days - 1} days)" in whoami.out
    assert f"token:   {token.name} ({token.prefix}…), full access" in whoami.out
    as_json = kennel("whoami", "--json").json()
    assert as_json["token"]["read_only"] is False and as_json["token"]["expires_at"]


def test_login_read_only_gets_a_token_the_server_refuses_changes_with(
    kennel, live_server, member, fake_cloud
):
    done = kennel(
        "login", live_server.url, "-u", "member", "--password-stdin", "--read-only", input=PASSWORD + "\n"
    )
    assert done.code == 0, done.err
    assert "The token (read-only) expires:" in done.out
    assert ApiToken.objects.get(user=member).read_only
    assert "read-only" in kennel("whoami").out
    assert kennel("arch", "list").code == 0
    refused = kennel(
        "vm",
        "request",
        "--arch",
        "ppc64le",
        "--image",
        "cirros-0.6-ppc64le",
        "--flavor",
        "m1.tiny",
        "--name",
        "ro1",
    )
    assert refused.code == 5 and "Not allowed: This token is read-only" in refused.err, refused.err
    assert not VmRequest.objects.exists()
    assert kennel("logout").code == 0 and not ApiToken.objects.filter(user=member).exists()


def test_an_expired_token_is_named_as_such(kennel, logged_in, member, live_server):
    from datetime import timedelta

    from django.utils import timezone

    logged_in(member)
    ApiToken.objects.filter(user=member).update(expires_at=timezone.now() - timedelta(hours=1))
    done = kennel("whoami")
    assert done.code == 3 and "This token expired on" in done.err
    assert f"kennel login {live_server.url}" in done.err


def test_expiry_is_said_in_days_hours_or_as_never():
    from datetime import UTC, datetime

    from kennel_cli.output import expiry

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert expiry(None) == "never"
    assert expiry("2027-03-02T12:30:00Z", now=now).endswith("(in 90 days)")
    assert expiry("2026-12-03T12:30:00Z", now=now).endswith("(in 1 day)")
    assert expiry("2026-12-02T17:00:00Z", now=now).endswith("(in 5 hours)")
    assert expiry("2026-12-02T12:10:00Z", now=now).endswith("(in less than an hour)")
    assert expiry("2026-12-01T12:00:00Z", now=now).endswith("(expired)")


def test_kennel_login_is_refused_with_the_wait_once_the_account_is_locked(
    kennel, live_server, member, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    codes = [
        kennel("login", live_server.url, "-u", "member", "--password-stdin", input="wrong\n").code
        for _ in range(3)
    ]
    assert codes == [3, 3, 5]
    right = kennel("login", live_server.url, "-u", "member", "--password-stdin", input=PASSWORD + "\n")
    assert right.code == 5
    assert (
        "Too many failed sign-ins for this account or from this address. Try again in 15 minutes" in right.err
    )
    assert f"Try again in {settings.KENNEL_LOGIN_COOLOFF_SECONDS} s." in right.err
    assert not ApiToken.objects.exists()


def test_an_admin_cancels_a_power_action_waiting_for_a_second_admin(kennel, logged_in, admin):
    waiting = PowerRequestFactory(server=ServerFactory(name="ctl9"), status="awaiting_confirmation")
    logged_in(admin)

    done = kennel("host", "cancel", str(waiting.pk))
    again = kennel("host", "cancel", str(waiting.pk))

    assert done.code == 0 and f"Power request {waiting.pk} (on ctl9) is cancelled." in done.out
    assert again.code == 5 and "cannot be cancelled" in again.err
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
