"""Which BMC addresses Kennel may connect to: KENNEL_BMC_ALLOWED_NETWORKS and KENNEL_BMC_ALLOWED_PORTS.

Checked twice. When an address is saved (the BMC form, the API, the CSV import), so an admin learns at
once why it is refused. And by each protocol's gateway right before it connects, so an address saved
before the list changed, or written around the services, is refused without a packet sent. A host
name counts only if every address it resolves to is allowed; the gateway then connects to the address
it checked, not to the result of a second lookup (which a DNS answer could change in between), except
for Redfish with certificate checking on, where the certificate must match the name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from inventory.bmc import BmcProtocol, BmcRefused

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

# A host name (RFC 1123 labels) or an IP literal; anything else (spaces, slashes, @, %) is refused.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


@dataclass(frozen=True)
class BmcEndpoint:
    """An allowed BMC: how it was written (``scheme`` only for Redfish: https or http), the port
    actually used (a Redfish URL's own port wins over the port field) and the checked addresses."""

    scheme: str
    host: str
    port: int
    addresses: tuple[IpAddress, ...]

    @property
    def address(self) -> str:
        """The first checked address, as a connection would be made to it."""
        return str(self.addresses[0])

    def url_host(self, *, pinned: bool) -> str:
        """The host part of a URL: the checked address (``pinned``) or the name as written."""
        host = self.address if pinned else self.host
        return f"[{host}]" if ":" in host else host


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _parse(protocol: str, address: str, port: int | None) -> tuple[str, str, int]:
    """(scheme, host, port) of a stored BMC address; BmcRefused saying what is wrong with it."""
    address = (address or "").strip()
    if not address:
        raise BmcRefused(_("A BMC needs an address."))
    scheme = ""
    host = address
    if "://" in address:
        if BmcProtocol(protocol) != BmcProtocol.REDFISH:
            raise BmcRefused(_("An IPMI BMC's address is a host name or IP address, not a URL."))
        parts = urlsplit(address)
        try:
            url_port = parts.port
        except ValueError:
            raise BmcRefused(_("The BMC address has a port that is not a number from 1 to 65535.")) from None
        if parts.scheme not in ("http", "https"):
            raise BmcRefused(_("A Redfish BMC's URL starts with https:// or http://."))
        if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise BmcRefused(
                _("A Redfish BMC's URL is only the scheme, host and port, e.g. https://10.0.0.5:8443.")
            )
        scheme, host, port = parts.scheme, parts.hostname or "", url_port or port
    elif BmcProtocol(protocol) == BmcProtocol.REDFISH:
        scheme = "https"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not (_is_ip(host) or _HOST_NAME.match(host)):
        raise BmcRefused(_("%(host)s is not a host name or an IP address.") % {"host": host or address})
    if port is None or not 1 <= int(port) <= 65535:
        raise BmcRefused(_("A BMC needs a port from 1 to 65535."), field="port")
    return scheme, host, int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _plain(address: IpAddress) -> IpAddress:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.5) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ports_text(ports: Sequence[tuple[int, int]]) -> str:
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ports) or _("none")


def bmc_endpoint(
    *,
    protocol: str,
    address: str,
    port: int | None,
    networks: Sequence[IpNetwork] | None = None,
    ports: Sequence[tuple[int, int]] | None = None,
    resolver: Resolver | None = None,
) -> BmcEndpoint:
    """The BMC at ``address`` and ``port`` if Kennel may connect to it, resolved; else BmcRefused with a
    sentence saying why (malformed, a port or network outside the lists, a name that does not resolve
    or that resolves to any address outside them). ``networks`` and ``ports`` default to the settings."""
    networks = settings.KENNEL_BMC_ALLOWED_NETWORKS if networks is None else networks
    ports = settings.KENNEL_BMC_ALLOWED_PORTS if ports is None else ports
    scheme, host, port = _parse(protocol, address, port)
    if not any(low <= port <= high for low, high in ports):
        raise BmcRefused(
            _(
                "Port %(port)s is not among the ports Kennel may use to reach BMCs (%(ports)s). An "
                "administrator of the Kennel server can allow more in its settings."
            )
            % {"port": port, "ports": _ports_text(ports)},
            field="port",
        )
    if _is_ip(host):
        found = [host]
    else:
        try:
            found = list((resolver or _system_resolver)(host, port))
        except (OSError, UnicodeError):
            found = []
        if not found:
            raise BmcRefused(_("The BMC host name %(host)s does not resolve.") % {"host": host})
    addresses: list[IpAddress] = []
    for text in found:
        ip = _plain(ipaddress.ip_address(text.split("%")[0]))  # an IPv6 scope (%eth0) is no part of it
        if not any(ip in network for network in networks):
            raise BmcRefused(
                _(
                    "%(host)s (%(address)s) is outside the networks BMCs may be in (%(networks)s). An "
                    "administrator of the Kennel server can allow more in its settings."
                )
                % {"host": host, "address": ip, "networks": ", ".join(map(str, networks)) or _("none")}
            )
        if ip not in addresses:
            addresses.append(ip)
    return BmcEndpoint(scheme=scheme, host=host, port=port, addresses=tuple(addresses))
