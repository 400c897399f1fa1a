"""The demo estate's BMCs: which protocol, loopback port and credentials each demo server's BMC has.

Plain data, shared by ``python -m bmcsim demo`` (started by ``make run``) and ``manage.py demo_load``
(which stores them on the servers). The newer R740s speak Redfish; the older x86 machines and the
OpenPOWER S822LCs speak IPMI. The passwords are the demo's, known to anyone reading this file.
"""

from __future__ import annotations

from bmcsim.fleet import BmcSpec

DEMO_BMCS = (
    BmcSpec("X1", "redfish", 18081, "root", "demo-bmc-x1"),
    BmcSpec("X2", "redfish", 18082, "root", "demo-bmc-x2"),
    BmcSpec("X3", "ipmi", 16233, "ADMIN", "demo-bmc-x3"),
    BmcSpec("X4", "ipmi", 16234, "ADMIN", "demo-bmc-x4"),
    BmcSpec("X5", "ipmi", 16235, "ADMIN", "demo-bmc-x5", powered_on=False),
    BmcSpec("P1", "ipmi", 16241, "ADMIN", "demo-bmc-p1"),
    BmcSpec("P2", "ipmi", 16242, "ADMIN", "demo-bmc-p2"),
)
