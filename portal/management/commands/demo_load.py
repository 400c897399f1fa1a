from django.core.management.base import BaseCommand

from portal.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo teams, users and servers (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        users = demo_load()
        self.stdout.write("Demo users (username / password / role):")
        for demo in users:
            self.stdout.write(f"  {demo.username:<8} {demo.password:<16} {demo.role}")
