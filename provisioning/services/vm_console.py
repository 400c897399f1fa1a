"""A VM's console: the URL of its remote console and the tail of its console log, fetched by a worker."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, ConsoleUnavailable
from portal.models import User
from provisioning import stored_messages as texts
from provisioning.models import VmRequest
from provisioning.services.vm_actions import state_refusal
from provisioning.services.vm_state import Status, _event, _operable, _vm_ask_worker

# How much of a server's console output the VM page keeps (Nova's tail_length).
CONSOLE_LOG_LINES = 200


def vm_console_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Ask for a console URL; a worker fetches it and the page follows until the URL, or the reason
    there is none, arrives. Only a running server has a console worth opening (VmStateConflict)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE:
            raise ValidationError(_("Only an active VM has a console."))
        refusal = state_refusal(vm, "console")
        if refusal is not None:
            raise refusal
        from provisioning.tasks import vm_console

        fields = {
            "console_url": "",
            "console_url_at": None,
            "console_error": "",
            "console_requested_at": timezone.now(),
        }
        _vm_ask_worker(actor=actor, vm=vm, fields=fields, action="vm.console", task=vm_console, source=source)
    return vm


def vm_console_advance(*, request_id: int) -> None:
    """Fetch the console URL (the gateway checks that the cloud's console proxy answers) and store it,
    or store why there is none: the cloud has no console proxy, or the server cannot have one now."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    try:
        url = cloud().server_console_url(vm.server_id)
    except ConsoleUnavailable as error:
        message = texts.NO_CONSOLE_PROXY(detail=str(error))
    except (CloudRequestError, CloudNotFound) as error:
        message = texts.NO_CONSOLE(detail=str(error))
    else:
        VmRequest.objects.filter(pk=vm.pk).update(
            console_url=url, console_url_at=timezone.now(), console_error=""
        )
        return
    VmRequest.objects.filter(pk=vm.pk).update(
        console_url="", console_url_at=None, console_error=message.english(), console_error_ref=message.ref()
    )
    _event(vm, vm.status, message)


def vm_console_give_up(*, request_id: int, error: str) -> None:
    """The cloud stayed unreachable through the console task's retries: the page says so at once
    (instead of waiting out its minute), and the person asks again later."""
    message = texts.CLOUD_AWAY(detail=error[:300])
    VmRequest.objects.filter(pk=request_id, console_url="").update(
        console_error=message.english(), console_error_ref=message.ref()
    )


def vm_console_log_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Ask for the server's console output (its last CONSOLE_LOG_LINES lines); a worker fetches it.
    The log shown until then stays; VmStateConflict while the server has no host to ask."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE or not vm.server_id:
            raise ValidationError(_("Only an active VM has a console log."))
        refusal = state_refusal(vm, "console_log")
        if refusal is not None:
            raise refusal
        from provisioning.tasks import vm_console_log

        fields = {"console_log_requested_at": timezone.now(), "console_log_error": ""}
        _vm_ask_worker(
            actor=actor, vm=vm, fields=fields, action="vm.console_log", task=vm_console_log, source=source
        )
    return vm


def vm_console_log_advance(*, request_id: int) -> None:
    """Fetch the server's console output and keep it on the VM, with when it was read."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    try:
        output = cloud().server_console_output(vm.server_id, lines=CONSOLE_LOG_LINES)
    except (CloudRequestError, CloudNotFound) as error:
        message = texts.NO_CONSOLE_LOG(detail=str(error))
        VmRequest.objects.filter(pk=vm.pk).update(
            console_log_error=message.english(), console_log_error_ref=message.ref()
        )
        return
    VmRequest.objects.filter(pk=vm.pk).update(
        console_log=output, console_log_at=timezone.now(), console_log_error=""
    )


def vm_console_log_give_up(*, request_id: int, error: str) -> None:
    """The cloud stayed unreachable through the console-log task's retries: the page says so; the log
    shown until then stays."""
    message = texts.CLOUD_AWAY(detail=error[:300])
    VmRequest.objects.filter(pk=request_id).update(
        console_log_error=message.english(), console_log_error_ref=message.ref()
    )
