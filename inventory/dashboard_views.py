"""The manager's dashboard and the utilization history page (managers and admins). Views only read
through inventory.dashboard and inventory.history; the charts are drawn by inventory.charts."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from inventory.charts import utilization_history_charts
from inventory.dashboard import dashboard_summary
from inventory.history import (
    RANGE_LABELS,
    RESOLUTION_LABELS,
    RESOURCE_LABELS,
    HistoryQueryInvalid,
    HistoryRange,
    Scope,
    demo_history_until,
    history_query_parse,
    utilization_forecast,
    utilization_history,
)
from portal.access import Capability
from portal.views import CapabilityRequiredMixin


class DashboardView(LoginRequiredMixin, CapabilityRequiredMixin, TemplateView):
    """The estate at a glance; htmx refreshes the body every minute through the same view."""

    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/dashboard.html"
    partial_template_name = "inventory/_dashboard.html"

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        all_alerts = self.request.GET.get("alerts") == "all"
        return super().get_context_data(
            **dashboard_summary(user=self.request.user, all_alerts=all_alerts), **kwargs
        )


class UtilizationHistoryView(LoginRequiredMixin, CapabilityRequiredMixin, TemplateView):
    """Used against capacity over a chosen range, per architecture (or data center), with the forecast."""

    capability = Capability.INVENTORY_VIEW
    template_name = "inventory/utilization_history.html"

    def get(self, request, *args, **kwargs):
        query = request.GET
        try:
            span, resolution, scope = history_query_parse(
                span=query.get("range"), resolution=query.get("resolution"), scope=query.get("scope")
            )
        except HistoryQueryInvalid as invalid:
            context = self.get_context_data(error=str(invalid), span=None, scope=Scope.ARCHITECTURE)
            return self.render_to_response(context, status=400)
        user = request.user
        history = utilization_history(user=user, span=span, resolution=resolution, scope=scope)
        threshold = settings.KENNEL_CAPACITY_ALERT_PERCENT
        context = self.get_context_data(
            span=span,
            scope=scope,
            history=history,
            series=utilization_history_charts(history, threshold_percent=threshold),
            resolution_label=RESOLUTION_LABELS[resolution],
            forecasts=utilization_forecast(user=user, scope=scope, keys=[s.key for s in history.series]),
            threshold=threshold,
            window_days=settings.KENNEL_FORECAST_WINDOW_DAYS,
            demo_history_until=demo_history_until(user=user),
        )
        return self.render_to_response(context)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            ranges=[(value, RANGE_LABELS[value]) for value in HistoryRange],
            scopes=[(Scope.ARCHITECTURE, _("Per architecture")), (Scope.DATACENTER, _("Per data center"))],
            resource_labels=list(RESOURCE_LABELS.values()),
            **kwargs,
        )
