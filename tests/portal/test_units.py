"""Numbers for people: RAM in GiB wherever a page shows it, and why the cloud's count differs."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.units import gib_text
from tests.factories import TeamQuotaFactory, VmRequestFactory


@pytest.mark.parametrize(
    ("mb", "text"),
    [(512, "0.5 GiB"), (2048, "2 GiB"), (1536, "1.5 GiB"), (64, "0.06 GiB"), (0, "0 GiB"), (32768, "32 GiB")],
)
def test_gib_text(mb, text):
    assert gib_text(mb) == text


@pytest.mark.django_db
def test_the_quota_table_shows_ram_in_gib_and_says_why_the_cloud_counts_more(lead, team):
    TeamQuotaFactory(team=team, key="ram_mb", limit=32768, cloud_used=4096)
    VmRequestFactory(team=team, owner=lead, ram_mb=2048)
    client = Client()
    client.force_login(lead)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    row = page.split('data-dimension="ram_mb"')[1].split("</tr>")[0]
    assert "(GiB)" in row and "32 GiB" in row and "2 GiB" in row and "cloud: 4 GiB" in row
    reason = page.split('data-testid="cloud-count-reason"')[1].split("</p>")[0]
    assert "servers made outside Kennel" in reason
    assert " MB" not in row


@pytest.mark.django_db
def test_the_vm_page_shows_ram_in_gib(member, team):
    vm = VmRequestFactory(team=team, owner=member, ram_mb=512)
    client = Client()
    client.force_login(member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert "0.5 GiB RAM" in page and "512 MB" not in page
