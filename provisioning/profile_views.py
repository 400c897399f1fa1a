"""Admin pages for cloud-init profiles: a profile is a list of parts, each edited with its own form."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from portal.access import Action, Capability, can, restrict
from portal.http import AuthenticatedHttpRequest
from portal.origin import origin
from portal.refusals import message_add_refusal
from portal.validators import validate_single_line, validate_text
from provisioning import cloudinit, services
from provisioning.cloudinit.rendering import user_data_redact
from provisioning.models import Profile, VmRequest


class ProfileForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, validators=[validate_single_line])
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_text],
    )
    is_active = forms.BooleanField(
        label=gettext_lazy("Offered to developers"),
        required=False,
        initial=False,
        help_text=gettext_lazy(
            "A new profile usually waits until its parts are right; offer it from its page."
        ),
    )


class ProfileRenameForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100, validators=[validate_single_line])
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[validate_text],
    )


def _profile(request: AuthenticatedHttpRequest, pk: int, action: Action = Action.VIEW) -> Profile:
    return get_object_or_404(restrict(request.user, Profile.objects.all(), action), pk=pk)


def _save(request, profile, parts, **fields) -> bool:
    try:
        services.profile_save(
            actor=request.user,
            profile=profile,
            parts=parts,
            source=origin(request),
            name=fields.get("name", profile.name if profile else ""),
            description=fields.get("description", profile.description if profile else ""),
            is_active=fields.get("is_active", profile.is_active if profile else True),
        )
    except ValidationError as error:
        message_add_refusal(request, error)
        return False
    return True


@login_required
def profile_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    archived = request.GET.get("archived") == "1"
    profiles = restrict(request.user, Profile.objects.filter(archived_at__isnull=not archived))
    can_edit = can(request.user, Capability.PROFILES_MANAGE)
    form = ProfileForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid() and _save(request, None, [], **form.cleaned_data):
            return redirect(
                "provisioning:profile-detail", pk=Profile.objects.get(name=form.cleaned_data["name"]).pk
            )
    return render(
        request,
        "provisioning/profile_list.html",
        {"profiles": profiles, "form": form, "can_edit": can_edit, "archived": archived},
    )


@login_required
def profile_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    profile = _profile(request, pk)
    parts = services.profile_parts(profile)
    previews = {
        arch: cloudinit.render_user_data(parts, architecture=arch, hostname="example")
        for arch in ("x86_64", "ppc64le")
    }
    editable = restrict(request.user, Profile.objects.filter(pk=pk), Action.CHANGE).exists()
    if not can(request.user, Capability.PROFILES_MANAGE):  # a password hash is for admins' eyes only
        previews = {arch: user_data_redact(text)[0] for arch, text in previews.items()}
    return render(
        request,
        "provisioning/profile_detail.html",
        {
            "profile": profile,
            "parts": list(enumerate(profile.parts)),
            "previews": previews,
            "editable": editable,
            "kinds": list(cloudinit.PART_FORMS),
            "rename_form": ProfileRenameForm(
                initial={"name": profile.name, "description": profile.description}
            ),
            "vm_count": VmRequest.objects.filter(profile=profile).count() if editable else 0,
            "named_by": services.profile_users(profile) if editable else [],
        },
    )


def _change(request: AuthenticatedHttpRequest, pk: int, act, done: str) -> HttpResponse:
    """POST handlers of a profile's page: ``act(profile)`` (a service), its refusal shown, back to it."""
    profile = _profile(request, pk, Action.CHANGE)
    try:
        act(profile)
    except ValidationError as error:
        message_add_refusal(request, error)
    else:
        messages.success(request, done % {"name": profile.name})
    return redirect("provisioning:profile-detail", pk=profile.pk)


@require_POST
@login_required
def profile_offer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Offer the profile for new VMs (``offered=1``) or withdraw it (``offered=0``)."""
    offered = request.POST.get("offered") == "1"
    return _change(
        request,
        pk,
        lambda p: services.profile_offer(
            actor=request.user, profile=p, offered=offered, source=origin(request)
        ),
        _("%(name)s is offered to developers.")
        if offered
        else _("%(name)s is withdrawn: no new VM gets it."),
    )


@require_POST
@login_required
def profile_rename(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    form = ProfileRenameForm(request.POST)
    if not form.is_valid():
        message_add_refusal(request, ValidationError([m for ms in form.errors.values() for m in ms]))
        return redirect("provisioning:profile-detail", pk=pk)
    return _change(
        request,
        pk,
        lambda p: services.profile_rename(
            actor=request.user, profile=p, source=origin(request), **form.cleaned_data
        ),
        _("Saved: %(name)s."),
    )


@login_required
def profile_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting it does (deleted, or archived while VMs or blueprints name it); POST: do it."""
    profile = _profile(request, pk, Action.CHANGE)
    vm_count = VmRequest.objects.filter(profile=profile).count()
    named_by = services.profile_users(profile)
    if request.method == "POST":
        kept = services.profile_delete(actor=request.user, profile=profile, source=origin(request))
        if kept is None:
            messages.success(request, _("%(name)s is deleted.") % {"name": profile.name})
            return redirect("provisioning:profile-list")
        messages.success(
            request,
            _("%(name)s is archived: kept for what names it, never offered again.") % {"name": profile.name},
        )
        return redirect("provisioning:profile-detail", pk=profile.pk)
    return render(
        request,
        "provisioning/profile_delete.html",
        {"profile": profile, "vm_count": vm_count, "named_by": named_by},
    )


@login_required
def profile_part_edit(
    request: AuthenticatedHttpRequest, pk: int, index: int | None = None, kind: str | None = None
):
    """Add a part of ``kind`` (index None) or edit part ``index``."""
    profile = _profile(request, pk, Action.CHANGE)
    stored = list(profile.parts)
    if index is not None:
        if not 0 <= index < len(stored):
            raise Http404
        kind = stored[index]["kind"]
    if kind not in cloudinit.PART_FORMS:
        raise Http404
    form_class = cloudinit.PART_FORMS[kind]
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            parts = services.profile_parts(profile)
            if index is None:
                parts.append(form.part())
            else:
                parts[index] = form.part()
            if _save(request, profile, parts):
                messages.success(request, _("Profile saved."))
                return redirect("provisioning:profile-detail", pk=profile.pk)
    else:
        initial = (
            {k: v for k, v in stored[index].items() if k not in ("kind", "version")}
            if index is not None
            else None
        )
        form = form_class(initial=initial)
    return render(request, "provisioning/profile_part.html", {"profile": profile, "form": form, "kind": kind})


@login_required
def profile_part_delete(request: AuthenticatedHttpRequest, pk: int, index: int) -> HttpResponse:
    """GET: asks first, showing the part and what changes; POST: removes it."""
    profile = _profile(request, pk, Action.CHANGE)
    parts = services.profile_parts(profile)
    if not 0 <= index < len(parts):
        raise Http404
    if request.method != "POST":
        return render(
            request,
            "provisioning/profile_part_delete.html",
            {"profile": profile, "index": index, "part": profile.parts[index]},
        )
    del parts[index]
    if _save(request, profile, parts):
        messages.success(request, _("The part is removed from %(name)s.") % {"name": profile.name})
    return redirect("provisioning:profile-detail", pk=profile.pk)
