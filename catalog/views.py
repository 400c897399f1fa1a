"""The catalog's admin pages: images by architecture, flavors, disk imports. Admins only (403 for
everyone else signed in); views call selectors and services and nothing else."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog import selectors, services
from catalog.forms import FlavorOfferForm, ImageImportForm, ImageOfferForm, ImagePropertiesForm
from portal.access import Action, Capability, restrict
from portal.http import AuthenticatedHttpRequest
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.views import capability_required
from provisioning.models import CloudFlavor, CloudImage
from provisioning.selectors import catalog_synced_at


@capability_required(Capability.IMAGES_MANAGE)
def image_catalog(request: AuthenticatedHttpRequest) -> HttpResponse:
    groups = selectors.image_catalog(user=request.user)
    busy = any(group.changing for group in groups)
    synced_at, sync_error = catalog_synced_at()
    context = {
        "groups": groups,
        "poll": busy,
        "synced_at": synced_at,
        "sync_error": sync_error,
        "hypervisor_architectures": services.hypervisor_architectures(),
    }
    template = "catalog/_image_groups.html" if request.htmx else "catalog/image_catalog.html"
    return render(request, template, context)


def _image(request: AuthenticatedHttpRequest, pk: int) -> CloudImage:
    return get_object_or_404(restrict(request.user, CloudImage.objects.all(), Action.CHANGE), pk=pk)


@require_POST
@capability_required(Capability.IMAGES_MANAGE)
def image_offer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    image = _image(request, pk)
    form = ImageOfferForm(request.POST)
    if form.is_valid():
        try:
            services.image_offer_set(
                actor=request.user, image=image, source=origin(request), **form.cleaned_data
            )
            messages.success(request, _("Catalog updated."))
        except ValidationError as error:
            message_add_refusal(request, error)
    return redirect("catalog:images")


@require_POST
@capability_required(Capability.IMAGES_MANAGE)
def image_properties(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    image = _image(request, pk)
    form = ImagePropertiesForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items()))
        return redirect("catalog:images")
    try:
        services.image_properties_request(
            actor=request.user, image=image, source=origin(request), **form.cleaned_data
        )
        messages.success(request, _("The change is on its way to Glance; this page shows when it lands."))
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("catalog:images")


@capability_required(Capability.IMAGES_MANAGE)
def flavor_catalog(request: AuthenticatedHttpRequest) -> HttpResponse:
    architectures, rows = selectors.flavor_catalog(user=request.user)
    synced_at, sync_error = catalog_synced_at()
    return render(
        request,
        "catalog/flavor_catalog.html",
        {"architectures": architectures, "rows": rows, "synced_at": synced_at, "sync_error": sync_error},
    )


@require_POST
@capability_required(Capability.IMAGES_MANAGE)
def flavor_offer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    flavor = get_object_or_404(restrict(request.user, CloudFlavor.objects.all(), Action.CHANGE), pk=pk)
    form = FlavorOfferForm(request.POST)
    if form.is_valid():
        services.flavor_offer_set(
            actor=request.user, flavor=flavor, offered=form.cleaned_data["offered"], source=origin(request)
        )
        messages.success(request, _("Catalog updated."))
    return redirect("catalog:flavors")


@capability_required(Capability.IMAGES_MANAGE)
def image_import_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET lists imports with the form; POST starts one (the file arrives already on disk)."""
    form = ImageImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        upload = data.pop("file")
        try:
            imp = services.image_import_create(
                actor=request.user, upload=upload or None, source=origin(request), **data
            )
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            return redirect("catalog:import-detail", pk=imp.pk)
    imports = selectors.image_import_list(user=request.user)[:100]
    return render(
        request,
        "catalog/import_list.html",
        {"form": form, "imports": imports, "import_dir": services.import_dir()},
        status=400 if form.errors else 200,
    )


@capability_required(Capability.IMAGES_MANAGE)
def image_import_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    imp = get_object_or_404(selectors.image_import_list(user=request.user), pk=pk)
    template = "catalog/_import_status.html" if request.htmx else "catalog/import_detail.html"
    return render(request, template, {"imp": imp, "poll": not imp.finished})


@require_POST
@capability_required(Capability.IMAGES_MANAGE)
def image_import_retry(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    imp = get_object_or_404(selectors.image_import_list(user=request.user), pk=pk)
    try:
        services.image_import_retry(actor=request.user, imp=imp, source=origin(request))
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("catalog:import-detail", pk=imp.pk)


@require_POST
@capability_required(Capability.IMAGES_MANAGE)
def image_import_discard(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    imp = get_object_or_404(selectors.image_import_list(user=request.user), pk=pk)
    try:
        services.image_import_discard(actor=request.user, imp=imp, source=origin(request))
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("catalog:import-detail", pk=imp.pk)
