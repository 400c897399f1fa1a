"""Filters shared by the VM pages and the API."""

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal.access import restrict
from portal.architectures import Architecture
from portal.filtersets import SortFilter
from portal.models import Team
from provisioning.models import VmRequest
from provisioning.selectors import host_architectures
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


class VmPageFilterSet(VmFilterSet):
    """The VM list page's filters, read as people expect (the API keeps ``VmFilterSet`` as it is):

    - *Mine* / *Team* are tabs (``mine``, a hidden field here), not a yes/no/unknown select;
    - the state is a row of chips, one per state the visible VMs are in (plus any already chosen);
    - deleted VMs are hidden unless *Show deleted VMs* is ticked (or the deleted state is asked for);
    - architectures are those the cloud has hosts of; teams are the person's own; no "---------".
    The request's life cycle (``status``) still filters from the URL and the API, but is not a field.
    """

    deleted = django_filters.BooleanFilter(
        method="filter_deleted", label=_("Show deleted VMs"), widget=forms.CheckboxInput
    )

    class Meta(VmFilterSet.Meta):
        fields = [*VmFilterSet.Meta.fields, "deleted"]

    def __init__(self, data=None, queryset=None, *, request=None, **kwargs):
        super().__init__(data, queryset, request=request, **kwargs)
        user = request.user if request is not None else None
        fields = self.form.fields
        fields["status"].widget = forms.MultipleHiddenInput()
        fields["mine"].widget = forms.HiddenInput()
        # order_by(): DISTINCT over the state alone (Django adds ordering columns to a DISTINCT's SELECT,
        # which made this read every visible VM: 250 ms at 50,000 VMs)
        present = set(
            queryset.exclude(server_state="").order_by().values_list("server_state", flat=True).distinct()
        )
        chosen = set(_list(self.data, "server_state"))
        fields["server_state"].widget = forms.CheckboxSelectMultiple(attrs={"class": "chip-input"})
        fields["server_state"].choices = [
            (value, label)
            for value, label in ServerState.choices
            if value in chosen or (value in present and value not in _NOT_CHIPS)
        ]
        hosts = set(host_architectures())
        fields["architecture"].empty_label = _("Any architecture")
        fields["architecture"].choices = [
            (value, label) for value, label in Architecture.choices if value in hosts
        ]
        # A choice of the person's teams; someone who sees more teams than a list can show (an admin
        # of 500 teams) types the team's short name instead, so the page costs the same at any size.
        teams = list(
            restrict(user, Team.objects.all())
            .order_by("slug")
            .values_list("slug", "name")[: TEAM_CHOICES_MAX + 1]
        )
        if len(teams) <= TEAM_CHOICES_MAX:
            fields["team"].widget = forms.Select(choices=[("", _("Any of my teams")), *teams])
        else:
            fields["team"].widget = forms.TextInput(attrs={"placeholder": _("Team's short name")})
        fields["ordering"].empty_label = _("Newest first")
        fields["ordering"].choices = [choice for choice in fields["ordering"].choices if choice[0]]

    def filter_queryset(self, queryset: QuerySet[VmRequest]) -> QuerySet[VmRequest]:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        asked = {*(data.get("server_state") or []), *(data.get("status") or [])}
        if not data.get("deleted") and VmRequest.Status.DELETED not in asked:
            queryset = queryset.exclude(status=VmRequest.Status.DELETED)
        return queryset

    def filter_deleted(self, queryset, name, value):
        return queryset  # applied in filter_queryset, which sees the other fields too


# More teams than this and the team filter is typed, not chosen from a list.
TEAM_CHOICES_MAX = 30

# "Unknown" is no state to pick; deleted VMs have their own checkbox.
_NOT_CHIPS = (ServerState.UNKNOWN, ServerState.DELETED)


def _list(data, key: str) -> list[str]:
    return data.getlist(key) if hasattr(data, "getlist") else []
