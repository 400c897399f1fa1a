import django_filters
from django.utils.translation import gettext_lazy as _

from quotas.models import QuotaRequest


class QuotaRequestFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=QuotaRequest.Status.choices, label=_("Status"))
    team = django_filters.CharFilter(field_name="team__slug", label=_("Team"))
    ordering = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("status", "status"), ("team__name", "team")),
        label=_("Sort by"),
    )

    class Meta:
        model = QuotaRequest
        fields = ["status", "team"]
