"""Who sees and acts on the catalog's admin side: admins (``IMAGES_MANAGE``) only."""

from django.db.models import Q

from catalog.models import ImageImport, ImagePropertyChange
from portal.access import Action, Capability, can, scope_rule
from portal.models import User


@scope_rule(ImageImport)
@scope_rule(ImagePropertyChange)
def _catalog_admin_rule(user: User, action: Action) -> Q | bool:
    return can(user, Capability.IMAGES_MANAGE)
