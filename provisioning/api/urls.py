"""API for VM requests (issue 4)."""

urlpatterns: list = []
