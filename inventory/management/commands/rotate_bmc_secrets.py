from django.core.management.base import BaseCommand, CommandError

from inventory.services import bmc_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored BMC password with the first key of KENNEL_ENCRYPTION_KEY. Rotate a key by "
        "putting the new one first (KENNEL_ENCRYPTION_KEY=new,old), running this, then dropping the old one. "
        "Safe to run again: passwords already on the first key are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would change, write nothing")

    def handle(self, *args, dry_run=False, **options):
        result = bmc_secrets_rotate(dry_run=dry_run, source="cli rotate_bmc_secrets")
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            f"{verb} {result.rotated} BMC password(s) with the current key; "
            f"{result.current} already on it; {len(result.unreadable)} unreadable."
        )
        if result.unreadable:
            raise CommandError(
                f"{len(result.unreadable)} BMC password(s) decrypt with none of KENNEL_ENCRYPTION_KEY's keys "
                f"and were left as they are: {', '.join(result.unreadable)}. Add the key they were written "
                "with (after the new one) and run again, or set those passwords again."
            )
