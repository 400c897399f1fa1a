"""Launchers for Nova's daemons as the devcloud runs them.

* ``kennel-devcloud-compute``: nova-compute with the Kennel fake driver.
  Nova always imports ``compute_driver`` as ``nova.virt.<name>``, so the
  out-of-tree driver module is registered under that name first.
* ``kennel-devcloud-conductor`` / ``kennel-devcloud-scheduler``: the stock
  commands, but served in one process. Upstream forks a master plus
  ``workers`` children even for ``workers = 1``; the master alone costs
  ~130 MiB here, and forked workers outlive a killed parent.

Each launcher imports Nova's command module first: that applies Nova's
monkey patching, which must precede every other import of Nova.
"""

import sys


def _serve_in_process() -> None:
    from nova import service

    serve = service.serve

    def serve_without_fork(server, workers=None, no_fork=False):
        serve(server, workers=1, no_fork=True)

    service.serve = serve_without_fork


def compute() -> None:
    from nova.cmd import compute as nova_compute

    from kennel_devcloud import fake_driver

    sys.modules["nova.virt.kennel_fake"] = fake_driver
    nova_compute.main()


def conductor() -> None:
    from nova.cmd import conductor as nova_conductor

    _serve_in_process()
    nova_conductor.main()


def scheduler() -> None:
    from nova.cmd import scheduler as nova_scheduler

    _serve_in_process()
    nova_scheduler.main()
