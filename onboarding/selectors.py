"""Reads for onboarding: chains and their steps, templates, what offboarding would delete, a member's
cloud credentials (clouds.yaml and openrc, without any secret), and the latest orphan check."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import yaml
from django.db.models import QuerySet

from onboarding.models import CloudAccount, Onboarding, OnboardingStep, OrphanCheck, QuotaTemplate
from portal.access import Action, Capability, can, restrict
from portal.models import Team, User
from portal.validators import one_line


def onboarding_list(*, user: User) -> QuerySet[Onboarding]:
    return restrict(user, Onboarding.objects.select_related("team", "requested_by", "quota_template"))


def onboarding_get(*, user: User, slug: str, action: Action = Action.VIEW) -> Onboarding:
    """The team's chain if the user may ``action`` it; Onboarding.DoesNotExist otherwise (a 404)."""
    queryset = Onboarding.objects.select_related("team", "requested_by", "quota_template")
    return restrict(user, queryset, action).get(team__slug=slug)


def onboarding_steps(onboarding: Onboarding) -> list[OnboardingStep]:
    """The steps of the chain now running (or last run): onboarding's, or offboarding's once asked."""
    return list(onboarding.steps.filter(phase=onboarding.phase).order_by("position"))


def onboarding_progress(*, user: User, onboarding: Onboarding) -> dict[str, object]:
    """What the progress fragment shows (the team page includes it too)."""
    return {
        "onboarding": onboarding,
        "team": onboarding.team,
        "steps": onboarding_steps(onboarding),
        "may_change": can(user, Capability.TEAMS_ONBOARD),
        "is_member": onboarding.team.memberships.filter(user_id=user.pk).exists(),
    }


def quota_template_list(*, user: User) -> QuerySet[QuotaTemplate]:
    return restrict(user, QuotaTemplate.objects.all())


def offboard_victims(team: Team) -> list[str]:
    """The names of the team's VMs that offboarding deletes: Kennel's, and the servers Kennel found in
    the project without making them."""
    from provisioning.models import UnmanagedServer, VmRequest

    names = list(
        VmRequest.objects.filter(team=team)
        .exclude(status=VmRequest.Status.DELETED)
        .order_by("name")
        .values_list("name", flat=True)
    )
    if team.openstack_project_id:
        names += list(
            UnmanagedServer.objects.filter(project_id=team.openstack_project_id)
            .order_by("name")
            .values_list("name", flat=True)
        )
    return names


def orphan_check_latest(*, user: User) -> OrphanCheck | None:
    return restrict(user, OrphanCheck.objects.all()).first()


@dataclass(frozen=True)
class CloudCredentials:
    """What a member's own ``openstack`` client needs for the team's project, minus the password,
    which the member types (or keeps in their own secure.yaml / OS_PASSWORD) when using it."""

    team: Team
    account: CloudAccount
    project_id: str
    auth_url: str
    region_name: str
    interface: str

    @property
    def cloud_name(self) -> str:
        return f"kennel-{self.team.slug}"

    def clouds_yaml(self) -> str:
        auth = {
            "auth_url": self.auth_url,
            "username": self.account.keystone_name,
            "user_domain_name": "Default",
            "project_id": self.project_id,
            "project_name": self.team.slug,
            "project_domain_name": "Default",
        }
        entry: dict[str, object] = {"auth": auth, "identity_api_version": 3}
        if self.region_name:
            entry["region_name"] = self.region_name
        if self.interface:
            entry["interface"] = self.interface
        # Every value goes through the YAML emitter (quoted and escaped as needed); the team's name in
        # the comment is made one line whatever is stored, so it cannot start a line of its own.
        header = (
            f"# {one_line(self.cloud_name)}: your account on {one_line(self.team.name)}'s project, "
            "written by Kennel.\n"
            "# No password in here: openstack asks for it, or reads it from OS_PASSWORD or your own\n"
            f"# secure.yaml. Use: openstack --os-cloud {one_line(self.cloud_name)} server list\n"
        )
        body = yaml.safe_dump({"clouds": {self.cloud_name: entry}}, sort_keys=False, allow_unicode=False)
        return header + body

    def openrc(self) -> str:
        settings = {
            "OS_AUTH_URL": self.auth_url,
            "OS_IDENTITY_API_VERSION": "3",
            "OS_USERNAME": self.account.keystone_name,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_ID": self.project_id,
            "OS_PROJECT_NAME": self.team.slug,
            "OS_PROJECT_DOMAIN_NAME": "Default",
        }
        if self.region_name:
            settings["OS_REGION_NAME"] = self.region_name
        if self.interface:
            settings["OS_INTERFACE"] = self.interface
        # Values are shell-quoted (shlex.quote: single quotes, nothing inside is expanded); names in
        # comments are made one line whatever is stored, so none can start a command line.
        lines = [
            f"# Source me: . ./{one_line(self.cloud_name)}-openrc.sh",
            f"# Your account on {one_line(self.team.name)}'s project, written by Kennel.",
            "# The password is asked for here, when you source the file, and is never written down.",
            "unset OS_CLOUD OS_TOKEN OS_PROJECT_DOMAIN_ID OS_USER_DOMAIN_ID OS_TENANT_ID OS_TENANT_NAME",
            *(f"export {key}={shlex.quote(value)}" for key, value in settings.items()),
            'if [ -z "${OS_PASSWORD:-}" ]; then',
            '    printf "Cloud password for %s: " "$OS_USERNAME"',
            "    read -rs OS_PASSWORD",
            "    echo",
            "    export OS_PASSWORD",
            "fi",
        ]
        return "\n".join(lines) + "\n"


def cloud_credentials(*, user: User, slug: str) -> CloudCredentials:
    """The user's own credentials for a team they belong to, once the team's project exists and their
    account is made. Team.DoesNotExist (a 404) for anyone not in the team, managers and admins
    included; CloudAccount.DoesNotExist while there is no account yet."""
    team = Team.objects.filter(memberships__user=user, slug=slug).exclude(openstack_project_id="").get()
    onboarding = Onboarding.objects.filter(team=team).exclude(auth_url="").first()
    if onboarding is None or onboarding.offboarding:
        raise Team.DoesNotExist
    account = (
        restrict(user, CloudAccount.objects.filter(user=user), Action.OPERATE)
        .exclude(keystone_user_id="")
        .get()
    )
    return CloudCredentials(
        team=team,
        account=account,
        project_id=team.openstack_project_id,
        auth_url=onboarding.auth_url,
        region_name=onboarding.region_name,
        interface=onboarding.interface,
    )


def own_cloud_account(*, user: User) -> CloudAccount | None:
    return restrict(user, CloudAccount.objects.filter(user=user), Action.OPERATE).first()
