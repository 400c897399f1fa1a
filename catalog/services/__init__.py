"""Writes for the image catalog and disk imports, one module per domain: ``offer`` (which images and
flavors developers are offered), ``image_properties`` (Glance properties, changed by a worker),
``disk_imports`` (accepting, retrying and discarding an import) and ``disk_import_worker`` (the import's
state machine: inspect, convert, upload, verify).

The web and the API call the ``*_set``/``*_request``/``*_create``/``*_retry`` services, which only
change rows and enqueue work; Celery tasks call ``image_properties_apply`` and
``image_import_advance``, which talk to Glance through the gateway and run qemu-img. Import from here:
``from catalog.services import image_offer_set``.
"""

from catalog.services.disk_import_worker import (
    PROGRESS_EVERY,
    ImportRefused,
    image_import_advance,
    image_import_give_up,
    image_imports_resume,
)
from catalog.services.disk_imports import (
    IMPORT_PROPERTY,
    NAME,
    State,
    image_import_clean,
    image_import_create,
    image_import_discard,
    image_import_retry,
    import_dir,
    import_path_resolve,
)
from catalog.services.image_properties import (
    ChangeStatus,
    image_properties_apply,
    image_properties_give_up,
    image_properties_request,
)
from catalog.services.offer import (
    DEFAULT_MACHINE_TYPE,
    MACHINE_TYPES,
    flavor_offer_set,
    hypervisor_architectures,
    image_offer_set,
)

__all__ = [
    "DEFAULT_MACHINE_TYPE",
    "IMPORT_PROPERTY",
    "MACHINE_TYPES",
    "NAME",
    "PROGRESS_EVERY",
    "ChangeStatus",
    "ImportRefused",
    "State",
    "flavor_offer_set",
    "hypervisor_architectures",
    "image_import_advance",
    "image_import_clean",
    "image_import_create",
    "image_import_discard",
    "image_import_give_up",
    "image_import_retry",
    "image_imports_resume",
    "image_offer_set",
    "image_properties_apply",
    "image_properties_give_up",
    "image_properties_request",
    "import_dir",
    "import_path_resolve",
]
