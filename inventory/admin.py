"""Every inventory table in Django's admin, read-only (portal/admin.py says why)."""

from portal.admin import register_read_only

register_read_only("inventory")
