"""BMC emulators for the demo and the tests: never imported by the portal at run time.

* ``bmcsim.ipmi``: an IPMI 2.0 (RMCP+, cipher suite 3) BMC built on pyghmi's server classes, extended
  with what pyghmi does not answer: the SDR repository, sensor readings and thresholds, and DCMI power
  reading, so ``ipmitool sensor``, ``sdr`` and ``dcmi power reading`` work against it.
* ``bmcsim.redfish``: sushy-tools' Redfish emulator (fake driver, one system per emulator), plus the
  ``Power`` resource sushy-tools lacks (see that module for what is filled in and why).
* ``bmcsim.demo``: the demo estate's BMCs (protocol, loopback port, credentials) from
  ``kennel/demo_estate.toml``, the data file shared by
  ``python -m bmcsim demo`` (started by ``make run``) and ``manage.py demo_load``.

Run ``python -m bmcsim --help``.
"""
