"""Blueprints and services on the FakeCloud: the shipped examples loaded, and a service's change driven
in the test's process (VM builds, deletions and the service's steps) until it settles."""

from __future__ import annotations

import pytest

from blueprints import services
from blueprints.models import BlueprintVersion, Service
from provisioning import services as vm_services
from provisioning.models import VmRequest

VmStatus = VmRequest.Status


@pytest.fixture
def examples(db) -> dict[str, BlueprintVersion]:
    """The shipped examples as global blueprints, by name."""
    return {v.blueprint.name: v for v in services.blueprint_examples_load(source="test")}


def drive(service: Service, *, steps: int = 200) -> Service:
    """Build and delete the service's VMs and take its steps until it is no longer busy; returns it
    fresh. Records the order of the VM changes on ``service.trace``: ("+", name) once a VM is active,
    ("-", name) once one is deleted."""
    trace: list[tuple[str, str]] = []
    seen = dict(VmRequest.objects.filter(service_member__service=service).values_list("pk", "status"))
    for _ in range(steps):
        for vm in VmRequest.objects.filter(service_member__service=service):
            if vm.status in (VmStatus.QUEUED, VmStatus.BUILDING):
                vm_services.vm_request_build_advance(request_id=vm.pk)
            elif vm.status == VmStatus.DELETING:
                vm_services.vm_delete_advance(request_id=vm.pk)
        for vm in VmRequest.objects.filter(service_member__service=service):
            if seen.get(vm.pk) != vm.status and vm.status in (VmStatus.ACTIVE, VmStatus.DELETED):
                trace.append(("+" if vm.status == VmStatus.ACTIVE else "-", vm.name))
            seen[vm.pk] = vm.status
        services.service_advance(service_id=service.pk)
        service.refresh_from_db()
        if not service.busy:
            service.trace = trace  # type: ignore[attr-defined]
            return service
    pytest.fail(f"service {service.name} still {service.status} after {steps} steps")
