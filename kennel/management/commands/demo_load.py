from django.core.management.base import BaseCommand

from kennel.demo import demo_cloud_link, demo_history, demo_load, demo_onboard


class Command(BaseCommand):
    help = (
        "Load the demo teams, users and servers (idempotent: a second run changes nothing), then link the "
        "demo teams to the local cloud's demo projects and mirror its catalog when the cloud answers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-cloud", action="store_true", help="do not contact the cloud")

    def handle(self, *args, no_cloud=False, **options):
        users = demo_load()
        self.stdout.write("Demo users (username / password / role):")
        for demo in users:
            self.stdout.write(f"  {demo.username:<8} {demo.password:<16} {demo.role}")
        if written := demo_history():
            self.stdout.write(
                f"Demo history: {written} utilization samples, shown as demo data on the charts."
            )
        if not no_cloud:
            problem = demo_cloud_link()
            if problem:
                self.stderr.write(
                    f"The cloud is not linked yet ({problem}); workers will catch up when it answers."
                )
            else:
                self.stdout.write("Demo teams linked to the cloud's projects; catalog mirrored.")
                if demo_onboard():
                    self.stdout.write("Team Gamma is being onboarded by the worker (see /teams/gamma/).")
