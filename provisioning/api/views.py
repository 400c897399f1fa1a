"""API views for VM requests (issue 4)."""
