"""Prometheus exporters emulated for the demo and the tests: never imported by the portal at run time.

* ``exportersim.load``: deterministic, changing load (a function of the wall clock and a name), so two
  processes, and a test, agree on what a host or a VM is doing at any moment.
* ``exportersim.estate``: what is emulated: the demo's physical servers (X1-X5, P1, P2; X5 and P2
  outside OpenStack) and the VMs of the local cloud (asked through openstacksdk) or of a JSON file.
* ``exportersim.exposition``: node-exporter and libvirt-exporter metrics (the names and labels of
  ``prometheus-node-exporter`` and ``prometheus-libvirt-exporter``), in Prometheus's text format.
* ``exportersim.server``: one HTTP server for all of them: ``/node/<host>/metrics``,
  ``/libvirt/<host>/metrics``, ``/estate.json``.
* ``exportersim.runner``: Debian's ``prometheus`` on loopback with a generated configuration that
  scrapes the emulator and Debian's ``prometheus-node-exporter`` (this machine, as X1).

Run ``python -m exportersim --help``.
"""
