"""Filters shared by the server pages and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from inventory.models import Architecture, DataCenter, Server


class ServerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Name"))
    architecture = django_filters.ChoiceFilter(choices=Architecture.choices, label=_("Architecture"))
    datacenter = django_filters.ModelChoiceFilter(
        field_name="datacenter",
        to_field_name="code",
        queryset=DataCenter.objects.all(),
        label=_("Data center"),
    )

    class Meta:
        model = Server
        fields = ["q", "architecture", "datacenter"]
