"""Pages of the physical estate (managers read, admins change)."""

from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.forms import BaseForm
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from inventory.filtersets import ServerFilterSet
from inventory.forms import (
    ConfirmNameForm,
    DataCenterForm,
    PowerRequestForm,
    ServerBmcForm,
    ServerDrainForm,
    ServerForm,
    ServerImportForm,
)
from inventory.models import DataCenter, Server, ServerRole
from inventory.selectors import (
    headroom_table,
    host_utilization_of,
    host_utilization_rows,
    power_action_first,
    power_cooldown_left,
    power_request_cancellable,
    power_request_confirmable,
    power_request_list,
    server_list,
    utilization_by_architecture,
    utilization_by_datacenter,
)
from inventory.server_csv import (
    servers_csv_export,
    servers_csv_import,
    servers_csv_plan,
    servers_csv_stage,
    servers_csv_staged,
    servers_csv_unstage,
)
from inventory.services import (
    AssetRefused,
    DrainRefused,
    PowerActionRefused,
    datacenter_create,
    datacenter_delete,
    datacenter_delete_refusal,
    datacenter_update,
    power_request_cancel,
    power_request_confirm,
    power_request_create,
    server_bmc_set,
    server_create,
    server_delete,
    server_delete_refusal,
    server_drain_request,
    server_undrain_request,
    server_update,
)
from portal.access import Action, Capability, can, restrict
from portal.http import AuthenticatedHttpRequest
from portal.origin import origin
from portal.refusals import form_add_refusal
from portal.views import CapabilityRequiredMixin, HtmxListMixin
from provisioning.selectors import hosts_synced_at


class ServerListView(LoginRequiredMixin, CapabilityRequiredMixin, HtmxListMixin, ListView):
    capability = Capability.INVENTORY_VIEW
    filterset_class = ServerFilterSet
    template_name = "inventory/server_list.html"
    partial_template_name = "inventory/_server_table.html"
    paginate_by = 50

    def get_base_queryset(self):
        return server_list(user=self.request.user)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            can_change=can(self.request.user, Capability.INVENTORY_CHANGE), **kwargs
        )


class ServerDetailView(LoginRequiredMixin, CapabilityRequiredMixin, DetailView):
    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/server_detail.html"
    partial_template_name = "inventory/_server_hardware.html"
    context_object_name = "server"

    def get_object(self, queryset=None):
        return get_object_or_404(server_list(user=self.request.user), pk=self.kwargs["pk"])

    def get_template_names(self):
        htmx = getattr(self.request, "htmx", False)
        if htmx and not htmx.boosted:
            # The drain section polls by itself while a worker moves VMs; the hardware every 30 s.
            return ["inventory/_server_drain.html" if htmx.target == "drain" else self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        server = self.object
        compute = ServerRole.COMPUTE in server.roles
        return super().get_context_data(
            can_edit_bmc=can(self.request.user, Capability.INVENTORY_CHANGE),
            can_change=can(self.request.user, Capability.INVENTORY_CHANGE),
            is_compute=compute,
            drain=getattr(server, "drain", None),
            drain_form=ServerDrainForm()
            if compute and can(self.request.user, Capability.POWER_OPERATE)
            else None,
            power_form=PowerRequestForm(initial={"action": power_action_first(server=server)})
            if can(self.request.user, Capability.POWER_OPERATE)
            else None,
            power_cooldown_left=power_cooldown_left(server=server),
            power_requests=[
                (
                    pr,
                    power_request_confirmable(user=self.request.user, request=pr),
                    power_request_cancellable(user=self.request.user, request=pr),
                )
                for pr in power_request_list(user=self.request.user).filter(server=server)[:10]
            ],
            **kwargs,
        )


class ServerBmcEditView(LoginRequiredMixin, CapabilityRequiredMixin, FormView):
    """Admins set a server's BMC; the stored password is never sent to the browser."""

    capability = Capability.INVENTORY_CHANGE
    template_name = "inventory/server_bmc_form.html"
    form_class = ServerBmcForm

    @cached_property
    def server(self) -> Server:
        # Looked up after the mixins let the user in, so a manager gets 403 rather than 404.
        return get_object_or_404(
            restrict(self.request.user, Server.objects.all(), Action.CHANGE), pk=self.kwargs["pk"]
        )

    def get_initial(self):
        s = self.server
        return {
            "protocol": s.bmc_protocol,
            "address": s.bmc_address,
            "port": s.bmc_port,
            "username": s.bmc_username,
            "tls_verify": s.bmc_tls_verify,
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(server=self.server, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            server_bmc_set(
                actor=self.request.user,
                server=self.server,
                protocol=data["protocol"],
                address=data["address"],
                port=data["port"],
                username=data["username"],
                password=data["password"] or None,
                tls_verify=data["tls_verify"],
                source=origin(self.request),
            )
        except ValidationError as refusal:  # e.g. an address outside the allowed BMC networks
            form_add_refusal(form, refusal, field_of=lambda field: field.removeprefix("bmc_"))
            return self.form_invalid(form)
        messages.success(self.request, _("BMC of %(server)s saved.") % {"server": self.server.name})
        return redirect("inventory:server-detail", pk=self.server.pk)


def _back_to_server(request, server_pk: int, call, success: str) -> HttpResponse:
    """POST handlers of the server page: call a service; its refusal becomes a message; back to the page."""
    try:
        call()
    except (PowerActionRefused, DrainRefused) as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, success)
    return redirect("inventory:server-detail", pk=server_pk)


def _operable_server(request, pk: int) -> Server:
    return get_object_or_404(restrict(request.user, Server.objects.all(), Action.OPERATE), pk=pk)


class ServerPowerView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """An admin asks for a guarded power action; the service decides whether it may happen."""

    capability = Capability.POWER_OPERATE
    http_method_names = ["post"]

    def post(self, request, pk):
        server = _operable_server(request, pk)
        form = PowerRequestForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Choose an action, give a reason and type the server's name."))
            return redirect("inventory:server-detail", pk=pk)
        return _back_to_server(
            request,
            pk,
            lambda: power_request_create(
                actor=request.user, server=server, source=origin(request), **form.cleaned_data
            ),
            _("Power action on %(server)s requested.") % {"server": server.name},
        )


class PowerRequestConfirmView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """A second admin confirms a controller's power action."""

    capability = Capability.POWER_OPERATE
    http_method_names = ["post"]

    def post(self, request, pk):
        power_request = get_object_or_404(power_request_list(user=request.user), pk=pk)
        return _back_to_server(
            request,
            power_request.server_id,
            lambda: power_request_confirm(actor=request.user, request=power_request, source=origin(request)),
            _("Power action confirmed."),
        )


class PowerRequestCancelView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """An admin withdraws a power action that still waits for a second admin."""

    capability = Capability.POWER_OPERATE
    http_method_names = ["post"]

    def post(self, request, pk):
        power_request = get_object_or_404(power_request_list(user=request.user), pk=pk)
        return _back_to_server(
            request,
            power_request.server_id,
            lambda: power_request_cancel(actor=request.user, request=power_request, source=origin(request)),
            _("Power action cancelled."),
        )


class ServerDrainView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """An admin drains a compute node (a worker disables its Nova compute service)."""

    capability = Capability.POWER_OPERATE
    http_method_names = ["post"]

    def post(self, request, pk):
        server = _operable_server(request, pk)
        form = ServerDrainForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Give a reason."))
            return redirect("inventory:server-detail", pk=pk)
        return _back_to_server(
            request,
            pk,
            lambda: server_drain_request(
                actor=request.user,
                server=server,
                reason=form.cleaned_data["reason"],
                migrate=form.cleaned_data["migrate"],
                source=origin(request),
            ),
            _("Drain of %(server)s requested.") % {"server": server.name},
        )


class ServerUndrainView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """An admin puts a drained compute node back in service."""

    capability = Capability.POWER_OPERATE
    http_method_names = ["post"]

    def post(self, request, pk):
        server = _operable_server(request, pk)
        return _back_to_server(
            request,
            pk,
            lambda: server_undrain_request(actor=request.user, server=server, source=origin(request)),
            _("Undrain of %(server)s requested.") % {"server": server.name},
        )


class UtilizationView(LoginRequiredMixin, CapabilityRequiredMixin, TemplateView):
    """Compute capacity against usage, per host, architecture and data center, from the cloud mirror."""

    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/utilization.html"

    hosts_per_page = 50

    def get_context_data(self, **kwargs):
        user = self.request.user
        # The hosts a page at a time; the sums over all of them come from the database.
        page = Paginator(host_utilization_rows(user=user), self.hosts_per_page).get_page(
            self.request.GET.get("page")
        )
        synced_at, sync_error = hosts_synced_at()
        return super().get_context_data(
            hosts=[host_utilization_of(row) for row in page],
            page_obj=page,
            by_architecture=utilization_by_architecture(user=user),
            by_datacenter=utilization_by_datacenter(user=user),
            headroom=headroom_table(user=user),
            synced_at=synced_at,
            sync_error=sync_error,
            **kwargs,
        )


# Assets: servers' records and data centers (admins change, managers read) -------------------------


class AssetFormView(LoginRequiredMixin, CapabilityRequiredMixin, FormView):
    """Create or edit one asset through its service. The form checks what it can; a ValidationError
    from the service (which validates again, under a row lock) lands on the form as field errors."""

    capability = Capability.INVENTORY_CHANGE
    template_name = "inventory/asset_form.html"
    title: str | Promise = ""

    def save(self, form):
        raise NotImplementedError

    def saved_message(self, obj) -> str:
        raise NotImplementedError

    def success_url_for(self, obj) -> str:
        raise NotImplementedError

    def cancel_url(self) -> str:
        raise NotImplementedError

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=self.title, cancel_url=self.cancel_url(), **kwargs)

    def form_valid(self, form):
        try:
            obj = self.save(form)
        except ValidationError as error:
            form_add_refusal(form, error)
            return self.form_invalid(form)
        messages.success(self.request, self.saved_message(obj))
        return redirect(self.success_url_for(obj))


class ServerFormMixin:
    form_class: type[BaseForm] | None = ServerForm

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "datacenters": restrict(self.request.user, DataCenter.objects.all()),
        }

    def saved_message(self, obj) -> str:
        return _("Server %(server)s saved.") % {"server": obj.name}

    def success_url_for(self, obj) -> str:
        return reverse("inventory:server-detail", args=[obj.pk])


class ServerCreateView(ServerFormMixin, AssetFormView):
    title = gettext_lazy("Add a server")

    def cancel_url(self) -> str:
        return reverse("inventory:server-list")

    def save(self, form):
        return server_create(actor=self.request.user, fields=form.cleaned_data, source=origin(self.request))


class ServerUpdateView(ServerFormMixin, AssetFormView):
    @cached_property
    def server(self) -> Server:
        return get_object_or_404(
            restrict(self.request.user, Server.objects.all(), Action.CHANGE), pk=self.kwargs["pk"]
        )

    @property
    def title(self):
        return _("Edit %(server)s") % {"server": self.server.name}

    def get_form_kwargs(self):
        # A copy: the form writes its values onto its instance while validating.
        return {**super().get_form_kwargs(), "instance": Server.objects.get(pk=self.server.pk)}

    def cancel_url(self) -> str:
        return reverse("inventory:server-detail", args=[self.server.pk])

    def save(self, form):
        return server_update(
            actor=self.request.user, server=self.server, fields=form.cleaned_data, source=origin(self.request)
        )


class AssetDeleteView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """Confirm by typing the name; the service refuses (and says why) while the asset is in use."""

    capability = Capability.INVENTORY_CHANGE
    http_method_names = ["get", "post"]

    def get_object(self):
        raise NotImplementedError

    def refusal(self, obj) -> str | None:
        raise NotImplementedError

    def delete(self, obj) -> None:
        raise NotImplementedError

    def cancel_url(self, obj) -> str:
        raise NotImplementedError

    success_url_name = ""
    what: str | Promise = ""

    def _page(self, obj, form, *, error: str | None = None, status: int = 200):
        context = {
            "object": obj,
            "name": str(getattr(obj, "name", obj)),
            "what": self.what,
            "form": form,
            "refusal": error or self.refusal(obj),
            "cancel_url": self.cancel_url(obj),
        }
        return render(self.request, "inventory/asset_delete.html", context, status=status)

    def get(self, request, pk):
        obj = self.get_object()
        return self._page(obj, ConfirmNameForm(expected=obj.name))

    def post(self, request, pk):
        obj = self.get_object()
        form = ConfirmNameForm(request.POST, expected=obj.name)
        if not form.is_valid():
            return self._page(obj, form, status=400)
        name = obj.name
        try:
            self.delete(obj)
        except AssetRefused as refusal:
            return self._page(obj, form, error=str(refusal), status=409)
        messages.success(request, _("%(name)s deleted.") % {"name": name})
        return redirect(self.success_url_name)


class ServerDeleteView(AssetDeleteView):
    what = gettext_lazy(
        "The server's record, its hardware state, drain and power history are deleted; "
        "the audit log keeps what happened."
    )
    success_url_name = "inventory:server-list"

    def get_object(self):
        return get_object_or_404(
            restrict(self.request.user, Server.objects.all(), Action.DELETE), pk=self.kwargs["pk"]
        )

    def refusal(self, obj):
        return server_delete_refusal(obj)

    def delete(self, obj):
        server_delete(actor=self.request.user, server=obj, source=origin(self.request))

    def cancel_url(self, obj):
        return reverse("inventory:server-detail", args=[obj.pk])


class DataCenterListView(LoginRequiredMixin, CapabilityRequiredMixin, ListView):
    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/datacenter_list.html"
    context_object_name = "datacenters"
    paginate_by = 100

    def get_queryset(self):
        return restrict(
            self.request.user, DataCenter.objects.annotate(server_count=Count("servers")).order_by("code")
        )

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            can_change=can(self.request.user, Capability.INVENTORY_CHANGE), **kwargs
        )


class DataCenterFormMixin:
    form_class: type[BaseForm] | None = DataCenterForm

    def saved_message(self, obj) -> str:
        return _("Data center %(dc)s saved.") % {"dc": obj.name}

    def success_url_for(self, obj) -> str:
        return reverse("inventory:datacenter-list")

    def cancel_url(self) -> str:
        return reverse("inventory:datacenter-list")


class DataCenterCreateView(DataCenterFormMixin, AssetFormView):
    title = gettext_lazy("Add a data center")

    def save(self, form):
        return datacenter_create(actor=self.request.user, source=origin(self.request), **form.cleaned_data)


class DataCenterUpdateView(DataCenterFormMixin, AssetFormView):
    @cached_property
    def datacenter(self) -> DataCenter:
        return get_object_or_404(
            restrict(self.request.user, DataCenter.objects.all(), Action.CHANGE), pk=self.kwargs["pk"]
        )

    @property
    def title(self):
        return _("Edit %(dc)s") % {"dc": self.datacenter.name}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "instance": DataCenter.objects.get(pk=self.datacenter.pk)}

    def save(self, form):
        return datacenter_update(
            actor=self.request.user,
            datacenter=self.datacenter,
            source=origin(self.request),
            **form.cleaned_data,
        )


class DataCenterDeleteView(AssetDeleteView):
    what = gettext_lazy("The data center is deleted; the audit log keeps what happened.")
    success_url_name = "inventory:datacenter-list"

    def get_object(self):
        return get_object_or_404(
            restrict(self.request.user, DataCenter.objects.all(), Action.DELETE), pk=self.kwargs["pk"]
        )

    def refusal(self, obj):
        return datacenter_delete_refusal(obj)

    def delete(self, obj):
        datacenter_delete(actor=self.request.user, datacenter=obj, source=origin(self.request))

    def cancel_url(self, obj):
        return reverse("inventory:datacenter-list")


# CSV ------------------------------------------------------------------------------------------------


class ServerExportView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """Every server the user may read, as a CSV download (never a password)."""

    capability = Capability.INVENTORY_VIEW
    http_method_names = ["get"]

    def get(self, request):
        response = HttpResponse(servers_csv_export(user=request.user), content_type="text/csv; charset=utf-8")
        filename = f"kennel-servers-{timezone.now():%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ServerImportView(LoginRequiredMixin, CapabilityRequiredMixin, View):
    """Upload a CSV, see what it would do row by row, then apply it as a whole. Between the two steps
    the file waits server-side (encrypted, for this admin only), so no password travels back to the
    browser."""

    capability = Capability.INVENTORY_CHANGE
    http_method_names = ["get", "post"]
    template_name = "inventory/server_import.html"
    request: AuthenticatedHttpRequest  # LoginRequiredMixin let only a signed-in person this far

    def _page(self, form, *, plan=None, token="", error="", status=200):
        context = {"form": form, "plan": plan, "token": token, "error": error}
        if plan is not None:
            context["shown_rows"] = [r for r in plan.rows if r.action != "unchanged"]
        return render(self.request, self.template_name, context, status=status)

    def get(self, request):
        return self._page(ServerImportForm())

    def post(self, request):
        if "token" in request.POST:
            return self._apply(request.POST["token"])
        form = ServerImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self._page(form, status=400)
        text = form.cleaned_data["file"]
        plan = servers_csv_plan(user=request.user, text=text)
        token = servers_csv_stage(actor=request.user, text=text) if plan.valid else ""
        return self._page(ServerImportForm(), plan=plan, token=token, status=200 if plan.valid else 400)

    def _apply(self, token: str):
        text = servers_csv_staged(actor=self.request.user, token=token)
        if text is None:
            error = _("The preview expired or was already applied; upload the file again.")
            return self._page(ServerImportForm(), error=error, status=400)
        plan = servers_csv_import(actor=self.request.user, text=text, source=origin(self.request))
        if not plan.applied:
            # The estate changed since the preview (someone else's edit): show what fails now.
            return self._page(ServerImportForm(), plan=plan, status=409)
        servers_csv_unstage(token=token)
        messages.success(
            self.request,
            _("Import applied: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
            % {"created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged},
        )
        return redirect("inventory:server-list")
