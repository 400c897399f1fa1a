"""The catalog's admin API (admins only): offer images and flavors, fix Glance properties, import
disks from the portal host. Reads go through selectors; every write calls a service."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from catalog import selectors, services
from catalog.api.serializers import (
    CatalogFlavorSerializer,
    CatalogImageSerializer,
    FlavorOfferInputSerializer,
    ImageImportInputSerializer,
    ImageImportSerializer,
    ImageOfferInputSerializer,
    ImagePropertiesInputSerializer,
    ImagePropertyChangeSerializer,
)
from portal.access import Capability, can
from portal.api.errors import api_validation_error
from portal.origin import origin
from provisioning.models import CloudFlavor, CloudImage


class ManagesImages(BasePermission):
    def has_permission(self, request, view) -> bool:
        return can(request.user, Capability.IMAGES_MANAGE)


class CatalogImageViewSet(viewsets.ReadOnlyModelViewSet):
    """Every image Glance has, offered or not, with its last property change (admins)."""

    permission_classes = [IsAuthenticated, ManagesImages]
    serializer_class = CatalogImageSerializer
    queryset = CloudImage.objects.none()  # for the schema; get_queryset() is what is served
    lookup_field = "cloud_id"
    lookup_url_kwarg = "id"
    pagination_class = None

    def get_queryset(self):
        return [image for group in selectors.image_catalog(user=self.request.user) for image in group.images]

    def get_object(self):
        found = [i for i in self.get_queryset() if i.cloud_id == self.kwargs["id"]]
        if not found:
            raise Http404
        return found[0]

    @extend_schema(request=ImageOfferInputSerializer, responses={200: CatalogImageSerializer})
    @action(detail=True, methods=["post"])
    def offer(self, request, id=None):
        """Offer the image to developers under a friendly name, or withdraw it."""
        image = self.get_object()
        payload = ImageOfferInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.image_offer_set(
                actor=request.user, image=image, source=origin(request), **payload.validated_data
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(CatalogImageSerializer(self.get_object()).data)

    @extend_schema(request=ImagePropertiesInputSerializer, responses={202: ImagePropertyChangeSerializer})
    @action(detail=True, methods=["post"])
    def properties(self, request, id=None):
        """Change hw_architecture, os_distro, os_version, hw_machine_type, min_disk, min_ram in Glance
        (blank removes a property). A worker applies it; follow it at property-changes/{id}/."""
        image = self.get_object()
        payload = ImagePropertiesInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            change = services.image_properties_request(
                actor=request.user, image=image, source=origin(request), **payload.validated_data
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(ImagePropertyChangeSerializer(change).data, status=status.HTTP_202_ACCEPTED)


class ImagePropertyChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Property changes on their way to Glance, and how they ended (admins)."""

    permission_classes = [IsAuthenticated, ManagesImages]
    serializer_class = ImagePropertyChangeSerializer

    def get_queryset(self):
        return selectors.image_property_change_list(user=self.request.user)


class CatalogFlavorViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Every flavor: which architectures it suits (extra specs, host size, fitting images) and
    whether developers are offered it (admins)."""

    permission_classes = [IsAuthenticated, ManagesImages]
    serializer_class = CatalogFlavorSerializer
    queryset = CloudFlavor.objects.none()  # for the schema
    lookup_field = "cloud_id"
    lookup_url_kwarg = "id"
    pagination_class = None

    def _rows(self):
        _arches, rows = selectors.flavor_catalog(user=self.request.user)
        for row in rows:
            # CatalogFlavorSerializer reads them from the flavor; django-stubs knows only the model's fields.
            row.flavor.fits = row.fits  # type: ignore[attr-defined]
            row.flavor.architectures = row.architectures  # type: ignore[attr-defined]
        return [row.flavor for row in rows]

    def list(self, request):
        return Response(CatalogFlavorSerializer(self._rows(), many=True).data)

    @extend_schema(request=FlavorOfferInputSerializer, responses={200: CatalogFlavorSerializer})
    @action(detail=True, methods=["post"])
    def offer(self, request, id=None):
        """Offer the flavor to developers, or withdraw it."""
        flavor = next((f for f in self._rows() if f.cloud_id == id), None)
        if flavor is None:
            raise Http404
        payload = FlavorOfferInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.flavor_offer_set(
            actor=request.user,
            flavor=flavor,
            offered=payload.validated_data["offered"],
            source=origin(request),
        )
        return Response(CatalogFlavorSerializer(flavor).data)


class ImageImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Disk imports (admins). POST imports a file already in the import directory; GET …/{id}/
    follows it (state, progress, message); POST …/{id}/retry/ resumes a failed one and
    POST …/{id}/discard/ gives up on it."""

    permission_classes = [IsAuthenticated, ManagesImages]
    serializer_class = ImageImportSerializer

    def get_queryset(self):
        return selectors.image_import_list(user=self.request.user)

    @extend_schema(request=ImageImportInputSerializer, responses={202: ImageImportSerializer})
    def create(self, request):
        payload = ImageImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            imp = services.image_import_create(
                actor=request.user, source=origin(request), **payload.validated_data
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(ImageImportSerializer(imp).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ImageImportSerializer})
    @action(detail=True, methods=["post"])
    def discard(self, request, pk=None):
        """Give up on a failed import; a worker deletes its Glance image and work files."""
        imp = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            imp = services.image_import_discard(actor=request.user, imp=imp, source=origin(request))
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(ImageImportSerializer(imp).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ImageImportSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        imp = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            imp = services.image_import_retry(actor=request.user, imp=imp, source=origin(request))
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(ImageImportSerializer(imp).data, status=status.HTTP_202_ACCEPTED)
