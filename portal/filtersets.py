"""Filters shared by the HTML pages and the API, so both accept the same query parameters."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent, Role, User


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


class PersonFilterSet(django_filters.FilterSet):
    """The People page's and ``/api/v1/people/``'s search, filters and sort (one page at a time)."""

    q = django_filters.CharFilter(method="filter_q", label=_("Search"))
    role = django_filters.ChoiceFilter(choices=Role.choices, method="filter_role", label=_("Role"))
    active = django_filters.BooleanFilter(field_name="is_active", label=_("May sign in"))
    ordering = django_filters.OrderingFilter(
        fields=(("username", "user"), ("last_login", "last_login"), ("role", "role")),
        label=_("Sort by"),
    )

    class Meta:
        model = User
        fields = ["q", "role", "active"]

    def filter_q(self, queryset, name, value):
        """User name, full name or e-mail containing ``value``."""
        if not value:
            return queryset
        return queryset.filter(
            Q(username__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(email__icontains=value)
        )

    def filter_role(self, queryset, name, value):
        """The role that applies: a superuser is an admin whatever their stored role."""
        if not value:
            return queryset
        if value == Role.ADMIN:
            return queryset.filter(Q(role=value) | Q(is_superuser=True))
        return queryset.filter(role=value, is_superuser=False)
