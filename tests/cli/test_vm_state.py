"""``kennel vm``: the server's state first (list, show, --state), nonsensical actions refused with the
server's reason, the console and its log. The real script against a live Kennel, the fake cloud, tasks
run eagerly."""

from __future__ import annotations

import pytest

from provisioning.models import VmRequest

pytestmark = pytest.mark.django_db(transaction=True)


def request(kennel, name):
    done = kennel("vm", "request", "--image", "cirros-0.6-x86_64", "--flavor", "m1.tiny", "--name", name)
    assert done.code == 0, done.err
    return VmRequest.objects.get(name=name)


def row(out: str, name: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if f" {name} " in f" {line} ")


def test_list_and_show_give_the_servers_state_and_filter_by_it(
    kennel, logged_in, member, fake_cloud, eager_tasks
):
    logged_in(member)
    request(kennel, "on1")
    off = request(kennel, "off1")
    stopped = kennel("vm", "stop", "off1")
    assert stopped.code == 0, stopped.err
    off.refresh_from_db()
    assert off.server_state == "stopped"
    listed = kennel("vm", "list")
    assert listed.code == 0 and "STATE" in listed.out.splitlines()[0]
    assert "stopped" in row(listed.out, "off1") and "running" in row(listed.out, "on1")
    assert "active" not in listed.out  # the request's "built" is not a state anybody needs to read
    only = kennel("vm", "list", "--state", "stopped", "--json")
    assert [vm["name"] for vm in only.json()] == ["off1"]
    assert only.json()[0]["server_state"] == "stopped" and only.json()[0]["status"] == "active"
    shown = kennel("vm", "show", "off1")
    head = shown.out.split("\nhistory:")[0]
    fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
    fields = {label: value.strip() for label, value in fields.items()}
    assert fields["state"] == "stopped" and fields["request"].startswith("active")
    assert fields["server"].startswith("SHUTOFF")


def test_a_nonsensical_action_is_refused_with_the_reason_and_exit_5(
    kennel, logged_in, member, fake_cloud, eager_tasks
):
    logged_in(member)
    request(kennel, "web1")
    refused = kennel("vm", "start", "web1")
    assert refused.code == 5 and "web1 is already running" in refused.err


def test_console_prints_the_url_and_console_log_the_servers_output(
    kennel, logged_in, member, fake_cloud, eager_tasks
):
    logged_in(member)
    request(kennel, "web1")
    console = kennel("vm", "console", "web1")
    assert console.code == 0, console.err
    assert console.out.startswith("http://127.0.0.1:6080/vnc_auto.html?path=")
    log = kennel("vm", "console-log", "web1")
    assert log.code == 0, log.err
    assert log.out == "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE\n"
    fake_cloud.console_proxy = False
    none = kennel("vm", "console", "web1")
    assert none.code == 1 and "This cloud offers no console" in none.err
