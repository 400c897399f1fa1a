"""Inventory forms (server editing, CSV import) land here with issue 6."""
