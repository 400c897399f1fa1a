from django.urls import path

from quotas import views

app_name = "quotas"
urlpatterns = [
    path("", views.quota_overview, name="overview"),
    path("teams/<slug:slug>/request/", views.quota_request_create, name="request-create"),
    path("requests/", views.QuotaRequestListView.as_view(), name="request-list"),
    path("requests/<int:pk>/", views.quota_request_detail, name="request-detail"),
    path(
        "requests/<int:pk>/<str:act>/",
        views.quota_request_act,
        name="request-act",
    ),
    path("rules/", views.quota_rules, name="rules"),
]
