"""Filters shared by the HTML pages and the API, so both accept the same query parameters."""

import re

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from portal.models import AuditEvent, Role, User


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


class ReadableDateTimeField(forms.DateTimeField):
    """A moment as people type it: ``2026-12-01``, ``2026-12-01 14:30`` or ISO 8601 with a zone
    (``2026-12-01T14:30:00Z``); anything else is refused, naming what could not be read."""

    input_formats = ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

    def to_python(self, value):
        text = (value or "").strip() if isinstance(value, str) else value
        if isinstance(text, str) and text:
            moment = parse_datetime(text)  # ISO 8601 with seconds, fractions and a zone
            if moment is not None:
                return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
        try:
            return super().to_python(text)
        except forms.ValidationError:
            raise forms.ValidationError(
                _("Could not read the date “%(value)s”; write it as 2026-12-01 or 2026-12-01 14:30."),
                code="invalid",
                params={"value": str(value)[:40]},
            ) from None


class ReadableDateTimeFilter(django_filters.DateTimeFilter):
    field_class = ReadableDateTimeField


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label=_("Who"))
    action = django_filters.CharFilter(
        method="filter_action",
        label=_("What"),
        help_text=_('Words in the action, in any order: "power" finds server.power_execute.'),
    )
    target = django_filters.CharFilter(field_name="target_repr", lookup_expr="icontains", label=_("Object"))
    team = django_filters.CharFilter(field_name="team__slug", label=_("Team"))
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices, label=_("Outcome"))
    since = ReadableDateTimeFilter(field_name="created_at", lookup_expr="gte", label=_("Since"))
    until = ReadableDateTimeFilter(field_name="created_at", lookup_expr="lt", label=_("Until"))

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target", "team", "outcome", "since", "until"]

    def filter_action(self, queryset, name, value):
        """Every word (split at spaces, dots, underscores and hyphens) is somewhere in the action."""
        for word in re.split(r"[\s._-]+", value.strip()):
            if word:
                queryset = queryset.filter(action__icontains=word)
        return queryset


class PersonFilterSet(django_filters.FilterSet):
    """The People page's and ``/api/v1/people/``'s search, filters and sort (one page at a time)."""

    q = django_filters.CharFilter(method="filter_q", label=_("Search"))
    role = django_filters.ChoiceFilter(choices=Role.choices, method="filter_role", label=_("Role"))
    active = django_filters.BooleanFilter(field_name="is_active", label=_("May sign in"))
    ordering = SortFilter(
        fields=(("username", "user"), ("last_login", "last_login"), ("role", "role")),
        field_labels={"username": _("User"), "last_login": _("Last sign-in"), "role": _("Role")},
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
