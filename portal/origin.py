"""Where a request came from: the client's address, and the channel, as the audit log records it."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

WORKER = "worker"
SYSTEM = "system"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_proxy_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``KENNEL_TRUSTED_PROXIES`` parsed: addresses or networks (``10.0.0.5``, ``10.0.0.0/24``)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"KENNEL_TRUSTED_PROXIES: {entry!r} is not an IP address or network, e.g. 10.0.0.0/24"
            ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    """Whether ``address`` is one of ``KENNEL_TRUSTED_PROXIES``."""
    if address is None:
        return False
    return any(address in net for net in trusted_proxy_networks(tuple(settings.KENNEL_TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer (REMOTE_ADDR), unless the peer is one of the trusted reverse
    proxies (``KENNEL_TRUSTED_PROXIES``), in which case its ``X-Forwarded-For`` is read from the right,
    skipping further trusted proxies, to the first address no trusted proxy vouches for.

    A client that talks to Kennel directly can send any X-Forwarded-For it likes, so the header is
    never read from an untrusted peer; and the left of the header is the client's own claim, so it is
    only reached when every hop to its right is a trusted proxy. The login limits (django-axes), the
    audit log and everything else that records an address use this one function. None when the peer
    is not an IP address at all (a Unix socket): the limits then count by account alone."""
    address = _address(str(request.META.get("REMOTE_ADDR") or ""))
    if address is None:
        return None
    peer = str(address)
    if not _trusted(address):
        return peer
    hops = [hop for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:  # garbage in the chain: keep the last address a trusted hop gave
            break
        client = str(hop_address)
        if not _trusted(hop_address):
            break
    return client


FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
)


class UntrustedForwardedHeadersMiddleware:
    """Drops the X-Forwarded-* headers of every peer that is not a trusted proxy, before anything
    reads them: Django's SECURE_PROXY_SSL_HEADER would otherwise take a direct client's
    ``X-Forwarded-Proto: https`` for a TLS connection (and its secure-cookie and redirect logic with it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if not _trusted(_address(str(request.META.get("REMOTE_ADDR") or ""))):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


def origin(request: HttpRequest) -> str:
    """``web 192.0.2.7`` or ``api 192.0.2.7``: the channel and the client's address (client_ip)."""
    channel = "api" if request.path.startswith("/api/") else "web"
    return f"{channel} {client_ip(request) or '?'}"
