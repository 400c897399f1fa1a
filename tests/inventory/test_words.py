"""What BMCs and the cloud report about hardware (sensor kinds, health, compute hosts' state and status)
reads in the reader's language, not as the codes they arrive as."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import CloudHostFactory, HardwareStateFactory

pytestmark = pytest.mark.django_db


def _chinese(client, user):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def test_a_servers_sensors_show_their_kind_and_health_in_chinese(client, manager):
    hw = HardwareStateFactory(
        health="warning",
        sensors=[
            {"name": "CPU1 Temp", "kind": "temperature", "value": 71.0, "health": "warning"},
            {"name": "FAN1", "kind": "fan", "value": 5400.0, "health": "ok"},
            {"name": "PSU1", "kind": "power", "value": 230.0, "health": "critical"},
        ],
    )

    page = _chinese(client, manager).get(reverse("inventory:server-detail", args=[hw.server.pk])).text

    table = page[page.index("CPU1 Temp") :]
    table = table[: table.index("</tbody>")]
    for code in ("temperature", "fan", "power", "warning", "ok", "critical"):
        assert f"<td>{code}</td>" not in table.lower(), code
    for word in ("温度", "风扇", "功耗", "警告", "正常", "严重"):
        assert word in table, word


def test_compute_hosts_state_and_status_show_in_chinese(client, manager):
    CloudHostFactory(name="x1", state="up", status="enabled")
    CloudHostFactory(name="x2", state="down", status="disabled")

    page = _chinese(client, manager).get(reverse("inventory:utilization")).text

    assert "up / enabled" not in page and "down / disabled" not in page
    assert "运行 / 已启用" in page and "停止 / 已禁用" in page
