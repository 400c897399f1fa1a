"""Filters shared by the server pages and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from inventory.models import DataCenter, HealthChoice, PowerStateChoice, Server
from portal.architectures import Architecture


class ServerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Name"))
    architecture = django_filters.ChoiceFilter(choices=Architecture.choices, label=_("Architecture"))
    datacenter = django_filters.ModelChoiceFilter(
        field_name="datacenter",
        to_field_name="code",
        queryset=DataCenter.objects.all(),
        label=_("Data center"),
    )

    # The dashboard's counts link here, so each count and its list agree.
    power = django_filters.ChoiceFilter(
        field_name="hardware_state__power_state", choices=PowerStateChoice.choices, label=_("Power")
    )
    health = django_filters.ChoiceFilter(
        field_name="hardware_state__health", choices=HealthChoice.choices, label=_("Health")
    )
    bmc = django_filters.ChoiceFilter(
        method="filter_bmc",
        choices=[
            ("reachable", _("Reachable")),
            ("unreachable", _("Unreachable")),
            ("none", _("No BMC data")),
        ],
        label=_("BMC"),
    )

    class Meta:
        model = Server
        fields = ["q", "architecture", "datacenter", "power", "health", "bmc"]

    def filter_bmc(self, queryset, name, value):
        if value == "none":
            return queryset.filter(hardware_state=None)
        return queryset.filter(hardware_state__reachable=value == "reachable")
