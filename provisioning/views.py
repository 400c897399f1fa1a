"""VM pages: request, follow, list, act. Views only call selectors and services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic import ListView

from portal.access import Action, Capability, can, restrict
from portal.cloud.gateway import ServerAction
from portal.http import AuthenticatedHttpRequest
from portal.inputs import object_id
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.validators import validate_single_line
from portal.views import HtmxListMixin
from provisioning import selectors, services
from provisioning.cloudinit.rendering import user_data_redact
from provisioning.filtersets import VmPageFilterSet
from provisioning.forms import LeaseExtendForm, VmRequestForm
from provisioning.models import SshKey, VmRequest, Volume
from provisioning.server_states import BUSY

# The VM list shows this many servers made outside Kennel and links to their own paged list: at 1,000
# of them, a hundred rows under the VMs cost more than the VMs' page itself.
UNMANAGED_ON_VM_LIST = 10


class VmListView(LoginRequiredMixin, HtmxListMixin, ListView):
    filterset_class = VmPageFilterSet
    template_name = "provisioning/vm_list.html"
    partial_template_name = "provisioning/_vm_results.html"
    context_object_name = "vms"
    paginate_by = 25

    def get_base_queryset(self):
        return selectors.vm_list(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        unmanaged = selectors.unmanaged_server_list(user=self.request.user)
        context["unmanaged"] = list(unmanaged[: UNMANAGED_ON_VM_LIST + 1])
        if len(context["unmanaged"]) > UNMANAGED_ON_VM_LIST:
            context["unmanaged"] = context["unmanaged"][:UNMANAGED_ON_VM_LIST]
            context["unmanaged_count"] = unmanaged.count()
        # The Mine / Team tabs keep the other filters; the page number starts again.
        query = self.request.GET.copy()
        query.pop("page", None)
        query.pop("mine", None)
        context["team_tab_query"] = query.urlencode()
        query["mine"] = "true"
        context["mine_tab_query"] = query.urlencode()
        context["mine_tab"] = self.request.GET.get("mine") == "true"
        context.update(_catalog_context())  # says so when the cloud cannot be reached
        return context | _servers_context()


class UnmanagedServerListView(LoginRequiredMixin, ListView):
    """Every server of the reader's teams that Kennel did not create, 50 a page."""

    template_name = "provisioning/unmanaged_list.html"
    context_object_name = "unmanaged"
    paginate_by = 50

    def get_queryset(self):
        return selectors.unmanaged_server_list(user=self.request.user).order_by("name", "pk")

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | _servers_context()


def _servers_context() -> dict:
    synced_at, error = selectors.servers_synced_at()
    return {"servers_synced_at": synced_at, "servers_sync_error": error}


def _catalog_context() -> dict:
    synced_at, error = selectors.catalog_synced_at()
    return {"catalog_synced_at": synced_at, "catalog_error": error}


@login_required
def vm_request_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET shows the form (htmx GETs re-render it as the architecture and image change); POST submits."""
    if request.method == "POST":
        form = VmRequestForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                vms = services.vm_requests_submit(
                    actor=request.user,
                    team=data["team"],
                    name=data["name"],
                    count=data.get("count") or 1,
                    image=data["image"],
                    flavor=data["flavor"],
                    profile=data["profile"],
                    ssh_keys=data["ssh_keys"],
                    packages=data["packages"],
                    source=origin(request),
                )
            except ValidationError as error:
                form_add_refusal(form, error)
            else:
                if len(vms) > 1:
                    messages.success(
                        request,
                        _("%(count)s VMs requested: %(names)s.")
                        % {"count": len(vms), "names": ", ".join(v.name for v in vms)},
                    )
                    return redirect("provisioning:vm-list")
                return redirect("provisioning:vm-detail", pk=vms[0].pk)
    else:
        form = VmRequestForm(request.GET or None, user=request.user)
        if form.is_bound:
            form.errors.clear()  # a GET only narrows the choices; errors are for submits
    context = {"form": form, **_catalog_context()}
    template = "provisioning/_vm_request_form.html" if request.htmx else "provisioning/vm_request.html"
    return render(request, template, context)


@require_POST
@login_required
def vm_user_data_preview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The exact user-data the request form would send, or what is wrong with it (an htmx fragment)."""
    form = VmRequestForm(request.POST, user=request.user)
    form.is_valid()
    data = form.cleaned_data
    text, problems, hidden = "", [], False
    if "image" not in data or "name" not in data:
        problems = [_("Choose an architecture, an image and a name first.")]
    else:
        try:
            text = services.vm_user_data_render(
                profile=data.get("profile"),
                architecture=data["image"].architecture,
                hostname=data["name"],
                ssh_keys=data.get("ssh_keys", []),
                packages=data.get("packages", []),
            )
        except ValidationError as error:
            problems = error.messages
        if text and not can(request.user, Capability.PROFILES_MANAGE):
            text, hidden = user_data_redact(text)
    problems += [
        f"{form.fields[name].label}: {' '.join(map(str, errors))}"
        for name, errors in form.errors.items()
        if name in ("ssh_keys", "packages")
    ]
    return render(
        request,
        "provisioning/_user_data_preview.html",
        {"text": text, "problems": problems, "hidden": hidden},
    )


@login_required
def vm_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    vm = get_object_or_404(selectors.vm_list(user=request.user), pk=pk)
    template = "provisioning/_vm_status.html" if request.htmx else "provisioning/vm_detail.html"
    events = list(vm.events.all())
    # Keep polling while the VM or its server is in flux, and for half a minute after anything happened.
    recent = bool(events) and timezone.now() - events[-1].at < timedelta(seconds=30)
    snapshots = list(vm.snapshots.all())
    volumes = list(vm.volumes.exclude(status=Volume.Status.DELETED))
    may_operate = (
        vm.status == "active"
        and restrict(request.user, VmRequest.objects.filter(pk=vm.pk), Action.OPERATE).exists()
    )
    attachable = (
        list(
            restrict(
                request.user,
                Volume.objects.filter(team=vm.team, status=Volume.Status.AVAILABLE),
                Action.OPERATE,
            )[:10]
        )
        if may_operate and not vm.locked and vm.server_id
        else []
    )
    change_choices = (
        {
            "resize_flavors": [
                f
                for f in selectors.flavor_list(user=request.user, image=vm.image)
                if f.name != vm.flavor_name and f.suits_architecture(vm.architecture)
            ],
            # Only images its flavor can hold: the service refuses the others.
            "rebuild_images": selectors.image_list(
                user=request.user, architecture=vm.architecture, team=vm.team
            ).filter(min_disk_gb__lte=vm.disk_gb, min_ram_mb__lte=vm.ram_mb),
        }
        if vm.status == "active"
        else {}
    )
    return render(
        request,
        template,
        {
            "vm": vm,
            "events": events,
            "snapshots": snapshots,
            "volumes": volumes,
            "attachable_volumes": attachable,
            "may_operate": may_operate,
            "keeper": services.vm_keeper(vm),
            **change_choices,
            "poll": not vm.finished
            or recent
            or vm.server_state in BUSY
            or any(not snapshot.finished for snapshot in snapshots)
            or any(volume.busy for volume in volumes),
            **_servers_context(),
            **({} if request.htmx else _catalog_context()),
        },
    )


def _act_on_vm(request: AuthenticatedHttpRequest, pk: int, act, success: str | None = None) -> HttpResponse:
    """POST handlers of the VM page: call ``act(vm)`` (a service), show its refusal, back to the page."""
    vm = get_object_or_404(selectors.vm_list(user=request.user), pk=pk)
    try:
        act(vm)
        if success:
            messages.success(request, success)
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("provisioning:vm-detail", pk=vm.pk)


@require_POST
@login_required
def vm_floating_ip(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    attach = request.POST.get("attach") == "1"
    return _act_on_vm(
        request,
        pk,
        lambda vm: services.vm_floating_ip_request(
            actor=request.user, vm=vm, attach=attach, source=origin(request)
        ),
    )


def _vm_fragment(
    request: AuthenticatedHttpRequest, pk: int, *, template: str, refusal_key: str, act
) -> HttpResponse:
    """A VM page's section that follows a worker (the console, its log): GET renders it (htmx polls it
    until the answer arrives); POST calls ``act(vm)``, a service, then renders it (htmx) or goes back to
    the page. A refusal is shown in the section (htmx) or as a message."""
    vm = get_object_or_404(selectors.vm_list(user=request.user), pk=pk)
    refusal = None
    if request.method == "POST":
        try:
            vm = act(vm)
        except ValidationError as error:
            refusal = " ".join(error.messages)
        if not request.htmx:
            if refusal:
                messages.error(request, refusal)
            return redirect("provisioning:vm-detail", pk=vm.pk)
    elif not request.htmx:
        return redirect("provisioning:vm-detail", pk=vm.pk)
    return render(request, template, {"vm": vm, refusal_key: refusal})


@require_http_methods(["GET", "POST"])
@login_required
def vm_console(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """POST asks a worker for a console URL; the section follows it until the link (or the reason
    there is none) arrives, without reloading the page."""
    return _vm_fragment(
        request,
        pk,
        template="provisioning/_vm_console.html",
        refusal_key="console_refusal",
        act=lambda vm: services.vm_console_request(actor=request.user, vm=vm, source=origin(request)),
    )


@require_http_methods(["GET", "POST"])
@login_required
def vm_console_log(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """POST asks a worker to read the server's console output; the section shows it when it arrives."""
    return _vm_fragment(
        request,
        pk,
        template="provisioning/_vm_console_log.html",
        refusal_key="console_log_refusal",
        act=lambda vm: services.vm_console_log_request(actor=request.user, vm=vm, source=origin(request)),
    )


@require_POST
@login_required
def vm_action(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    try:
        action = ServerAction(request.POST.get("action", ""))
    except ValueError:
        return HttpResponse(_("Unknown action."), status=400)
    return _act_on_vm(
        request,
        pk,
        lambda vm: services.vm_action_request(
            actor=request.user, vm=vm, action=action, source=origin(request)
        ),
        success=_("Requested; the page shows the new state in a few seconds."),
    )


@require_POST
@login_required
def vm_resize(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    chosen = object_id(request.POST.get("flavor"))
    flavor = None if chosen is None else selectors.flavor_list(user=request.user).filter(pk=chosen).first()

    def resize(vm):
        if flavor is None:
            raise ValidationError(_("Choose a flavor."))
        services.vm_resize_request(actor=request.user, vm=vm, flavor=flavor, source=origin(request))

    return _act_on_vm(
        request, pk, resize, success=_("Resize requested; confirm or revert it once it is done.")
    )


@require_POST
@login_required
def vm_rebuild(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def rebuild(vm):
        image = selectors.image_list(user=request.user, team=vm.team).filter(
            pk=object_id(request.POST.get("image"))
        )
        if not image.exists():
            raise ValidationError(_("Choose an image."))
        services.vm_rebuild_request(actor=request.user, vm=vm, image=image.get(), source=origin(request))

    return _act_on_vm(request, pk, rebuild, success=_("Rebuild requested."))


@require_POST
@login_required
def vm_snapshot(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    name = request.POST.get("name", "")
    return _act_on_vm(
        request,
        pk,
        lambda vm: services.vm_snapshot_request(actor=request.user, vm=vm, name=name, source=origin(request)),
        success=_("Snapshot requested; it appears in your team's images when it is ready."),
    )


@require_POST
@login_required
def vm_extend(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    form = LeaseExtendForm(request.POST)

    def extend(vm):
        if not form.is_valid():
            raise ValidationError(form.errors["days"])
        services.vm_lease_extend(
            actor=request.user, vm=vm, days=form.cleaned_data["days"], source=origin(request)
        )

    return _act_on_vm(request, pk, extend, success=_("Lease extended."))


@login_required
def vm_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Confirm by typing the VM's name; POST deletes."""
    vm = get_object_or_404(selectors.vm_list(user=request.user), pk=pk)
    error = None
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != vm.name:
            error = _("Type the VM's name, %(name)s, to confirm.") % {"name": vm.name}
        else:
            try:
                services.vm_delete_request(actor=request.user, vm=vm, source=origin(request))
            except ValidationError as refusal:
                message_add_refusal(request, refusal)
            else:
                messages.success(request, _("Deleting %(name)s.") % {"name": vm.name})
            return redirect("provisioning:vm-detail", pk=vm.pk)
    attached = vm.volumes.filter(status__in=(Volume.Status.IN_USE, Volume.Status.ATTACHING)).values_list(
        "name", flat=True
    )
    return render(
        request,
        "provisioning/vm_delete.html",
        {"vm": vm, "error": error, "attached": list(attached)},
        status=400 if error else 200,
    )


class SshKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=100, required=False, validators=[validate_single_line]
    )
    public_key = forms.CharField(
        validators=[validate_single_line],
        label=gettext_lazy("Public key"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("One line, as in ~/.ssh/id_ed25519.pub."),
    )


@login_required
def ssh_key_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The developer's SSH keys: import one (POST), see them, remove them."""
    form = SshKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ssh_key_add(user=request.user, source=origin(request), **form.cleaned_data)
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(request, _("Key imported; new VMs get it."))
            return redirect("provisioning:ssh-keys")
    keys = restrict(request.user, SshKey.objects.all())
    return render(request, "provisioning/ssh_keys.html", {"form": form, "keys": keys})


@require_POST
@login_required
def ssh_key_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(restrict(request.user, SshKey.objects.all(), Action.DELETE), pk=pk)
    services.ssh_key_remove(user=request.user, key=key, source=origin(request))
    return redirect("provisioning:ssh-keys")
