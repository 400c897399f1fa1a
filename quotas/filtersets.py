import django_filters
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from portal.filtersets import SortFilter
from quotas.models import QuotaRequest


class QuotaRequestFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=QuotaRequest.Status.choices, label=_("Status"))
    team = django_filters.CharFilter(field_name="team__slug", label=_("Team"))
    ordering = SortFilter(
        fields=(("created_at", "created"), ("status", "status"), ("team__name", "team")),
        field_labels={
            "created_at": pgettext_lazy("sort by", "Requested"),
            "status": _("Status"),
            "team__name": _("Team"),
        },
        label=_("Sort by"),
    )

    class Meta:
        model = QuotaRequest
        fields = ["status", "team"]
