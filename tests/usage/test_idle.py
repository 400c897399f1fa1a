"""Idle detection against the real Prometheus: exactly the VMs the emulator made idle are flagged,
their owners are told once, and a lead stops or deletes them from the reclaim list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from provisioning.models import VmRequest
from tests.usage.conftest import IDLE_IDS, RATE_SECONDS, VMS
from usage.models import IdleVm
from usage.services import MetricsNotConfigured, idle_vm_scan

pytestmark = pytest.mark.django_db


def test_exactly_the_idle_vms_are_flagged_and_their_owners_told_once(metrics, estate, mailoutbox):
    assert 0 < len(IDLE_IDS) < len(VMS)
    scan = idle_vm_scan(window=timedelta(seconds=RATE_SECONDS * 2))
    flagged = set(IdleVm.objects.values_list("vm__server_id", flat=True))
    assert flagged == IDLE_IDS
    assert scan.flagged == len(IDLE_IDS) and scan.notified == len(IDLE_IDS)
    assert len(mailoutbox) == len(IDLE_IDS) and all(m.to == ["member@example.org"] for m in mailoutbox)
    assert AuditEvent.objects.filter(action="vm.idle_flagged").count() == len(IDLE_IDS)
    again = idle_vm_scan(window=timedelta(seconds=RATE_SECONDS * 2))
    assert (again.flagged, again.still_idle, again.notified) == (0, len(IDLE_IDS), 0)
    assert len(mailoutbox) == len(IDLE_IDS)


def test_a_vm_younger_than_the_window_or_no_longer_running_is_not_flagged(metrics, estate):
    idle_vm_scan(window=timedelta(seconds=RATE_SECONDS * 2))
    some = next(iter(IDLE_IDS))
    VmRequest.objects.filter(server_id=some).update(status=VmRequest.Status.DELETED)
    VmRequest.objects.filter(server_id__in=IDLE_IDS - {some}).update(created_at=timezone.now())
    scan = idle_vm_scan(window=timedelta(seconds=RATE_SECONDS * 2))
    assert scan.cleared == len(IDLE_IDS)
    assert not IdleVm.objects.exists()


def test_without_prometheus_the_scan_changes_nothing(estate, settings):
    settings.KENNEL_PROMETHEUS_URL = None
    with pytest.raises(MetricsNotConfigured):
        idle_vm_scan()


def test_a_lead_stops_or_deletes_an_idle_vm_from_the_reclaim_list(metrics, estate, lead, member, outsider):
    idle_vm_scan(window=timedelta(seconds=RATE_SECONDS * 2))
    first, second = IdleVm.objects.select_related("vm").order_by("vm__name")[:2]
    VmRequest.objects.filter(pk=first.vm_id).update(server_state="running", server_status="ACTIVE")
    client = Client()
    client.force_login(lead)
    page = client.get(reverse("usage:idle")).content.decode()
    assert all(f'data-idle-vm="{i}"' in page for i in IDLE_IDS)
    client.post(reverse("usage:idle-stop", args=[first.pk]))
    assert AuditEvent.objects.filter(action="vm.stop", target_id=str(first.vm_id)).exists()
    refused = client.post(reverse("usage:idle-delete", args=[second.pk]), {"confirm": "wrong"})
    assert refused.status_code == 302
    assert VmRequest.objects.get(pk=second.vm_id).status == VmRequest.Status.ACTIVE
    client.post(reverse("usage:idle-delete", args=[second.pk]), {"confirm": second.vm.name})
    assert VmRequest.objects.get(pk=second.vm_id).status == VmRequest.Status.DELETING
    outsider_client = Client()
    outsider_client.force_login(outsider)
    assert outsider_client.post(reverse("usage:idle-stop", args=[first.pk])).status_code == 404
