from django.urls import path

from usage import views

app_name = "usage"

urlpatterns = [
    path("hosts/", views.host_list, name="hosts"),
    path("hosts/<int:pk>/", views.host_detail, name="host-detail"),
    path("vms/", views.vm_list, name="vms"),
    path("vms/<int:pk>/", views.vm_detail, name="vm-detail"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path("idle/", views.idle_list, name="idle"),
    path("idle/<int:pk>/stop/", views.idle_reclaim, {"action": "stop"}, name="idle-stop"),
    path("idle/<int:pk>/delete/", views.idle_reclaim, {"action": "delete"}, name="idle-delete"),
]
