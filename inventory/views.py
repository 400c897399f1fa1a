"""Pages of the physical estate (managers and admins)."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView

from inventory.filtersets import ServerFilterSet
from inventory.selectors import server_list
from portal.access import Capability
from portal.views import CapabilityRequiredMixin, HtmxListMixin


class ServerListView(LoginRequiredMixin, CapabilityRequiredMixin, HtmxListMixin, ListView):
    capability = Capability.INVENTORY_VIEW
    filterset_class = ServerFilterSet
    template_name = "inventory/server_list.html"
    partial_template_name = "inventory/_server_table.html"
    paginate_by = 50

    def get_base_queryset(self):
        return server_list(user=self.request.user)
