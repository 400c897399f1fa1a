"""Writes for blueprints and team services, one module per domain: ``blueprints`` (importing versions,
the shipped examples) and ``deployments`` (a service's changes and the worker's steps that carry them
out). Import from here: ``from blueprints.services import service_deploy``."""

from blueprints.services.blueprints import (
    EXAMPLES_DIR,
    blueprint_examples_load,
    blueprint_import,
    blueprint_version_export,
)
from blueprints.services.deployments import (
    SERVICE_MAX_VMS,
    service_advance,
    service_delete,
    service_deploy,
    service_give_up,
    service_retry,
    service_rollback,
    service_scale,
    service_upgrade,
    services_repair,
    services_resume,
)

__all__ = [
    "EXAMPLES_DIR",
    "SERVICE_MAX_VMS",
    "blueprint_examples_load",
    "blueprint_import",
    "blueprint_version_export",
    "service_advance",
    "service_delete",
    "service_deploy",
    "service_give_up",
    "service_retry",
    "service_rollback",
    "service_scale",
    "service_upgrade",
    "services_repair",
    "services_resume",
]
