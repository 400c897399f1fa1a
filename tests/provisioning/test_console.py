"""The console: asking for it follows the request live (htmx) until the link, or the reason there is none,
arrives; the console log is Nova's console output, read by a worker on demand. Against the FakeCloud
(tests/provisioning/test_integration.py drives the real one)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portal.cloud.gateway import ServerAction
from portal.models import AuditEvent
from provisioning import services
from provisioning.models import VmEvent, VmRequest
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(member):
    client = Client()
    client.force_login(member)
    return client


def test_console_pages_matrix(people, vm):
    # A plain GET (no htmx) goes to the VM's page; another team's developer cannot tell the VM exists.
    mine = {"anonymous": 302, "member": 302, "outsider": 404, "manager": 302, "admin": 302}
    for name in ("provisioning:vm-console", "provisioning:vm-console-log"):
        check_matrix(people, reverse(name, args=[vm.pk]), mine)
    # Asking is acting on the VM: its team (and admins), not managers or other teams.
    for name in ("provisioning:vm-console", "provisioning:vm-console-log"):
        check_matrix(
            people,
            reverse(name, args=[vm.pk]),
            {"anonymous": 302, "member": 302, "outsider": 404, "manager": 403, "admin": 302},
            method="post",
        )


def test_the_console_api_matrix(people, vm):
    for path in ("console", "console-log"):
        check_matrix(
            people,
            f"/api/v1/vms/{vm.pk}/{path}/",
            {"anonymous": 401, "member": 202, "outsider": 404, "manager": 403, "admin": 202},
            method="post",
        )


def test_pressing_console_follows_the_request_and_shows_the_link_without_a_reload(vm, browser):
    url = reverse("provisioning:vm-console", args=[vm.pk])
    asked = browser.post(url, **HTMX).content.decode()
    # The section swaps itself in, says it is asking, and polls until the answer arrives.
    assert 'id="vm-console"' in asked and 'data-testid="console-waiting"' in asked
    assert f'hx-get="{url}"' in asked and 'hx-trigger="every 1s"' in asked
    # Its own target: inside the page's status section it would otherwise inherit that section's.
    assert 'hx-target="this" hx-swap="outerHTML"' in asked
    assert 'data-testid="console-link"' not in asked
    assert "<html" not in asked  # a fragment, not a page
    still = browser.get(url, **HTMX).content.decode()
    assert 'data-testid="console-waiting"' in still
    services.vm_console_advance(request_id=vm.pk)  # what the worker does
    answered = browser.get(url, **HTMX).content.decode()
    assert 'data-testid="console-link"' in answered and "http://127.0.0.1:6080/vnc_auto.html" in answered
    assert "hx-trigger" not in answered  # polling stops by itself
    assert AuditEvent.objects.filter(action="vm.console", target_id=str(vm.pk)).count() == 1


def test_without_javascript_pressing_console_goes_back_to_the_page(vm, browser):
    response = browser.post(reverse("provisioning:vm-console", args=[vm.pk]))
    assert response.status_code == 302 and response.url == reverse("provisioning:vm-detail", args=[vm.pk])
    page = browser.get(response.url).content.decode()
    assert 'data-testid="console-waiting"' in page


def test_a_cloud_without_a_console_proxy_is_said_so_instead_of_a_dead_link(vm, browser, fake_cloud):
    fake_cloud.console_proxy = False
    url = reverse("provisioning:vm-console", args=[vm.pk])
    browser.post(url, **HTMX)
    services.vm_console_advance(request_id=vm.pk)
    answered = browser.get(url, **HTMX).content.decode()
    assert 'data-testid="console-link"' not in answered and "hx-trigger" not in answered
    assert 'data-testid="console-error"' in answered and "This cloud offers no console" in answered
    assert "console proxy" in answered
    vm.refresh_from_db()
    assert vm.console_url == "" and "no console" in vm.console_error
    assert VmEvent.objects.filter(request=vm, message__contains="offers no console").exists()
    assert vm.console_url == "" and vm.console_url_at is None


def test_the_console_of_a_stopped_vm_is_refused_in_the_section(vm, member, browser, fake_cloud):
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.STOP)
    answer = browser.post(reverse("provisioning:vm-console", args=[vm.pk]), **HTMX).content.decode()
    assert 'data-testid="console-refusal"' in answer and "while it is stopped" in answer
    assert 'data-testid="console"' not in answer  # no button to press again


def test_the_console_log_is_novas_console_output_read_on_demand(vm, browser):
    url = reverse("provisioning:vm-console-log", args=[vm.pk])
    page = browser.get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert 'data-testid="console-log-refresh"' in page and "Not read yet." in page
    asked = browser.post(url, **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in asked and "Reading the console" in asked
    services.vm_console_log_advance(request_id=vm.pk)  # the worker
    shown = browser.get(url, **HTMX).content.decode()
    assert "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE" in shown and "hx-trigger" not in shown
    # Refreshing keeps the last log on the page until the new one arrives.
    again = browser.post(url, **HTMX).content.decode()
    assert "FAKE CONSOLE OUTPUT" in again and 'hx-trigger="every 1s"' in again
    vm.refresh_from_db()
    assert vm.console_log_at is not None and vm.console_log_error == ""


def test_the_api_asks_for_the_console_log_and_shows_it(vm, member, fake_cloud):
    api = APIClient()
    api.force_authenticate(member)
    assert api.post(f"/api/v1/vms/{vm.pk}/console-log/").status_code == 202
    services.vm_console_log_advance(request_id=vm.pk)
    data = api.get(f"/api/v1/vms/{vm.pk}/").json()
    assert data["console_log"] == "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE" and data["console_log_at"]
    fake_cloud.console_proxy = False
    assert api.post(f"/api/v1/vms/{vm.pk}/console/").status_code == 202
    services.vm_console_advance(request_id=vm.pk)
    data = api.get(f"/api/v1/vms/{vm.pk}/").json()
    assert data["console_url"] == "" and "no console" in data["console_error"]
    VmRequest.objects.filter(pk=vm.pk).update(server_status="SHUTOFF", server_state="stopped")
    refused = api.post(f"/api/v1/vms/{vm.pk}/console/")
    assert refused.status_code == 409 and "stopped" in refused.json()["detail"]


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks run in the test's process, retries at once, as a worker would run them."""
    from kennel.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    monkeypatch.setattr("portal.worker.outage.outage_backoff", lambda retries: 0)
    yield
    app.conf.task_always_eager = previous


def test_a_console_asked_for_during_an_outage_says_the_cloud_is_away_once_the_retries_end(
    vm, browser, fake_cloud, eager_tasks
):
    from provisioning import tasks

    url = reverse("provisioning:vm-console", args=[vm.pk])
    browser.post(url, **HTMX)
    fake_cloud.available = False
    tasks.vm_console.apply(args=(vm.pk,))
    answered = browser.get(url, **HTMX).content.decode()
    assert 'data-testid="console-error"' in answered and "could not be reached" in answered
    assert "hx-trigger" not in answered  # polling stops: no minute of waiting for nothing
    tasks.vm_console_log.apply(args=(vm.pk,))
    vm.refresh_from_db()
    assert "could not be reached" in vm.console_log_error and not vm.console_log_waiting
