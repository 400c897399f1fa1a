"""Pages for VM requests (issue 4)."""

app_name = "provisioning"
urlpatterns: list = []
