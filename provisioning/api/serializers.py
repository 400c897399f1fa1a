"""Serializers for VM requests (issue 4)."""
