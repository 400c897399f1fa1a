"""The core's own pages (teams, people, audit log, API tokens, health, the sign-in lock-out) and the view
mixins every app uses. Pages that compose several apps (home, a team's page) live in ``kennel.views``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.generic import ListView

from portal import selectors, services
from portal.access import Action, Capability, can, restrict
from portal.filtersets import AuditEventFilterSet, PersonFilterSet
from portal.forms import ApiTokenForm, PersonAddForm
from portal.http import AuthenticatedHttpRequest
from portal.inputs import object_id
from portal.models import ApiToken, Role, User
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal

View = Callable[..., HttpResponse]


class CapabilityRequiredMixin:
    """Refuse (403) a signed-in user without ``capability``; LoginRequiredMixin handles the rest."""

    capability: Capability

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not can(request.user, self.capability):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def capability_required(capability: Capability) -> Callable[[View], View]:
    """A function view's guard: signed in (else the login page) and holding ``capability`` (else 403).
    The function twin of CapabilityRequiredMixin, e.g. ``@capability_required(Capability.IMAGES_MANAGE)``."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not can(request.user, capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    return decorate


class HtmxListMixin:
    """A filtered, paginated list that renders its table alone for htmx requests.

    Subclasses give ``get_base_queryset()`` (already scoped by a selector), a ``filterset_class``
    and a ``partial_template_name`` for the table.
    """

    filterset_class: type
    partial_template_name: str

    def get_base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        # Invalid filter fields are ignored (and shown with their error); valid ones still apply.
        self.filterset = self.filterset_class(
            self.request.GET, queryset=self.get_base_queryset(), request=self.request
        )
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        query = self.request.GET.copy()
        query.pop("page", None)
        context["query_without_page"] = query.urlencode()
        return context

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.partial_template_name]
        return super().get_template_names()


class TeamListView(LoginRequiredMixin, ListView):
    template_name = "portal/team_list.html"
    context_object_name = "teams"
    paginate_by = 50

    def get_queryset(self):
        return selectors.team_list(user=self.request.user)


class PeopleView(LoginRequiredMixin, CapabilityRequiredMixin, HtmxListMixin, ListView):
    """Everyone with their role, teams and whether they may sign in, 50 a page, searched and sorted by
    the database (managers read; admins change: a POST sets one person's role or whether they may sign
    in, and comes back to the same page)."""

    capability = Capability.TEAMS_VIEW_ALL
    filterset_class = PersonFilterSet
    template_name = "portal/people.html"
    partial_template_name = "portal/_people_table.html"
    context_object_name = "people"
    paginate_by = 50

    def get_base_queryset(self):
        return selectors.people_list(user=self.request.user)

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {
            "roles": Role.choices,
            "may_change": can(self.request.user, Capability.TEAMS_ONBOARD),
        }

    def post(self, request: AuthenticatedHttpRequest, *args, **kwargs) -> HttpResponse:
        person = get_object_or_404(
            restrict(request.user, User.objects.all(), Action.CHANGE), pk=object_id(request.POST.get("user"))
        )
        try:
            if "role" in request.POST:
                if request.POST["role"] not in Role.values:
                    raise ValidationError(_("Unknown role."))
                services.user_set_role(
                    actor=request.user, user=person, role=request.POST["role"], source=origin(request)
                )
            else:
                services.user_set_active(
                    actor=request.user,
                    user=person,
                    active=request.POST.get("active") == "1",
                    source=origin(request),
                )
            messages.success(request, _("Saved: %(user)s.") % {"user": person.get_username()})
        except ValidationError as error:
            message_add_refusal(request, error)
        return redirect(request.get_full_path())  # the same page, search and sort


people = PeopleView.as_view()


@capability_required(Capability.TEAMS_ONBOARD)
def person_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    """An admin adds a person (a local account) and a first sign-in link goes to them by mail."""
    form = PersonAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_add(actor=request.user, source=origin(request), **form.cleaned_data)
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(
                request,
                _("%(user)s was added; a first sign-in link is on its way to %(email)s.")
                % {"user": person.get_username(), "email": person.email},
            )
            return redirect("people")
    return render(request, "portal/person_add.html", {"form": form})


@capability_required(Capability.TEAMS_ONBOARD)
@require_POST
def person_sign_in_link(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Send a person a new sign-in link (the first one was lost or expired)."""
    person = get_object_or_404(restrict(request.user, User.objects.all(), Action.CHANGE), pk=pk)
    try:
        services.person_sign_in_link_send(actor=request.user, user=person, source=origin(request))
    except ValidationError as error:
        message_add_refusal(request, error)
    else:
        messages.success(request, _("A sign-in link is on its way to %(email)s.") % {"email": person.email})
    return redirect("people")


class AuditEventListView(LoginRequiredMixin, CapabilityRequiredMixin, HtmxListMixin, ListView):
    capability = Capability.AUDIT_VIEW
    filterset_class = AuditEventFilterSet
    template_name = "portal/audit_list.html"
    partial_template_name = "portal/_audit_table.html"
    context_object_name = "events"
    paginate_by = 50

    def get_base_queryset(self):
        return selectors.audit_event_list(user=self.request.user)


@login_required
def api_token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's API tokens; POST issues a new one and shows its key once."""
    new_key = None
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            _token, new_key = services.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
                source=origin(request),
            )
            form = ApiTokenForm()
    else:
        form = ApiTokenForm()
    tokens = restrict(request.user, ApiToken.objects.all())
    return render(
        request,
        "portal/token_list.html",
        {
            "form": form,
            "tokens": tokens,
            "new_key": new_key,
            "token_days": settings.KENNEL_API_TOKEN_DAYS,
        },
    )


@require_POST
@login_required
def api_token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(restrict(request.user, ApiToken.objects.all(), Action.DELETE), pk=pk)
    services.api_token_revoke(actor=request.user, token=token, source=origin(request))
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("token-list")


def _may_see_health_details(request: HttpRequest) -> bool:
    """Signed-in admins (session or API token), and monitoring with ``KENNEL_HEALTH_TOKEN``."""
    if can(request.user, Capability.TEAMS_ONBOARD):
        return True
    scheme, _space, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return False
    expected = settings.KENNEL_HEALTH_TOKEN
    if expected and constant_time_compare(key.strip(), expected):
        return True
    return can(services.api_token_authenticate(key.strip()), Capability.TEAMS_ONBOARD)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: ``{"status": "ok"}`` (200) or ``"not ok"`` (503, when the database, Redis or
    the worker is down). What is down, and the cloud's reachability (which never makes it 503), only
    for admins and the operations token: the rest of the world learns nothing about the inside."""
    checks = selectors.health_checks()
    healthy = all(check.ok for check in checks if check.essential)
    body: dict = {"status": "ok" if healthy else "not ok"}
    if _may_see_health_details(request):
        body["checks"] = {c.name: {"ok": c.ok, "detail": c.detail, "essential": c.essential} for c in checks}
    return JsonResponse(body, status=200 if healthy else 503)


def login_wait_message(seconds: int) -> str:
    """What a locked-out person reads: why, and how long to wait (rounded up to whole minutes)."""
    minutes = max(1, -(-seconds // 60))
    return ngettext(
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minute; "
        "each attempt before then starts the wait again.",
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minutes; "
        "each attempt before then starts the wait again.",
        minutes,
    ) % {"minutes": minutes}


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a sign-in it refused (``AXES_LOCKOUT_CALLABLE``), for the login form and
    the API's login alike: 429 with the time to wait. Every failed attempt during a lock-out starts
    the cool-off again, so the wait is the whole cool-off from now."""
    seconds = settings.KENNEL_LOGIN_COOLOFF_SECONDS
    message = login_wait_message(seconds)
    if request.path.startswith("/api/"):
        # The shape of every API error ({"detail": ...}); the seconds are in Retry-After, as DRF's own 429.
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        form = AuthenticationForm(request, initial={"username": (credentials or {}).get("username", "")})
        response = render(
            request,
            "registration/login.html",
            {"form": form, "locked_out": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response
