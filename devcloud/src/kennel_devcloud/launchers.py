"""Launchers for Nova's daemons as the devcloud runs them.

* ``kennel-devcloud-compute``: nova-compute with the Kennel fake driver.
  Nova always imports ``compute_driver`` as ``nova.virt.<name>``, so the
  out-of-tree driver module is registered under that name first, and two
  start-up waits are shortened (see ``_start_promptly``).
* ``kennel-devcloud-conductor`` / ``kennel-devcloud-scheduler``: the stock
  commands, but served in one process. Upstream forks a master plus
  ``workers`` children even for ``workers = 1``; the master alone costs
  ~130 MiB here, and forked workers outlive a killed parent.

* ``kennel-devcloud-cinder-volume``: cinder-volume in one process too (it
  forks one child per backend otherwise); only with ``DEVCLOUD_CINDER=1``.

Each launcher imports the service's command module first: that applies Nova's
monkey patching, which must precede every other import of the service.
"""

import importlib
import sys


def _serve_in_process() -> None:
    from nova import service

    serve = service.serve

    def serve_without_fork(server, workers=None, no_fork=False):
        serve(server, workers=1, no_fork=True)

    service.serve = serve_without_fork


def _start_promptly() -> None:
    """Shorten two start-up waits that only matter on a loaded 2-core machine.

    All services start together, so a compute often pings nova-conductor
    before the conductor consumes its queue; the ping is dropped and Nova
    waits 10 s before retrying. Retry every 2 s instead. And report the
    first heartbeat at once rather than 5 s after start, so readiness
    (a heartbeat newer than the start) shows without an idle wait.
    """
    from nova.conductor import api as conductor_api
    from nova.servicegroup import api as servicegroup_api

    wait_until_ready = conductor_api.API.wait_until_ready

    def wait_until_ready_quickly(self, context, early_timeout=2, early_attempts=60):
        return wait_until_ready(self, context, early_timeout=early_timeout, early_attempts=early_attempts)

    conductor_api.API.wait_until_ready = wait_until_ready_quickly
    servicegroup_api.INITIAL_REPORTING_DELAY = 0


def compute() -> None:
    from nova.cmd import compute as nova_compute

    from kennel_devcloud import fake_driver

    sys.modules["nova.virt.kennel_fake"] = fake_driver
    _start_promptly()
    nova_compute.main()


def conductor() -> None:
    from nova.cmd import conductor as nova_conductor

    _serve_in_process()
    nova_conductor.main()


def scheduler() -> None:
    from nova.cmd import scheduler as nova_scheduler

    _serve_in_process()
    nova_scheduler.main()


def cinder_volume() -> None:
    # Cinder's command module applies Cinder's monkey patching on import: first.
    from cinder.cmd import volume as cinder_volume_cmd

    cinder_service = importlib.import_module("cinder.service")
    oslo_service = importlib.import_module("oslo_service.service")
    cinder_service.process_launcher = lambda: oslo_service.ServiceLauncher(
        cinder_service.CONF, restart_method="mutate"
    )
    cinder_volume_cmd.main()
