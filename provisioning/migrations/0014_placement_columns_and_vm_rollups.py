"""Placement's rule as generated columns of CloudHost, and rollups the database keeps: what each team's
active VMs hold, and how many servers each compute host runs (Kennel's active VMs plus the servers made
outside Kennel). Triggers on VmRequest and UnmanagedServer add and subtract as rows change, in the same
transaction, so the dashboard, the utilization and the quota pages read a few hundred rollup rows
instead of summing every VM per view. The rows are backfilled from the tables as they are."""

import django.db.models.deletion
import django.db.models.expressions
import django.db.models.fields.json
import django.db.models.functions.comparison
from django.db import migrations, models


POSTGRESQL = """
CREATE OR REPLACE FUNCTION kennel_vm_rollup() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' THEN
        UPDATE provisioning_teamvmusage SET vm_count = vm_count - 1, vcpus = vcpus - OLD.vcpus,
            ram_mb = ram_mb - OLD.ram_mb, disk_gb = disk_gb - OLD.disk_gb
            WHERE team_id = OLD.team_id;
        IF OLD.host <> '' THEN
            UPDATE provisioning_hostvmcount SET vm_count = vm_count - 1 WHERE host = OLD.host;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'active' THEN
        INSERT INTO provisioning_teamvmusage (team_id, vm_count, vcpus, ram_mb, disk_gb)
            VALUES (NEW.team_id, 1, NEW.vcpus, NEW.ram_mb, NEW.disk_gb)
            ON CONFLICT (team_id) DO UPDATE SET vm_count = provisioning_teamvmusage.vm_count + 1,
                vcpus = provisioning_teamvmusage.vcpus + EXCLUDED.vcpus,
                ram_mb = provisioning_teamvmusage.ram_mb + EXCLUDED.ram_mb,
                disk_gb = provisioning_teamvmusage.disk_gb + EXCLUDED.disk_gb;
        IF NEW.host <> '' THEN
            INSERT INTO provisioning_hostvmcount (host, vm_count) VALUES (NEW.host, 1)
                ON CONFLICT (host) DO UPDATE SET vm_count = provisioning_hostvmcount.vm_count + 1;
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER provisioning_vmrequest_rollup
    AFTER INSERT OR DELETE ON provisioning_vmrequest
    FOR EACH ROW EXECUTE FUNCTION kennel_vm_rollup();
-- Most updates (build progress, heartbeats, the mirror's server state) change nothing counted.
CREATE TRIGGER provisioning_vmrequest_rollup_update
    AFTER UPDATE ON provisioning_vmrequest FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.team_id IS DISTINCT FROM NEW.team_id
          OR OLD.host IS DISTINCT FROM NEW.host OR OLD.vcpus IS DISTINCT FROM NEW.vcpus
          OR OLD.ram_mb IS DISTINCT FROM NEW.ram_mb OR OLD.disk_gb IS DISTINCT FROM NEW.disk_gb)
    EXECUTE FUNCTION kennel_vm_rollup();

CREATE OR REPLACE FUNCTION kennel_unmanaged_rollup() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.host <> '' THEN
        UPDATE provisioning_hostvmcount SET vm_count = vm_count - 1 WHERE host = OLD.host;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.host <> '' THEN
        INSERT INTO provisioning_hostvmcount (host, vm_count) VALUES (NEW.host, 1)
            ON CONFLICT (host) DO UPDATE SET vm_count = provisioning_hostvmcount.vm_count + 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER provisioning_unmanagedserver_rollup
    AFTER INSERT OR DELETE ON provisioning_unmanagedserver
    FOR EACH ROW EXECUTE FUNCTION kennel_unmanaged_rollup();
CREATE TRIGGER provisioning_unmanagedserver_rollup_update
    AFTER UPDATE ON provisioning_unmanagedserver FOR EACH ROW
    WHEN (OLD.host IS DISTINCT FROM NEW.host)
    EXECUTE FUNCTION kennel_unmanaged_rollup();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS provisioning_vmrequest_rollup ON provisioning_vmrequest;
DROP TRIGGER IF EXISTS provisioning_vmrequest_rollup_update ON provisioning_vmrequest;
DROP TRIGGER IF EXISTS provisioning_unmanagedserver_rollup ON provisioning_unmanagedserver;
DROP TRIGGER IF EXISTS provisioning_unmanagedserver_rollup_update ON provisioning_unmanagedserver;
DROP FUNCTION IF EXISTS kennel_vm_rollup();
DROP FUNCTION IF EXISTS kennel_unmanaged_rollup();
"""

# SQLite (development mode) has no trigger functions: the same arithmetic as statements per event.
_SUBTRACT_OLD_VM = """
    UPDATE provisioning_teamvmusage SET vm_count = vm_count - 1, vcpus = vcpus - OLD.vcpus,
        ram_mb = ram_mb - OLD.ram_mb, disk_gb = disk_gb - OLD.disk_gb
        WHERE team_id = OLD.team_id AND OLD.status = 'active';
    UPDATE provisioning_hostvmcount SET vm_count = vm_count - 1
        WHERE host = OLD.host AND OLD.host <> '' AND OLD.status = 'active';
"""
_ADD_NEW_VM = """
    INSERT OR IGNORE INTO provisioning_teamvmusage (team_id, vm_count, vcpus, ram_mb, disk_gb)
        SELECT NEW.team_id, 0, 0, 0, 0 WHERE NEW.status = 'active';
    UPDATE provisioning_teamvmusage SET vm_count = vm_count + 1, vcpus = vcpus + NEW.vcpus,
        ram_mb = ram_mb + NEW.ram_mb, disk_gb = disk_gb + NEW.disk_gb
        WHERE team_id = NEW.team_id AND NEW.status = 'active';
    INSERT OR IGNORE INTO provisioning_hostvmcount (host, vm_count)
        SELECT NEW.host, 0 WHERE NEW.host <> '' AND NEW.status = 'active';
    UPDATE provisioning_hostvmcount SET vm_count = vm_count + 1
        WHERE host = NEW.host AND NEW.host <> '' AND NEW.status = 'active';
"""
_SUBTRACT_OLD_UNMANAGED = """
    UPDATE provisioning_hostvmcount SET vm_count = vm_count - 1 WHERE host = OLD.host AND OLD.host <> '';
"""
_ADD_NEW_UNMANAGED = """
    INSERT OR IGNORE INTO provisioning_hostvmcount (host, vm_count) SELECT NEW.host, 0 WHERE NEW.host <> '';
    UPDATE provisioning_hostvmcount SET vm_count = vm_count + 1 WHERE host = NEW.host AND NEW.host <> '';
"""
SQLITE = [
    f"CREATE TRIGGER provisioning_vmrequest_rollup_insert AFTER INSERT ON provisioning_vmrequest "
    f"BEGIN {_ADD_NEW_VM} END",
    f"CREATE TRIGGER provisioning_vmrequest_rollup_delete AFTER DELETE ON provisioning_vmrequest "
    f"BEGIN {_SUBTRACT_OLD_VM} END",
    f"CREATE TRIGGER provisioning_vmrequest_rollup_update AFTER UPDATE OF status, team_id, host, vcpus, "
    f"ram_mb, disk_gb ON provisioning_vmrequest BEGIN {_SUBTRACT_OLD_VM} {_ADD_NEW_VM} END",
    f"CREATE TRIGGER provisioning_unmanagedserver_rollup_insert AFTER INSERT ON provisioning_unmanagedserver "
    f"BEGIN {_ADD_NEW_UNMANAGED} END",
    f"CREATE TRIGGER provisioning_unmanagedserver_rollup_delete AFTER DELETE ON provisioning_unmanagedserver "
    f"BEGIN {_SUBTRACT_OLD_UNMANAGED} END",
    f"CREATE TRIGGER provisioning_unmanagedserver_rollup_update AFTER UPDATE OF host "
    f"ON provisioning_unmanagedserver BEGIN {_SUBTRACT_OLD_UNMANAGED} {_ADD_NEW_UNMANAGED} END",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "provisioning_vmrequest_rollup_insert",
        "provisioning_vmrequest_rollup_delete",
        "provisioning_vmrequest_rollup_update",
        "provisioning_unmanagedserver_rollup_insert",
        "provisioning_unmanagedserver_rollup_delete",
        "provisioning_unmanagedserver_rollup_update",
    )
]
BACKFILL = [
    """INSERT INTO provisioning_teamvmusage (team_id, vm_count, vcpus, ram_mb, disk_gb)
        SELECT team_id, COUNT(*), SUM(vcpus), SUM(ram_mb), SUM(disk_gb) FROM provisioning_vmrequest
        WHERE status = 'active' GROUP BY team_id""",
    """INSERT INTO provisioning_hostvmcount (host, vm_count)
        SELECT host, SUM(n) FROM (
            SELECT host, COUNT(*) AS n FROM provisioning_vmrequest WHERE status = 'active' AND host <> ''
            GROUP BY host
            UNION ALL
            SELECT host, COUNT(*) AS n FROM provisioning_unmanagedserver WHERE host <> '' GROUP BY host
        ) AS counts GROUP BY host""",
]


def _create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)
    else:
        raise NotImplementedError(f"no rollup triggers for {schema_editor.connection.vendor}")
    for statement in BACKFILL:
        schema_editor.execute(statement)


def _drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0007_names_refuse_control_characters_user'),
        ('provisioning', '0013_vm_lease_enforced_at'),
    ]

    operations = [
        migrations.CreateModel(
            name='HostVmCount',
            fields=[
                ('host', models.OneToOneField(db_column='host', db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='vm_rollup', serialize=False, to='provisioning.cloudhost', to_field='name')),
                ('vm_count', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'host VM count',
                'verbose_name_plural': 'host VM counts',
            },
        ),
        migrations.CreateModel(
            name='TeamVmUsage',
            fields=[
                ('team', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='vm_usage', serialize=False, to='portal.team')),
                ('vm_count', models.BigIntegerField(default=0)),
                ('vcpus', models.BigIntegerField(default=0)),
                ('ram_mb', models.BigIntegerField(default=0)),
                ('disk_gb', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'team VM usage',
                'verbose_name_plural': 'team VM usage',
            },
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='disk_gb_capacity',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('total', django.db.models.fields.json.KeyTextTransform('DISK_GB', 'inventories')), models.FloatField()), '-', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('reserved', django.db.models.fields.json.KeyTextTransform('DISK_GB', 'inventories')), models.FloatField())), '*', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('allocation_ratio', django.db.models.fields.json.KeyTextTransform('DISK_GB', 'inventories')), models.FloatField())), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='disk_gb_used',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('used', django.db.models.fields.json.KeyTextTransform('DISK_GB', 'inventories')), models.FloatField()), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='memory_mb_capacity',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('total', django.db.models.fields.json.KeyTextTransform('MEMORY_MB', 'inventories')), models.FloatField()), '-', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('reserved', django.db.models.fields.json.KeyTextTransform('MEMORY_MB', 'inventories')), models.FloatField())), '*', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('allocation_ratio', django.db.models.fields.json.KeyTextTransform('MEMORY_MB', 'inventories')), models.FloatField())), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='memory_mb_used',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('used', django.db.models.fields.json.KeyTextTransform('MEMORY_MB', 'inventories')), models.FloatField()), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='vcpu_capacity',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('total', django.db.models.fields.json.KeyTextTransform('VCPU', 'inventories')), models.FloatField()), '-', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('reserved', django.db.models.fields.json.KeyTextTransform('VCPU', 'inventories')), models.FloatField())), '*', django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('allocation_ratio', django.db.models.fields.json.KeyTextTransform('VCPU', 'inventories')), models.FloatField())), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.AddField(
            model_name='cloudhost',
            name='vcpu_used',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(django.db.models.functions.comparison.Cast(models.Func(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform('used', django.db.models.fields.json.KeyTextTransform('VCPU', 'inventories')), models.FloatField()), function='TRUNC', output_field=models.FloatField()), models.BigIntegerField()), models.Value(0), output_field=models.BigIntegerField()), output_field=models.BigIntegerField()),
        ),
        migrations.RunPython(_create, _drop),
    ]
