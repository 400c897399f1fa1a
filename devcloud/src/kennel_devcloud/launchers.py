"""Launchers for Nova's daemons as the devcloud runs them.

* ``kennel-devcloud-compute``: nova-compute with the Kennel fake driver.
  Nova always imports ``compute_driver`` as ``nova.virt.<name>``, so the
  out-of-tree driver module is registered under that name first, and two
  start-up waits are shortened (see ``_start_promptly``).
* ``kennel-devcloud-nova-control``: nova-conductor and nova-scheduler in one
  process that never forks. Upstream forks a master plus ``workers``
  children even for ``workers = 1``; each extra interpreter costs ~130 MiB
  here, and forked workers outlive a killed parent.

* ``kennel-devcloud-cinder-volume``: cinder-volume in one process too (it
  forks one child per backend otherwise); only with ``DEVCLOUD_CINDER=1``.

Each launcher imports the service's command module first: that applies Nova's
monkey patching, which must precede every other import of the service.
"""

import importlib
import sys


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


def conductor_and_scheduler() -> None:
    """nova-conductor and nova-scheduler as two services of one process.

    Both read the same nova.conf; Nova's functional tests run them side by
    side in one interpreter the same way. One process instead of two saves
    ~130 MiB and an import of Nova on start.
    """
    from nova.cmd import conductor as nova_conductor

    service = importlib.import_module("nova.service")
    conf = nova_conductor.CONF
    nova_conductor.config.parse_args(sys.argv)
    nova_conductor.logging.setup(conf, "nova")
    nova_conductor.objects.register_all()
    nova_conductor.gmr_opts.set_defaults(conf)
    nova_conductor.objects.Service.enable_min_version_cache()
    nova_conductor.gmr.TextGuruMeditation.setup_autorun(nova_conductor.version, conf=conf)
    scheduler_rpcapi = importlib.import_module("nova.scheduler.rpcapi")
    together = _together(
        service.Service.create(binary="nova-conductor", topic=nova_conductor.rpcapi.RPC_TOPIC),
        service.Service.create(binary="nova-scheduler", topic=scheduler_rpcapi.RPC_TOPIC),
    )
    service.serve(together, workers=1, no_fork=True)
    service.wait()


def _together(*services):
    """Several oslo.service services started, stopped and awaited as one.

    Built on call: oslo.service picks its backend on first import, which must
    come after Nova's monkey patching.
    """
    from oslo_service import service as oslo_service

    class Together(oslo_service.ServiceBase):
        def start(self) -> None:
            for svc in services:
                svc.start()

        def stop(self, graceful: bool = False) -> None:
            for svc in reversed(services):
                svc.stop()

        def wait(self) -> None:
            for svc in services:
                svc.wait()

        def reset(self) -> None:
            for svc in services:
                svc.reset()

    return Together()


def cinder_volume() -> None:
    # Cinder's command module applies Cinder's monkey patching on import: first.
    from cinder.cmd import volume as cinder_volume_cmd

    cinder_service = importlib.import_module("cinder.service")
    oslo_service = importlib.import_module("oslo_service.service")
    cinder_service.process_launcher = lambda: oslo_service.ServiceLauncher(
        cinder_service.CONF, restart_method="mutate"
    )
    cinder_volume_cmd.main()
