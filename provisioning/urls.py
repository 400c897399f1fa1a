from django.urls import path

from provisioning import floating_ip_views, profile_views, views, volume_views

app_name = "provisioning"
urlpatterns = [
    path("", views.VmListView.as_view(), name="vm-list"),
    path("new/", views.vm_request_create, name="vm-request"),
    path("unmanaged/", views.UnmanagedServerListView.as_view(), name="unmanaged-list"),
    path("new/preview/", views.vm_user_data_preview, name="vm-preview"),
    path("<int:pk>/", views.vm_detail, name="vm-detail"),
    path("<int:pk>/action/", views.vm_action, name="vm-action"),
    path("<int:pk>/delete/", views.vm_delete, name="vm-delete"),
    path("<int:pk>/extend/", views.vm_extend, name="vm-extend"),
    path("<int:pk>/resize/", views.vm_resize, name="vm-resize"),
    path("<int:pk>/rebuild/", views.vm_rebuild, name="vm-rebuild"),
    path("<int:pk>/snapshot/", views.vm_snapshot, name="vm-snapshot"),
    path("<int:pk>/floating-ip/", views.vm_floating_ip, name="vm-floating-ip"),
    path("<int:pk>/console/", views.vm_console, name="vm-console"),
    path("<int:pk>/console-log/", views.vm_console_log, name="vm-console-log"),
    path("floating-ips/<int:pk>/release/", floating_ip_views.floating_ip_release, name="floating-ip-release"),
    path("volumes/", volume_views.volume_list, name="volume-list"),
    path("volumes/<int:pk>/attach/", volume_views.volume_attach, name="volume-attach"),
    path("volumes/<int:pk>/detach/", volume_views.volume_detach, name="volume-detach"),
    path("volumes/<int:pk>/delete/", volume_views.volume_delete, name="volume-delete"),
    path("keys/", views.ssh_key_list, name="ssh-keys"),
    path("keys/<int:pk>/remove/", views.ssh_key_remove, name="ssh-key-remove"),
    path("profiles/", profile_views.profile_list, name="profile-list"),
    path("profiles/<int:pk>/", profile_views.profile_detail, name="profile-detail"),
    path("profiles/<int:pk>/offer/", profile_views.profile_offer, name="profile-offer"),
    path("profiles/<int:pk>/rename/", profile_views.profile_rename, name="profile-rename"),
    path("profiles/<int:pk>/delete/", profile_views.profile_delete, name="profile-delete"),
    path(
        "profiles/<int:pk>/parts/add/<slug:kind>/", profile_views.profile_part_edit, name="profile-part-add"
    ),
    path("profiles/<int:pk>/parts/<int:index>/", profile_views.profile_part_edit, name="profile-part-edit"),
    path(
        "profiles/<int:pk>/parts/<int:index>/delete/",
        profile_views.profile_part_delete,
        name="profile-part-delete",
    ),
]
