"""Pages of the physical estate (managers read, admins change)."""

from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from inventory.filtersets import ServerFilterSet
from inventory.forms import PowerRequestForm, ServerBmcForm, ServerDrainForm
from inventory.models import Server, ServerRole
from inventory.selectors import (
    headroom_table,
    host_utilization_list,
    power_request_confirmable,
    power_request_list,
    server_list,
    utilization_by_architecture,
    utilization_by_datacenter,
)
from inventory.services import (
    DrainRefused,
    PowerActionRefused,
    power_request_confirm,
    power_request_create,
    server_bmc_set,
    server_drain_request,
    server_undrain_request,
)
from portal.access import Action, Capability, can, restrict
from portal.origin import origin
from portal.views import CapabilityRequiredMixin, HtmxListMixin
from provisioning.selectors import catalog_synced_at


class ServerListView(LoginRequiredMixin, CapabilityRequiredMixin, HtmxListMixin, ListView):
    capability = Capability.INVENTORY_VIEW
    filterset_class = ServerFilterSet
    template_name = "inventory/server_list.html"
    partial_template_name = "inventory/_server_table.html"
    paginate_by = 50

    def get_base_queryset(self):
        return server_list(user=self.request.user)


class ServerDetailView(LoginRequiredMixin, CapabilityRequiredMixin, DetailView):
    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/server_detail.html"
    partial_template_name = "inventory/_server_hardware.html"
    context_object_name = "server"

    def get_object(self, queryset=None):
        return get_object_or_404(server_list(user=self.request.user), pk=self.kwargs["pk"])

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        server = self.object
        compute = ServerRole.COMPUTE in server.roles
        return super().get_context_data(
            can_edit_bmc=can(self.request.user, Capability.INVENTORY_CHANGE),
            is_compute=compute,
            drain=getattr(server, "drain", None),
            drain_form=ServerDrainForm()
            if compute and can(self.request.user, Capability.POWER_OPERATE)
            else None,
            power_form=PowerRequestForm() if can(self.request.user, Capability.POWER_OPERATE) else None,
            power_requests=[
                (pr, power_request_confirmable(user=self.request.user, request=pr))
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
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(server=self.server, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        server_bmc_set(
            actor=self.request.user,
            server=self.server,
            protocol=data["protocol"],
            address=data["address"],
            port=data["port"],
            username=data["username"],
            password=data["password"] or None,
            source=origin(self.request),
        )
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
                actor=request.user, server=server, reason=form.cleaned_data["reason"], source=origin(request)
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

    def get_context_data(self, **kwargs):
        user = self.request.user
        hosts = host_utilization_list(user=user)
        synced_at, sync_error = catalog_synced_at()
        return super().get_context_data(
            hosts=hosts,
            by_architecture=utilization_by_architecture(user=user, hosts=hosts),
            by_datacenter=utilization_by_datacenter(user=user, hosts=hosts),
            headroom=headroom_table(user=user),
            synced_at=synced_at,
            sync_error=sync_error,
            **kwargs,
        )
