"""Volumes: the teams' volumes with a form to ask for one, and their attach, detach and delete. The
services decide and refuse; a worker does the work, and the list follows it (htmx) while any is busy."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from portal.access import Action, restrict
from portal.http import AuthenticatedHttpRequest
from portal.inputs import BoundedIntegerField, object_id
from portal.models import Team
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.validators import validate_single_line
from provisioning.models import VmRequest, Volume
from provisioning.services import volumes as service


class VolumeForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), label=gettext_lazy("Team"), empty_label=None)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63, validators=[validate_single_line])
    size_gb = BoundedIntegerField(
        label=gettext_lazy("Size (GB)"), min_value=1, max_value=settings.KENNEL_VOLUME_MAX_GB
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        teams = restrict(user, Team.objects.exclude(openstack_project_id=""), Action.OPERATE).order_by("name")
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams


def _rows(user, volumes) -> list[dict]:
    """Each volume with what the user may do to it now and the VMs it may go to."""
    rows = []
    operable = set(
        restrict(user, Volume.objects.filter(pk__in=[v.pk for v in volumes]), Action.OPERATE).values_list(
            "pk", flat=True
        )
    )
    vms_of_team: dict[int, list[VmRequest]] = {}  # one query per team, however many volumes it has
    for volume in volumes:
        may = volume.pk in operable
        attachable = may and volume.status == Volume.Status.AVAILABLE
        if attachable and volume.team_id not in vms_of_team:
            vms_of_team[volume.team_id] = list(
                service.volume_attachable_vms(volume=volume).only("pk", "name")
            )
        rows.append({"volume": volume, "may": may, "vms": vms_of_team[volume.team_id] if attachable else []})
    return rows


@login_required
def volume_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The volumes of the user's teams (every team's for managers and admins; ``?team=`` one), and the
    form to ask for one (POST)."""
    form = VolumeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            volume = service.volume_request(
                actor=request.user,
                team=form.cleaned_data["team"],
                name=form.cleaned_data["name"],
                size_gb=form.cleaned_data["size_gb"],
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(
                request, _("Volume %(name)s asked for; it is ready in a few seconds.") % {"name": volume.name}
            )
            return redirect("provisioning:volume-list")
    team = request.GET.get("team") or ""
    volumes = service.volume_list(user=request.user)
    if team:
        volumes = volumes.filter(team__slug=team)
    shown = list(volumes[:500])
    context = {
        "form": form,
        "rows": _rows(request.user, shown),
        "poll": any(v.busy for v in shown),
        "team": team,
        "max_gb": settings.KENNEL_VOLUME_MAX_GB,
    }
    if request.htmx and request.method == "GET":
        return render(request, "provisioning/_volume_table.html", context)
    return render(request, "provisioning/volume_list.html", context, status=400 if form.errors else 200)


def _act(request: AuthenticatedHttpRequest, pk: int, act, success: str) -> HttpResponse:
    volume = get_object_or_404(service.volume_list(user=request.user), pk=pk)
    try:
        act(volume)
        messages.success(request, success % {"name": volume.name})
    except ValidationError as error:
        message_add_refusal(request, error)
    if (vm_id := object_id(request.POST.get("from_vm"))) is not None:  # asked on the VM's page
        return redirect("provisioning:vm-detail", pk=vm_id)
    return redirect("provisioning:volume-list")


@require_POST
@login_required
def volume_attach(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def attach(volume: Volume) -> None:
        vm_id = object_id(request.POST.get("vm"))
        vm = VmRequest.objects.filter(pk=vm_id).first() if vm_id is not None else None
        if vm is None:
            raise ValidationError(_("Pick the VM to attach it to."))
        service.volume_attach_request(actor=request.user, volume=volume, vm=vm, source=origin(request))

    return _act(request, pk, attach, _("Attaching %(name)s."))


@require_POST
@login_required
def volume_detach(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def detach(volume: Volume) -> None:
        service.volume_detach_request(actor=request.user, volume=volume, source=origin(request))

    return _act(request, pk, detach, _("Detaching %(name)s."))


@login_required
def volume_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Asks first (its data is gone for good); POST deletes."""
    volume = get_object_or_404(service.volume_list(user=request.user), pk=pk)
    if request.method == "POST":

        def delete(volume: Volume) -> None:
            service.volume_delete_request(actor=request.user, volume=volume, source=origin(request))

        return _act(request, pk, delete, _("Deleting %(name)s."))
    return render(request, "provisioning/volume_delete.html", {"volume": volume})
