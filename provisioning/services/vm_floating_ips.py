"""A VM's floating IP: attach and detach, asked on the web, done by a worker."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, QuotaExceeded
from portal.models import User
from portal.queue import enqueue
from portal.services import audit_record
from provisioning import stored_messages as texts
from provisioning.models import VmRequest
from provisioning.services.vm_actions import vm_refresh
from provisioning.services.vm_state import Status, _event, _explain, _operable


def vm_floating_ip_request(*, actor: User, vm: VmRequest, attach: bool, source: str) -> VmRequest:
    """Ask for a floating IP on the VM (or its release); the worker does it."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE:
            raise ValidationError(_("Only an active VM can get or release a floating IP."))
        if attach == bool(vm.floating_ip_id):
            raise ValidationError(
                _("The VM already has a floating IP.") if attach else _("The VM has no floating IP.")
            )
        _event(
            vm,
            vm.status,
            (texts.FLOATING_IP_ASKED if attach else texts.FLOATING_IP_RELEASE_ASKED)(
                user=actor.get_username()
            ),
        )
        audit_record(
            actor=actor,
            action="vm.floating_ip_attach" if attach else "vm.floating_ip_detach",
            target=vm,
            team=vm.team,
            source=source,
        )
        from provisioning.tasks import vm_floating_ip

        request_id = vm.pk
        enqueue(vm_floating_ip, request_id, attach)
    return vm


def vm_floating_ip_advance(*, request_id: int, attach: bool) -> None:
    """Allocate-then-attach, or detach-then-release. The allocated address's id is saved before it is
    attached, so a retry reuses it instead of allocating a second one."""
    vm = VmRequest.objects.select_related("team").filter(pk=request_id).first()
    if vm is None or not vm.server_id:
        return
    gateway = cloud()
    try:
        if attach:
            if not vm.floating_ip_id:
                external = [
                    n
                    for n in gateway.list_networks(external=True)
                    if n.name == settings.KENNEL_EXTERNAL_NETWORK
                ]
                if not external:
                    raise CloudRequestError(f"no external network named {settings.KENNEL_EXTERNAL_NETWORK!r}")
                allocated = gateway.create_floating_ip(
                    project_id=vm.team.openstack_project_id, external_network_id=external[0].id
                )
                VmRequest.objects.filter(pk=vm.pk).update(floating_ip_id=allocated.id)
                vm.floating_ip_id = allocated.id
            attached = gateway.attach_floating_ip(floating_ip_id=vm.floating_ip_id, server_id=vm.server_id)
            VmRequest.objects.filter(pk=vm.pk).update(floating_ip=attached.address)
            _event(vm, vm.status, texts.FLOATING_IP_ATTACHED(ip=attached.address))
        elif vm.floating_ip_id:
            with contextlib.suppress(CloudNotFound):
                gateway.detach_floating_ip(floating_ip_id=vm.floating_ip_id)
                gateway.delete_floating_ip(vm.floating_ip_id)
            VmRequest.objects.filter(pk=vm.pk).update(floating_ip=None, floating_ip_id="")
            _event(vm, vm.status, texts.FLOATING_IP_RELEASED())
    except (QuotaExceeded, CloudRequestError, CloudNotFound) as error:
        _event(vm, vm.status, _explain(error, vm))
    vm_refresh(request_id=request_id)
