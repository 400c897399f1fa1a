"""Filters shared by the VM pages and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal.architectures import Architecture
from portal.filtersets import SortFilter
from provisioning.models import VmRequest
from provisioning.server_states import ServerState


class VmFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Name"))
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("Only mine"))
    server_state = django_filters.MultipleChoiceFilter(
        choices=ServerState.choices,
        label=_("State"),
        help_text=_("The server's state in the cloud (repeatable)."),
    )
    status = django_filters.MultipleChoiceFilter(
        choices=VmRequest.Status.choices,
        label=pgettext_lazy("vm filter", "Request"),
        help_text=_("The request's life cycle (repeatable)."),
    )
    architecture = django_filters.ChoiceFilter(choices=Architecture.choices, label=_("Architecture"))
    owner = django_filters.CharFilter(field_name="owner__username", label=_("Owner"))
    team = django_filters.CharFilter(field_name="team__slug", label=_("Team"))
    ordering = SortFilter(
        fields=(
            ("name", "name"),
            ("created_at", "created"),
            ("server_state", "state"),
            ("status", "status"),
            ("expires_at", "expires"),
        ),
        field_labels={
            "name": _("Name"),
            "created_at": pgettext_lazy("sort by", "Requested"),
            "server_state": _("State"),
            "status": pgettext_lazy("vm filter", "Request"),
            "expires_at": _("Expires"),
        },
        label=_("Sort by"),
    )

    class Meta:
        model = VmRequest
        fields = ["q", "mine", "server_state", "status", "architecture", "owner", "team"]

    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value else queryset
