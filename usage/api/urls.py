from django.urls import path, re_path

from portal.inputs import ID_PATTERN
from usage.api import views

ID = f"(?P<pk>{ID_PATTERN})"  # anything but an id is a 404 before a view runs

urlpatterns = [
    path("usage/hosts/", views.host_list, name="usage-hosts"),
    re_path(rf"^usage/hosts/{ID}/$", views.host_detail, name="usage-host-detail"),
    path("usage/vms/", views.vm_list, name="usage-vms"),
    re_path(rf"^usage/vms/{ID}/$", views.vm_detail, name="usage-vm-detail"),
    path("usage/idle/", views.idle_list, name="usage-idle"),
    re_path(rf"^usage/idle/{ID}/stop/$", views.idle_stop, name="usage-idle-stop"),
    re_path(rf"^usage/idle/{ID}/delete/$", views.idle_delete, name="usage-idle-delete"),
]
