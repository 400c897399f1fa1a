"""Quotas through the service layer, against the FakeCloud (which passes the real cloud's contract)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.cloud.gateway import CloudRequestError, CloudUnavailable, QuotaService
from portal.models import AuditEvent, Team
from provisioning import services as vms
from provisioning.models import VmRequest
from quotas import services
from quotas.models import QuotaPolicy, QuotaRequest, QuotaRule, TeamQuota, TeamUsageSample
from quotas.selectors import hardware_capacity, quota_vm_fit_count, team_quota_table, team_usage
from tests.factories import UnmanagedServerFactory
from tests.fixtures.fake_cloud import flavor, image

pytestmark = pytest.mark.django_db
Status = QuotaRequest.Status


def submit_vm(user, team, *, name="vm1", arch="x86_64", size="m1.tiny"):
    return vms.vm_request_submit(
        actor=user, team=team, name=name, image=image(arch), flavor=flavor(size), source="test"
    )


def ask(user, team, reason="more builds", **values):
    return services.quota_request_submit(actor=user, team=team, values=values, reason=reason)


def limits(fake, team, service=QuotaService.COMPUTE):
    return fake.get_quotas(team.openstack_project_id, service)


# --- seeing ------------------------------------------------------------------------------------------


def test_sync_mirrors_the_clouds_limits_and_its_usage_counts(synced, team):
    compute = limits(synced, team)
    table = team_quota_table(team)
    assert [line.dimension.key for line in table.lines] == ["instances", "cores", "ram_mb", "floating_ips"]
    assert table.line("cores").limit == compute["cores"]
    assert table.line("ram_mb").limit == compute["ram"]
    assert table.line("floating_ips").limit == limits(synced, team, QuotaService.NETWORK)["floatingip"]
    assert table.synced_at is not None


def test_usage_is_counted_from_the_vms_holding_resources_not_stored(synced, member, team):
    first = submit_vm(member, team, name="a", size="m1.medium")
    submit_vm(member, team, name="b", arch="ppc64le", size="m1.small")
    gone = submit_vm(member, team, name="c", size="m1.large")
    VmRequest.objects.filter(pk=gone.pk).update(status=VmRequest.Status.DELETED)
    failed = submit_vm(member, team, name="d", size="m1.large")
    VmRequest.objects.filter(pk=failed.pk).update(status=VmRequest.Status.FAILED)
    UnmanagedServerFactory(
        project_id=team.openstack_project_id,
        team=team,
        architecture="x86_64",
        vcpus=4,
        ram_mb=8192,
        disk_gb=80,
    )
    used = team_usage(team)
    assert used["instances"] == 3 and used["cores"] == 2 + 1 + 4 and used["ram_mb"] == 4096 + 2048 + 8192
    assert used["cores:x86_64"] == 6 and used["cores:ppc64le"] == 1 and used["disk_gb:ppc64le"] == 20
    assert team_quota_table(team).line("cores").remaining == limits(synced, team)["cores"] - 7
    VmRequest.objects.filter(pk=first.pk).update(status=VmRequest.Status.DELETED)
    assert team_usage(team)["cores"] == 5  # no counter to drift: the next read sees it


def test_pending_requests_show_next_to_the_limit(synced, lead, team):
    ask(lead, team, cores=80)
    assert team_quota_table(team).line("cores").requested == 80


# --- requesting ---------------------------------------------------------------------------------------


def test_nonsense_is_refused_with_a_reason_per_dimension(synced, lead, member, team):
    submit_vm(member, team, size="m1.medium")  # 2 vCPUs in use
    QuotaRule.objects.create(key="ram_mb", ceiling=200_000)
    with pytest.raises(ValidationError) as caught:
        ask(lead, team, instances=-1, cores=1, ram_mb=300_000, gpus=2, floating_ips="many", volume_gb=10)
    errors = caught.value.message_dict
    assert "negative" in errors["instances"][0]
    assert "below what the team uses now (2)" in errors["cores"][0]
    assert "above the most admins allow" in errors["ram_mb"][0] and "200000" in errors["ram_mb"][0]
    assert "not a quota dimension" in errors["gpus"][0]
    assert "whole number" in errors["floating_ips"][0]
    assert "does not offer" in errors["volume_gb"][0]  # no block storage in this cloud
    assert not QuotaRequest.objects.exists()


def test_more_than_the_hardware_holds_is_refused_per_architecture(synced, lead, team):
    ppc_cores = hardware_capacity()["ppc64le"]["cores"]
    with pytest.raises(ValidationError, match="more than the hardware can hold") as caught:
        ask(lead, team, **{"cores:ppc64le": ppc_cores + 1})
    assert f"{ppc_cores} " in str(caught.value) and "ppc64le" in str(caught.value)
    assert ask(lead, team, **{"cores:ppc64le": ppc_cores}).status == Status.PENDING


def test_a_request_that_changes_nothing_is_refused(synced, lead, team):
    with pytest.raises(ValidationError, match="Nothing would change"):
        ask(lead, team, cores=limits(synced, team)["cores"])


def test_a_second_undecided_request_is_refused(synced, lead, team):
    first = ask(lead, team, cores=80)
    with pytest.raises(ValidationError, match=f"#{first.pk}"):
        ask(lead, team, cores=90)


def test_only_leads_request_unless_the_policy_lets_members(synced, member, lead, team):
    with pytest.raises(PermissionDenied):
        ask(member, team, cores=80)
    QuotaPolicy.objects.update_or_create(pk=1, defaults={"members_may_request": True})
    assert ask(member, team, cores=80).requested_by == member


def test_a_lead_of_one_team_cannot_request_for_another(synced, lead, other_team):
    with pytest.raises(Team.DoesNotExist):
        ask(lead, other_team, cores=80)


def test_a_reason_is_required(synced, lead, team):
    with pytest.raises(ValidationError, match="why"):
        ask(lead, team, reason="  ", cores=80)


def test_small_increases_are_approved_at_once_by_the_rules_once_per_period(
    synced, lead, team, admin, eager_tasks, django_capture_on_commit_callbacks
):
    QuotaRule.objects.create(key="cores", auto_approve_increase=8, auto_approve_days=30)
    before = limits(synced, team)["cores"]
    with django_capture_on_commit_callbacks(execute=True):
        first = ask(lead, team, cores=before + 8)
    first.refresh_from_db()
    assert first.auto_approved and first.status == Status.APPLIED
    assert limits(synced, team)["cores"] == before + 8
    with django_capture_on_commit_callbacks(execute=True):
        second = ask(lead, team, cores=before + 16)
    assert second.status == Status.PENDING and not second.auto_approved  # once per 30 days


# --- deciding and applying ----------------------------------------------------------------------------


def test_approve_with_edits_applies_to_each_service_and_confirms(
    synced, lead, admin, team, eager_tasks, django_capture_on_commit_callbacks
):
    lead.email, admin.email = "lead@example.org", "admin@example.org"
    lead.save(), admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(lead, team, cores=96, floating_ips=20, **{"cores:ppc64le": 16})
    assert [m.to for m in mail.outbox] == [["admin@example.org"]]
    with django_capture_on_commit_callbacks(execute=True):
        services.quota_request_approve(
            actor=admin,
            request=request,
            values={"cores": 80, "floating_ips": 20, "cores:ppc64le": 16},
            comment="80 for now",
        )
    request.refresh_from_db()
    assert request.status == Status.APPLIED, request.error
    assert request.approved_values == {"cores": 80, "floating_ips": 20, "cores:ppc64le": 16}
    assert {k: v["status"] for k, v in request.results.items()} == {
        "compute": "applied",
        "network": "applied",
        "portal": "applied",
    }
    assert limits(synced, team)["cores"] == 80
    assert limits(synced, team, QuotaService.NETWORK)["floatingip"] == 20
    assert TeamQuota.objects.get(team=team, key="cores").limit == 80
    assert TeamQuota.objects.get(team=team, key="cores:ppc64le").limit == 16
    assert [e.status for e in request.events.all()] == [
        "pending",
        "approved",
        "applying",
        "applying",
        "applying",
        "applying",
        "applied",
    ]
    assert set(AuditEvent.objects.filter(target_id=str(request.pk)).values_list("action", flat=True)) == {
        "quota.request",
        "quota.approve",
        "quota.applied",
    }
    subjects = [m.subject for m in mail.outbox if m.to == ["lead@example.org"]]
    assert any("approved" in s for s in subjects) and any("in force" in s for s in subjects)


def test_admins_are_mailed_about_a_teams_request_but_not_about_their_own(
    synced, lead, admin, team, eager_tasks, django_capture_on_commit_callbacks
):
    admin.email = "admin@example.org"
    admin.save()
    with django_capture_on_commit_callbacks(execute=True):
        own = ask(admin, team, cores=70)
    assert mail.outbox == []
    services.quota_request_cancel(actor=admin, request=own)
    with django_capture_on_commit_callbacks(execute=True):
        ask(lead, team, cores=80)
    assert [m.to for m in mail.outbox] == [["admin@example.org"]]


def test_a_developer_cannot_approve(synced, lead, member, team):
    request = ask(lead, team, cores=80)
    with pytest.raises(PermissionDenied):
        services.quota_request_approve(actor=member, request=request)
    with pytest.raises(PermissionDenied):
        services.quota_request_approve(actor=lead, request=request)
    request.refresh_from_db()
    assert request.status == Status.PENDING


def test_reject_ask_answer_and_cancel(synced, lead, admin, team):
    request = ask(lead, team, cores=80)
    with pytest.raises(ValidationError, match="why"):
        services.quota_request_reject(actor=admin, request=request, reason="")
    services.quota_request_ask(actor=admin, request=request, question="For what?")
    request.refresh_from_db()
    assert request.status == Status.INFO_REQUESTED
    services.quota_request_answer(actor=lead, request=request, answer="CI runners")
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert [e.text for e in request.events.all()][-2:] == ["Question: For what?", "Answer: CI runners"]
    services.quota_request_reject(actor=admin, request=request, reason="Use ppc64le")
    request.refresh_from_db()
    assert (request.status, request.decision_comment) == (Status.REJECTED, "Use ppc64le")
    with pytest.raises(ValidationError, match="already"):
        services.quota_request_approve(actor=admin, request=request)
    again = ask(lead, team, cores=70)
    services.quota_request_cancel(actor=lead, request=again)
    again.refresh_from_db()
    assert again.status == Status.CANCELLED


def test_a_failure_in_one_service_leaves_a_resumable_request(synced, lead, admin, team):
    request = ask(lead, team, cores=80, floating_ips=20)
    services.quota_request_approve(actor=admin, request=request)
    # Network goes first and succeeds; Nova refuses the compute part.
    compute_refusal = FailingCompute(synced)
    with override(compute_refusal):
        assert services.quota_request_apply(request_id=request.pk) == services.ApplyOutcome.DONE
    request.refresh_from_db()
    assert request.status == Status.FAILED and "refused" in request.error
    assert request.results["network"]["status"] == "applied"
    assert request.results["compute"]["status"] == "failed"
    network_applied_at = request.results["network"]["at"]
    services.quota_request_retry(actor=admin, request=request)
    with override(synced):
        services.quota_request_apply(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.APPLIED
    assert request.results["network"]["at"] == network_applied_at  # skipped, not written twice
    assert compute_refusal.services_asked == [QuotaService.NETWORK, QuotaService.COMPUTE]
    assert limits(synced, team)["cores"] == 80


class FailingCompute(FakeCloud):
    """The same fake cloud, whose Nova refuses the next compute quota change."""

    def __init__(self, fake):
        self.__dict__.update(fake.__dict__)
        self.services_asked = []

    def set_quotas(self, project_id, service, values):
        self.services_asked.append(service)
        if service == QuotaService.COMPUTE:
            raise CloudRequestError("Quota limit 80 for cores must be greater than or equal to already used")
        return super().set_quotas(project_id, service, values)


def test_a_mismatch_after_applying_is_a_failure_not_a_success(synced, lead, admin, team):
    request = ask(lead, team, cores=80)
    services.quota_request_approve(actor=admin, request=request)

    class Ignoring(FakeCloud):
        def __init__(self, fake):
            self.__dict__.update(fake.__dict__)

        def set_quotas(self, project_id, service, values):  # says yes, changes nothing
            return self.get_quotas(project_id, service)

    with override(Ignoring(synced)):
        services.quota_request_apply(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.FAILED and "reports" in request.error and "80" in request.error
    assert request.results["compute"]["status"] == "failed"


def test_an_outage_delays_the_apply_and_loses_nothing(synced, lead, admin, team):
    request = ask(lead, team, cores=80, floating_ips=20)
    services.quota_request_approve(actor=admin, request=request)
    synced.fail_next("set_quotas", after=True)  # network took effect, the answer was lost
    with pytest.raises(CloudUnavailable):
        services.quota_request_apply(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.APPLYING and request.results == {}
    synced.available = False
    with pytest.raises(CloudUnavailable):
        services.quota_request_apply(request_id=request.pk)
    synced.available = True
    assert services.quota_request_apply(request_id=request.pk) == services.ApplyOutcome.DONE
    request.refresh_from_db()
    assert request.status == Status.APPLIED and limits(synced, team)["cores"] == 80


def test_applying_is_serialized_per_team_oldest_approval_first(synced, lead, admin, team):
    first = ask(lead, team, cores=80)
    services.quota_request_approve(actor=admin, request=first)
    second = QuotaRequest.objects.create(
        team=team,
        requested_by=lead,
        reason="r",
        values={"cores": 90},
        approved_values={"cores": 90},
        status=Status.APPROVED,
        decided_by=admin,
        decided_at=timezone.now(),
    )
    assert services.quota_request_apply(request_id=second.pk) == services.ApplyOutcome.BUSY  # first waits
    QuotaRequest.objects.filter(pk=first.pk).update(status=Status.APPLYING)  # first is being applied
    assert services.quota_request_apply(request_id=second.pk) == services.ApplyOutcome.BUSY
    assert services.quota_request_apply(request_id=first.pk) == services.ApplyOutcome.DONE
    assert services.quota_request_apply(request_id=second.pk) == services.ApplyOutcome.DONE
    assert limits(synced, team)["cores"] == 90
    assert QuotaRequest.objects.filter(status=Status.APPLIED).count() == 2


def test_stale_approved_and_applying_requests_are_resumed(synced, lead, admin, team, monkeypatch):
    request = ask(lead, team, cores=80)
    services.quota_request_approve(actor=admin, request=request)
    QuotaRequest.objects.filter(pk=request.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    enqueued = []
    monkeypatch.setattr(services, "_enqueue_apply", enqueued.append)
    assert services.quota_requests_resume() == 1 and enqueued == [request.pk]


def test_usage_samples_are_hourly_and_idempotent(synced, member, team):
    submit_vm(member, team)
    services.team_usage_sample_record()
    services.team_usage_sample_record()
    sample = TeamUsageSample.objects.get(team=team)
    assert sample.used["instances"] == 1 and sample.at.minute == 0


# --- enforcing at VM time -----------------------------------------------------------------------------


def test_a_vm_beyond_the_quota_is_refused_with_the_dimension_and_what_to_do(synced, member, lead, team):
    TeamQuota.objects.filter(team=team, key="cores").update(limit=3)
    submit_vm(member, team, name="a", size="m1.medium")
    with pytest.raises(ValidationError) as caught:
        submit_vm(member, team, name="b", size="m1.medium")
    message = caught.value.message_dict["flavor"][0]
    assert "allows 3" in message and "vCPUs" in message and "2 are in use" in message
    assert "Ask for more quota" in message
    assert VmRequest.objects.filter(team=team).count() == 1


def test_an_architecture_limit_binds_only_that_architecture(synced, member, team):
    TeamQuota.objects.create(team=team, key="instances:ppc64le", limit=1)
    submit_vm(member, team, name="p", arch="ppc64le")
    with pytest.raises(ValidationError, match="on ppc64le"):
        submit_vm(member, team, name="q", arch="ppc64le")
    assert submit_vm(member, team, name="x", arch="x86_64").architecture == "x86_64"


def test_fit_count_within_the_quota(synced, member, team):
    TeamQuota.objects.filter(team=team, key="cores").update(limit=7)
    TeamQuota.objects.create(team=team, key="cores:ppc64le", limit=2)
    submit_vm(member, team, name="a", size="m1.medium")
    table = team_quota_table(team)
    assert quota_vm_fit_count(table=table, vcpus=2, ram_mb=4096, disk_gb=40, architecture="x86_64") == 2
    assert quota_vm_fit_count(table=table, vcpus=2, ram_mb=4096, disk_gb=40, architecture="ppc64le") == 1


def test_rules_and_policy_are_for_admins(synced, lead, admin):
    with pytest.raises(PermissionDenied):
        services.quota_rule_save(
            actor=lead, key="cores", ceiling=10, auto_approve_increase=0, auto_approve_days=30
        )
    rule = services.quota_rule_save(
        actor=admin, key="cores:ppc64le", ceiling=64, auto_approve_increase=4, auto_approve_days=7
    )
    assert (rule.ceiling, rule.auto_approve_increase) == (64, 4)
    with pytest.raises(ValidationError):
        services.quota_rule_save(
            actor=admin, key="gpus", ceiling=1, auto_approve_increase=0, auto_approve_days=30
        )
    assert services.quota_policy_save(actor=admin, members_may_request=True).members_may_request


# --- the estate's absolute bounds (no admin ceiling needed) -------------------------------------------


@pytest.mark.parametrize("key", ["instances", "cores", "ram_mb", "cores:x86_64", "ram_mb:ppc64le"])
def test_above_what_the_whole_estate_holds_is_refused_without_any_ceiling(synced, lead, team, key):
    from quotas.selectors import hardware_limit

    assert not QuotaRule.objects.exists()
    bound = hardware_limit(key, hardware_capacity())
    assert bound is not None and bound > 0
    with pytest.raises(ValidationError, match="more than the hardware can hold") as caught:
        ask(lead, team, **{key: bound + 1})
    assert f"({bound} " in str(caught.value)


def test_instances_are_bounded_by_the_vcpus_of_all_hosts(synced, lead, team):
    total = hardware_capacity()[""]
    assert (
        total["instances"]
        == total["cores"]
        == sum(hardware_capacity()[arch]["cores"] for arch in ("x86_64", "ppc64le"))
    )
    with pytest.raises(ValidationError, match="more than the hardware can hold"):
        ask(lead, team, instances=total["cores"] + 1)
    assert ask(lead, team, instances=total["cores"]).status == Status.PENDING


def test_an_architecture_without_hosts_holds_nothing(synced, lead, team):
    from provisioning.models import CloudHost

    CloudHost.objects.filter(architecture="ppc64le").delete()
    with pytest.raises(ValidationError, match="more than the hardware can hold"):
        ask(lead, team, **{"cores:ppc64le": 1})


def test_floating_ips_are_bounded_by_the_operators_setting(synced, lead, team, settings):
    settings.KENNEL_QUOTA_MAX_FLOATING_IPS = 64
    with pytest.raises(ValidationError, match=r"more than the hardware can hold \(64 "):
        ask(lead, team, floating_ips=65)
    assert ask(lead, team, floating_ips=64).status == Status.PENDING


@pytest.mark.parametrize("huge", [10**30, 2**31, 2**63])
def test_huge_numbers_are_refused_on_every_dimension_and_never_reach_the_cloud(synced, lead, team, huge):
    keys = ["instances", "cores", "ram_mb", "disk_gb", "floating_ips", "cores:ppc64le", "disk_gb:x86_64"]
    with pytest.raises(ValidationError) as caught:
        ask(lead, team, **dict.fromkeys(keys, huge))
    assert set(caught.value.message_dict) == set(keys)
    assert not QuotaRequest.objects.exists()


def test_an_admin_cannot_approve_more_than_the_estate_holds_either(synced, lead, team, admin):
    request = ask(lead, team, cores=80)
    before = limits(synced, team)["cores"]
    with pytest.raises(ValidationError, match="more than the hardware can hold"):
        services.quota_request_approve(actor=admin, request=request, values={"cores": 10**12}, source="test")
    request.refresh_from_db()
    assert request.status == Status.PENDING and limits(synced, team)["cores"] == before


def test_before_any_host_is_mirrored_the_clouds_own_bound_still_applies(synced, lead, team):
    from provisioning.models import CloudHost
    from quotas.selectors import QUOTA_VALUE_MAX

    CloudHost.objects.all().delete()
    with pytest.raises(ValidationError, match="more than any cloud quota can be"):
        ask(lead, team, cores=QUOTA_VALUE_MAX + 1)


def test_a_ceiling_beyond_any_quota_is_refused(admin):
    with pytest.raises(ValidationError, match="at most"):
        services.quota_rule_save(
            actor=admin, key="cores", ceiling=10**20, auto_approve_increase=0, auto_approve_days=30
        )
    assert not QuotaRule.objects.exists()
