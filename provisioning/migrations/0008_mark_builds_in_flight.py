"""Requests caught mid-build by the upgrade that added ``create_requested_at``: an older worker may
have created their server without the mark, so their next build must look before it creates."""

from django.db import migrations
from django.utils import timezone


def mark(apps, schema_editor):
    VmRequest = apps.get_model("provisioning", "VmRequest")
    VmRequest.objects.filter(
        server_id="", create_requested_at__isnull=True, status__in=["queued", "building"]
    ).update(create_requested_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0007_build_intent_and_networks")]
    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
