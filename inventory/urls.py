from django.urls import path

from inventory import views

app_name = "inventory"
urlpatterns = [
    path("servers/", views.ServerListView.as_view(), name="server-list"),
]
