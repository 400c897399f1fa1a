from django.urls import path

from inventory import views
from inventory.dashboard_views import DashboardView, UtilizationHistoryView

app_name = "inventory"
urlpatterns = [
    path("servers/", views.ServerListView.as_view(), name="server-list"),
    path("servers/new/", views.ServerCreateView.as_view(), name="server-create"),
    path("servers/export.csv", views.ServerExportView.as_view(), name="server-export"),
    path("servers/import/", views.ServerImportView.as_view(), name="server-import"),
    path("servers/<int:pk>/", views.ServerDetailView.as_view(), name="server-detail"),
    path("servers/<int:pk>/edit/", views.ServerUpdateView.as_view(), name="server-edit"),
    path("servers/<int:pk>/delete/", views.ServerDeleteView.as_view(), name="server-delete"),
    path("servers/<int:pk>/bmc/", views.ServerBmcEditView.as_view(), name="server-bmc-edit"),
    path("servers/<int:pk>/power/", views.ServerPowerView.as_view(), name="server-power"),
    path("servers/<int:pk>/drain/", views.ServerDrainView.as_view(), name="server-drain"),
    path("servers/<int:pk>/undrain/", views.ServerUndrainView.as_view(), name="server-undrain"),
    path("power-requests/<int:pk>/confirm/", views.PowerRequestConfirmView.as_view(), name="power-confirm"),
    path("power-requests/<int:pk>/cancel/", views.PowerRequestCancelView.as_view(), name="power-cancel"),
    path("utilization/", views.UtilizationView.as_view(), name="utilization"),
    path("utilization/history/", UtilizationHistoryView.as_view(), name="utilization-history"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("datacenters/", views.DataCenterListView.as_view(), name="datacenter-list"),
    path("datacenters/new/", views.DataCenterCreateView.as_view(), name="datacenter-create"),
    path("datacenters/<int:pk>/edit/", views.DataCenterUpdateView.as_view(), name="datacenter-edit"),
    path("datacenters/<int:pk>/delete/", views.DataCenterDeleteView.as_view(), name="datacenter-delete"),
]
