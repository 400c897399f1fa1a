"""Pages that compose several apps: the landing page per role and a team's page (its members, quota,
VMs, floating IPs and onboarding)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.generic import DetailView

from kennel.selectors import landing_summary
from onboarding.forms import SecurityRuleForm
from onboarding.models import Onboarding
from onboarding.security_rules import security_rules_section
from onboarding.selectors import onboarding_progress
from portal import selectors
from portal.http import AuthenticatedHttpRequest
from portal.models import Role
from provisioning import selectors as vm_selectors
from provisioning.floating_ips import floating_ip_list, floating_ip_may_release, floating_ips_synced_at
from quotas import selectors as quota_selectors

_LANDING_TEMPLATES: dict[str, str] = {
    Role.DEVELOPER: "kennel/home_developer.html",
    Role.MANAGER: "kennel/home_manager.html",
    Role.ADMIN: "kennel/home_admin.html",
}


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, _LANDING_TEMPLATES[request.user.portal_role], landing_summary(user=request.user))


class TeamDetailView(LoginRequiredMixin, DetailView):
    template_name = "kennel/team_detail.html"
    context_object_name = "team"

    def get_object(self, queryset=None):
        return get_object_or_404(selectors.team_list(user=self.request.user), slug=self.kwargs["slug"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["memberships"] = self.object.memberships.select_related("user").order_by(
            "-level", "user__username"
        )
        context["quota_table"] = quota_selectors.team_quota_table(self.object)
        context["may_request_quota"] = quota_selectors.quota_may_request(
            user=self.request.user, team=self.object
        )
        context["quota_requests"] = quota_selectors.quota_request_list(user=self.request.user).filter(
            team=self.object
        )[:5]
        vms = list(
            vm_selectors.team_vm_list(user=self.request.user, team=self.object).select_related("owner")
        )
        context["vms"], context["vm_state_counts"] = vms, vm_selectors.vm_state_counts(vms)
        # The project's floating IPs, from the mirror a worker refreshes every minute.
        context["floating_ips"] = [
            (fip, floating_ip_may_release(user=self.request.user, fip=fip))
            for fip in floating_ip_list(user=self.request.user, team=self.object)
        ]
        context["floating_ips_synced_at"] = floating_ips_synced_at()
        # Who may reach the team's VMs: the default security group's rules, mirrored every minute.
        context["security_rule_form"] = SecurityRuleForm()
        context.update(security_rules_section(user=self.request.user, team=self.object))
        onboarding = Onboarding.objects.filter(team=self.object).select_related("team").first()
        if onboarding is not None:  # made by Kennel: its chain's progress, live
            context.update(onboarding_progress(user=self.request.user, onboarding=onboarding))
        return context
