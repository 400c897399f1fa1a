"""Every usage page without metrics configured says so, and with Prometheus stopped says it cannot be
reached: never a 500. The dashboard then simply has no hot-host alerts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from exportersim.runner import Stack
from inventory.dashboard import AlertKind, estate_alerts
from tests.usage.conftest import VMS

pytestmark = pytest.mark.django_db


def _pages(estate) -> list[tuple[str, str]]:
    vm = estate["vms"][VMS[0].uuid]
    return [
        ("manager", reverse("usage:hosts")),
        ("manager", reverse("usage:host-detail", args=[estate["servers"]["X3"].pk])),
        ("member", reverse("usage:vms")),
        ("member", reverse("usage:vm-detail", args=[vm.pk])),
        ("member", reverse("usage:team-detail", args=["alpha"])),
        ("member", reverse("provisioning:vm-detail", args=[vm.pk])),
        ("manager", reverse("inventory:dashboard")),
    ]


def _get_all(estate, people, marker: str) -> None:
    for who, url in _pages(estate):
        client = Client()
        client.force_login(people[who])
        response = client.get(url)
        assert response.status_code == 200, url
        if url.startswith("/usage/"):
            assert marker in response.content.decode(), url


def test_without_metrics_configured_every_page_says_so(estate, manager, member):
    _get_all(estate, {"manager": manager, "member": member}, 'data-metrics="not-configured"')


def test_with_prometheus_stopped_every_page_says_it_cannot_be_reached(
    estate, manager, member, settings, tmp_path
):
    with Stack(tmp_path, interval=1, vms="none", real_node_exporter=False) as stack:
        settings.KENNEL_PROMETHEUS_URL = stack.url
        client = Client()
        client.force_login(manager)
        assert 'data-host="X3"' in client.get(reverse("usage:hosts")).content.decode()
        stack.stop_prometheus()
        _get_all(estate, {"manager": manager, "member": member}, 'data-metrics="unavailable"')
        assert not [a for a in estate_alerts(user=manager) if a.kind == AlertKind.HOST_HOT]
