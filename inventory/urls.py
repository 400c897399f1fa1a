from django.urls import path

from inventory import views

app_name = "inventory"
urlpatterns = [
    path("servers/", views.ServerListView.as_view(), name="server-list"),
    path("servers/<int:pk>/", views.ServerDetailView.as_view(), name="server-detail"),
    path("servers/<int:pk>/bmc/", views.ServerBmcEditView.as_view(), name="server-bmc-edit"),
    path("servers/<int:pk>/power/", views.ServerPowerView.as_view(), name="server-power"),
    path("servers/<int:pk>/drain/", views.ServerDrainView.as_view(), name="server-drain"),
    path("servers/<int:pk>/undrain/", views.ServerUndrainView.as_view(), name="server-undrain"),
    path("power-requests/<int:pk>/confirm/", views.PowerRequestConfirmView.as_view(), name="power-confirm"),
    path("utilization/", views.UtilizationView.as_view(), name="utilization"),
]
