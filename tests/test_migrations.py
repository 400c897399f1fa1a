"""Upgrades run the new release's migrations while the previous release still serves (README.md,
"Upgrades"): so a migration may add tables, nullable columns and columns with a database default, but
not a NOT NULL column without one (the old code's INSERTs would fail), nor drop or rename what the old
code still reads. A migration that must break that rule says so (``run_beside_previous_release = False``)
and the upgrade then stops web and workers first."""

from __future__ import annotations

from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.models import NOT_PROVIDED, GeneratedField

APPS = ("portal", "provisioning", "inventory", "catalog", "quotas", "onboarding")
# Released before the rule (each upgrade to them stopped everything): never to grow.
BEFORE_THE_RULE = {
    ("inventory", "0003_bmc_and_hardware_state"),
    ("inventory", "0007_bmc_tls_power_started_drain_changed"),
    ("inventory", "0009_drain_migration"),
    ("portal", "0001_initial"),
    ("portal", "0004_token_scope_and_session_epoch"),
    ("provisioning", "0003_floating_ip_and_console"),
    ("provisioning", "0005_unmanaged_server_size"),
    ("provisioning", "0006_catalog_offer"),
    ("provisioning", "0009_mirror_freshness_and_claims"),
    ("provisioning", "0011_server_state_and_console"),
}
BREAKING = (
    migrations.RemoveField,
    migrations.RenameField,
    migrations.DeleteModel,
    migrations.RenameModel,
    migrations.AlterModelTable,
)


def problems_of(migration) -> list[str]:
    found = []
    for operation in migration.operations:
        if isinstance(operation, migrations.AddField):
            field = operation.field
            # A generated column is computed by the database: an old release's INSERT leaves it out.
            needs_default = not (field.null or field.many_to_many or isinstance(field, GeneratedField))
            if needs_default and field.db_default is NOT_PROVIDED:
                found.append(f"adds NOT NULL {operation.model_name}.{operation.name} without db_default")
        elif isinstance(operation, BREAKING):
            found.append(f"{type(operation).__name__} {operation.describe()}")
    return found


def test_migrations_can_run_beside_the_previous_release():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    offenders = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app not in APPS or (app, name) in BEFORE_THE_RULE:
            continue
        if getattr(migration, "run_beside_previous_release", True) and (found := problems_of(migration)):
            offenders.append(f"{app}.{name}: {'; '.join(found)}")
    assert not offenders, "\n".join(offenders)


def test_the_rule_sees_a_not_null_column_without_a_database_default():
    from django.db import models

    class Migration(migrations.Migration):
        operations = [migrations.AddField("user", "x", models.CharField(max_length=5, default=""))]

    assert problems_of(Migration("x", "portal")) == ["adds NOT NULL user.x without db_default"]
