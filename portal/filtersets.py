"""Filters shared by the HTML pages and the API, so both accept the same query parameters."""

import django_filters
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label=_("Who"))
    action = django_filters.CharFilter(lookup_expr="istartswith", label=_("What"))
    target = django_filters.CharFilter(field_name="target_repr", lookup_expr="icontains", label=_("Object"))
    team = django_filters.CharFilter(field_name="team__slug", label=_("Team"))
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices, label=_("Outcome"))
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label=_("Since"))
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label=_("Until"))

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target", "team", "outcome", "since", "until"]
