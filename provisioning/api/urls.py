from django.urls import path

from portal.api.routers import Router
from provisioning.api import floating_ips, views, volumes

router = Router()
router.register("vms", views.VmViewSet, basename="vm")
router.register("floating-ips", floating_ips.FloatingIpViewSet, basename="floating-ip")
router.register("volumes", volumes.VolumeViewSet, basename="volume")

urlpatterns = [
    path("catalog/architectures/", views.architectures, name="architectures"),
    path("catalog/images/", views.images, name="images"),
    path("catalog/flavors/", views.flavors, name="flavors"),
    path("catalog/profiles/", views.profiles, name="profiles"),
    path("catalog/profiles/<str:ref>/", views.profile_detail, name="profile-detail"),
    *router.urls,
]
