"""Floating IPs on the team page: the list comes with the team page (portal.views); here a lead
releases an unused one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.http import AuthenticatedHttpRequest
from portal.origin import origin
from portal.refusals import message_add_refusal
from provisioning.floating_ips import floating_ip_list, floating_ip_release_request


@require_POST
@login_required
def floating_ip_release(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A team lead (or admin) releases an unused floating IP; a worker does it. Not visible: 404;
    visible but not a lead: 403 (PermissionDenied from the service)."""
    fip = get_object_or_404(floating_ip_list(user=request.user), pk=pk)
    try:
        floating_ip_release_request(actor=request.user, fip=fip, source=origin(request))
        messages.success(request, _("Release of %(address)s requested.") % {"address": fip.address})
    except ValidationError as error:
        message_add_refusal(request, error)
    if fip.team is not None:
        return redirect("team-detail", slug=fip.team.slug)
    return redirect("home")
