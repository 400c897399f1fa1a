"""ML2 mechanism driver that binds every port, for an agent-less Neutron.

The shipped mechanism drivers bind only where an agent (or OVN) is alive.
The devcloud runs Neutron's API alone, so this driver binds each segment
with vif type ``ovs`` and marks the port ACTIVE at once; Nova's fake driver
never plugs anything. ML2 loads drivers only by entry-point name, hence the
``neutron.ml2.mechanism_drivers`` entry point ``kennel_bind_all``.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Bind every port on the first segment offered."""

    def initialize(self) -> None:
        pass

    def bind_port(self, context) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
