"""Names and labels refuse control characters everywhere a person can type one (portal.validators).

The walks below look at every model field, every form and every API serializer of the project, so a
new field a person types into fails here until it uses the shared validators (or is listed, with the
reason, as written by Kennel or the cloud rather than typed)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import serializers

from portal.validators import one_line, validate_single_line, validate_text

pytestmark = pytest.mark.django_db

PROJECT_APPS = (
    "portal",
    "provisioning",
    "inventory",
    "catalog",
    "quotas",
    "onboarding",
    "blueprints",
    "usage",
)

# Control characters a name must refuse, one of each kind.
HOSTILE = ["\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029"]
LINE_BREAKS = ["\n", "\r", "\r\n", "\t"]

# Model fields no person types (Kennel or the cloud writes them), or typed under a stricter rule.
MODEL_FIELDS_NOT_TYPED = {
    # mirrored from the cloud or written by workers and services
    "provisioning.Volume.volume_id",
    "provisioning.Volume.device",
    "provisioning.Volume.message",
    "catalog.ImagePropertyChange.image_id",
    "catalog.ImagePropertyChange.image_name",
    "catalog.ImagePropertyChange.message",
    "catalog.ImageImport.message",
    "catalog.ImageImport.claim",
    "catalog.ImageImport.completed",
    "catalog.ImageImport.source_format",
    "catalog.ImageImport.converted_path",
    "catalog.ImageImport.local_sha512",
    "catalog.ImageImport.local_md5",
    "catalog.ImageImport.glance_image_id",
    # an upload's own file name and where Kennel put it: shown, never written into a file
    "catalog.ImageImport.source_path",
    "catalog.ImageImport.original_filename",
    "inventory.HardwareState.error",
    "inventory.PowerRequest.error",
    "inventory.ServerDrain.error",
    "inventory.UtilizationSample.key",
    "onboarding.Onboarding.message",
    "onboarding.Onboarding.claim",
    "onboarding.Onboarding.auth_url",
    "onboarding.Onboarding.region_name",
    "onboarding.Onboarding.interface",
    "onboarding.Onboarding.roles_message",
    "onboarding.OnboardingStep.message",
    "onboarding.CloudAccount.keystone_name",
    "onboarding.CloudAccount.keystone_user_id",
    "onboarding.CloudAccount.password_ciphertext",
    "onboarding.CloudAccount.password_message",
    "onboarding.SubnetAllocation.cidr",
    "onboarding.OrphanCheck.message",
    "portal.Team.openstack_project_id",
    "portal.AuditEvent.actor_name",
    "portal.AuditEvent.action",
    "portal.AuditEvent.target_type",
    "portal.AuditEvent.target_id",
    "portal.AuditEvent.target_repr",
    "portal.AuditEvent.source",
    "portal.ApiToken.prefix",
    "portal.ApiToken.digest",
    "provisioning.CloudImage.cloud_id",
    "provisioning.CloudImage.name",
    "provisioning.CloudImage.architecture",
    "provisioning.CloudImage.status",
    "provisioning.CloudImage.os_distro",
    "provisioning.CloudImage.os_version",
    "provisioning.CloudImage.visibility",
    "provisioning.CloudFlavor.cloud_id",
    "provisioning.CloudFlavor.name",
    "provisioning.CloudHost.name",
    "provisioning.CloudHost.architecture",
    "provisioning.CloudHost.state",
    "provisioning.CloudHost.status",
    "provisioning.CloudHost.disabled_reason",  # Nova's, mirrored; Kennel's is ServerDrain.reason
    "provisioning.CloudHost.provider_id",
    "provisioning.CloudNetwork.cloud_id",
    "provisioning.CloudNetwork.name",
    "provisioning.CloudNetwork.project_id",
    "provisioning.CloudSync.part",
    "provisioning.CloudSync.error",
    "provisioning.VmRequest.image_name",
    "provisioning.VmRequest.flavor_name",
    "provisioning.VmRequest.user_data",
    "provisioning.VmRequest.status_message",
    "provisioning.VmRequest.server_id",
    "provisioning.VmRequest.server_status",
    "provisioning.VmRequest.host",
    "provisioning.VmRequest.floating_ip_id",
    "provisioning.VmRequest.console_url",
    "provisioning.VmEvent.message",
    "provisioning.UnmanagedServer.server_id",
    "provisioning.UnmanagedServer.name",
    "provisioning.UnmanagedServer.project_id",
    "provisioning.UnmanagedServer.status",
    "provisioning.UnmanagedServer.host",
    "provisioning.UnmanagedServer.architecture",
    "provisioning.SshKey.fingerprint",
    # a drain's VM moves and the cloud's floating IPs: written by workers from what the cloud says
    "inventory.DrainMove.error",
    "inventory.DrainMove.name",
    "inventory.DrainMove.server_id",
    "inventory.DrainMove.source_host",
    "inventory.DrainMove.target_host",
    "provisioning.CloudFloatingIp.cloud_id",
    "provisioning.CloudFloatingIp.port_id",
    "provisioning.CloudFloatingIp.project_id",
    "provisioning.CloudFloatingIp.release_error",
    "provisioning.CloudFloatingIp.server_id",
    "provisioning.CloudFloatingIp.server_name",
    # a VM's console and Nova's task state: fetched from the cloud by workers
    "provisioning.VmRequest.console_error",
    "provisioning.VmRequest.console_log",
    "provisioning.VmRequest.console_log_error",
    "provisioning.VmRequest.server_task_state",
    # the outbox of tasks waiting for the broker: written by Kennel itself
    "portal.QueuedTask.task",
    "portal.QueuedTask.error",
    "portal.QueuedTask.request_id",  # a request id the middleware checked (portal.request_ids) or made
    "quotas.QuotaRequest.error",
    "quotas.QuotaRequestEvent.message",
    # typed, but checked by a stricter validator of their own
    "provisioning.SshKey.public_key",  # cloudinit.validate_ssh_public_key: one line, key type, base64
    "provisioning.Profile.parts",
    "quotas.TeamQuota.key",
    "quotas.QuotaRule.key",  # a dimension key: letters, digits, : and _
    # a snapshot's image, a security rule as Neutron has it, a service's VMs and history: written by
    # Kennel's workers from the cloud or by its services
    "provisioning.VmSnapshot.image_cloud_id",
    "provisioning.VmSnapshot.architecture",
    "provisioning.VmSnapshot.message",
    "onboarding.SecurityRule.security_group_id",
    "onboarding.SecurityRule.cloud_id",
    "onboarding.SecurityRule.ethertype",
    "onboarding.SecurityRule.error",
    "blueprints.ServiceVm.architecture",
    "blueprints.Service.claim",
    "blueprints.Service.status_message",
    "blueprints.ServiceEvent.message",
    # typed, but parsed as a network by onboarding.security_rules (the form and API refuse control
    # characters first)
    "onboarding.SecurityRule.remote_cidr",
}
# Form and serializer fields that are not names: secrets (any character is a password's own business),
# and whole files checked row by row.
# Sign-in: Django's own username field; LoginForm.clean refuses a control character as a failed sign-in.
FORM_FIELDS_CHECKED_BY_THEIR_FORM = {"portal.forms.LoginForm.username"}
INPUT_FIELDS_NOT_NAMES = {"password", "hashed_passwd", "csv", "yaml_text", "document"}
# API fields that are free text (text areas in the pages): line breaks and tabs allowed.
FREE_TEXT = {"reason", "comment", "question", "answer", "description", "notes", "public_keys"}


def _project_modules():
    for app in PROJECT_APPS:
        package = importlib.import_module(app)
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" in info.name or ".management" in info.name or info.name.endswith(".tasks"):
                continue
            importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _refuses(check, value: str) -> bool:
    try:
        check(value)
    except (ValidationError, serializers.ValidationError):
        return True
    return False


def _problems(label: str, check, *, multiline: bool) -> list[str]:
    problems = [f"{label} takes {c!r}" for c in HOSTILE if not _refuses(check, f"ok{c}ok")]
    if not multiline:
        problems += [f"{label} takes {c!r}" for c in LINE_BREAKS if not _refuses(check, f"ok{c}ok")]
    return problems


def test_every_typed_model_field_refuses_control_characters():
    problems = []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.get_fields():
            if (
                not isinstance(field, models.CharField | models.TextField)
                or field.choices
                or not field.editable
            ):
                continue
            label = f"{model._meta.app_label}.{model.__name__}.{field.name}"
            if label in MODEL_FIELDS_NOT_TYPED or field.name in INPUT_FIELDS_NOT_NAMES:
                continue
            problems += _problems(label, field.run_validators, multiline=isinstance(field, models.TextField))
    assert not problems, "\n".join(problems)


def test_every_form_field_a_person_types_refuses_control_characters():
    _project_modules()
    problems = []
    checked = 0
    for form in _subclasses(forms.BaseForm):
        if not form.__module__.startswith(PROJECT_APPS):
            continue
        model = getattr(getattr(form, "_meta", None), "model", None)
        for name, field in form.base_fields.items():
            if not isinstance(field, forms.CharField) or name in INPUT_FIELDS_NOT_NAMES:
                continue
            if isinstance(field.widget, forms.HiddenInput | forms.PasswordInput):
                continue
            checked += 1
            multiline = isinstance(field.widget, forms.Textarea)
            check = field.clean
            if model is not None and name in {f.name for f in model._meta.get_fields()}:
                check = model._meta.get_field(name).run_validators  # a ModelForm runs the model's validators
            label = f"{form.__module__}.{form.__name__}.{name}"
            if label in FORM_FIELDS_CHECKED_BY_THEIR_FORM:
                continue
            problems += _problems(label, check, multiline=multiline)
    assert checked > 40, checked
    assert not problems, "\n".join(problems)


def _serializer_char_fields(serializer):
    for name, field in serializer.fields.items():
        if field.read_only or name in INPUT_FIELDS_NOT_NAMES:
            continue
        if isinstance(field, serializers.ListField):
            field = field.child
        if isinstance(field, serializers.CharField) and not isinstance(field, serializers.ChoiceField):
            yield name, field


def test_every_api_field_a_person_types_refuses_control_characters():
    _project_modules()
    problems = []
    checked = 0
    for cls in _subclasses(serializers.Serializer):
        if not cls.__module__.startswith(PROJECT_APPS) or cls.__name__.endswith("ListSerializer"):
            continue
        # What the API reads: input serializers by their name, and the fields a ModelSerializer makes
        # from the model (the rest of the serializers only write answers).
        reads_input = any(cls.__name__.endswith(f"{kind}Serializer") for kind in ("Input", "Write", "Create"))
        if not reads_input and not issubclass(cls, serializers.ModelSerializer):
            continue
        try:
            serializer = cls()
        except Exception as error:
            problems.append(f"{cls.__module__}.{cls.__name__} cannot be built to check: {error}")
            continue
        for name, field in _serializer_char_fields(serializer):
            if not reads_input and name in cls._declared_fields:
                continue
            checked += 1
            label = f"{cls.__module__}.{cls.__name__}.{name}"
            model = getattr(getattr(cls, "Meta", None), "model", None)
            if (
                model is not None
                and f"{model._meta.app_label}.{model.__name__}.{name}" in MODEL_FIELDS_NOT_TYPED
            ):
                continue
            multiline = field.style.get("base_template") == "textarea.html" or not field.trim_whitespace
            multiline = multiline or name in {
                "reason",
                "comment",
                "question",
                "answer",
                "description",
                "notes",
            }
            problems += _problems(label, field.run_validation, multiline=multiline)
    assert checked > 30, checked
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("character", HOSTILE + LINE_BREAKS)
def test_the_validators(character):
    with pytest.raises(ValidationError):
        validate_single_line(f"x{character}y")
    if character in LINE_BREAKS:
        validate_text(f"x{character}y")
    else:
        with pytest.raises(ValidationError):
            validate_text(f"x{character}y")
    assert "\n" not in one_line(f"x{character}y") and character not in one_line(f"x{character}y")


def test_ordinary_names_in_any_script_pass():
    for name in ("Team Alpha", "团队 甲", "Équipe ß", 'x"; touch /tmp/pwned; #', "$(id) `id`", "a-b_c.d"):
        validate_single_line(name)
        validate_text(name + "\nsecond line\twith a tab")


def test_a_sign_in_with_a_control_character_is_a_failed_sign_in(client):
    response = client.post("/login/", {"username": "admin\nx", "password": "whatever"})
    assert response.status_code == 200 and response.context["form"].errors
