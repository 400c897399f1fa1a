"""Filters shared by the HTML pages and the API, so both accept the same query parameters."""

import django_filters
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent


class SortFilter(django_filters.OrderingFilter):
    """The "Sort by" choices in the reader's language: each field's label is given (``field_labels``),
    and "(descending)" comes from Kennel's catalogue, lazily (django-filter builds the choices once, at
    import, and has no Simplified Chinese of its own)."""

    def build_choices(self, fields, labels):
        ascending = [(param, labels.get(field, param)) for field, param in fields.items()]
        descending = [
            (f"-{param}", labels.get(f"-{param}", format_lazy(_("{field} (descending)"), field=label)))
            for param, label in ascending
        ]
        return [choice for pair in zip(ascending, descending, strict=True) for choice in pair]


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
