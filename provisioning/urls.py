from django.urls import path

from provisioning import views

app_name = "provisioning"
urlpatterns = [
    path("", views.VmListView.as_view(), name="vm-list"),
    path("new/", views.vm_request_create, name="vm-request"),
    path("new/preview/", views.vm_user_data_preview, name="vm-preview"),
    path("<int:pk>/", views.vm_detail, name="vm-detail"),
    path("<int:pk>/action/", views.vm_action, name="vm-action"),
    path("<int:pk>/delete/", views.vm_delete, name="vm-delete"),
]
