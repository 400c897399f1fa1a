"""What the client asks on a terminal: the password (not echoed), the typed name before deleting a VM,
and the reason and typed name for a power action, as the web pages ask them."""

from __future__ import annotations

import pytest

from portal.models import ApiToken, AuditEvent
from provisioning import services
from provisioning.models import VmRequest
from tests.factories import PASSWORD, ServerFactory
from tests.fixtures.fake_cloud import flavor, image

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_asks_for_username_and_password_without_echoing_it(kennel_on_terminal, live_server, member):
    done = kennel_on_terminal(
        "login", live_server.url, dialogue=[("Username: ", "member"), ("Password for member", PASSWORD)]
    )
    assert done.code == 0, done.out
    assert PASSWORD not in done.out and "Logged in to" in done.out
    assert ApiToken.objects.filter(user=member).count() == 1


def test_deleting_a_vm_needs_its_name_typed(
    kennel_on_terminal, logged_in, member, team, fake_cloud, eager_tasks
):
    vm = services.vm_request_submit(
        actor=member, team=team, name="web1", image=image(), flavor=flavor(), source="test"
    )
    logged_in(member)
    typo = kennel_on_terminal("vm", "delete", "web1", dialogue=[("Type its name to confirm: ", "web2")])
    assert typo.code == 1 and "nothing was deleted" in typo.out
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.ACTIVE
    typed = kennel_on_terminal("vm", "delete", "web1", dialogue=[("Type its name to confirm: ", "web1")])
    assert typed.code == 0, typed.out
    vm.refresh_from_db()
    assert vm.status in (VmRequest.Status.DELETING, VmRequest.Status.DELETED)


def test_a_power_action_asks_why_and_for_the_typed_name_and_the_server_judges(
    kennel_on_terminal, logged_in, admin
):
    ServerFactory(name="x9")
    logged_in(admin)
    done = kennel_on_terminal(
        "host",
        "power",
        "x9",
        "hard_off",
        dialogue=[
            ("Why hard_off x9?", "firmware update"),
            ("Type the server's name (x9) to confirm: ", "x9"),
        ],
    )
    # x9 has no BMC: the server refuses with its reason, and the refusal is in the audit log with the reason.
    assert done.code == 5 and "Refused: " in done.out and "BMC" in done.out
    denied = AuditEvent.objects.get(action="server.power_request")
    assert denied.outcome == AuditEvent.Outcome.DENIED and denied.detail["reason"] == "firmware update"
