"""Where an action came from, as the audit log records it."""

from __future__ import annotations

from django.http import HttpRequest

WORKER = "worker"
SYSTEM = "system"


def origin(request: HttpRequest) -> str:
    """``web 192.0.2.7`` or ``api 192.0.2.7``: the channel and the client's address.

    REMOTE_ADDR is the peer; behind the production proxy Django's SECURE_PROXY_SSL_HEADER setup
    means gunicorn is started with --forwarded-allow-ips so REMOTE_ADDR is the real client.
    """
    channel = "api" if request.path.startswith("/api/") else "web"
    return f"{channel} {request.META.get('REMOTE_ADDR', '?')}"
