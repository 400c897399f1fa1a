"""The OpenStack gateway offers a console URL only once its proxy answered: Nova hands out URLs of a proxy
whether or not one runs. Checked against a local HTTP server and a port nothing listens on."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from portal.cloud.gateway import ConsoleUnavailable
from portal.cloud.openstack import _console_proxy_check


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200 if self.path.startswith("/vnc_auto.html") else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"<title>noVNC</title>")

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_proxy_that_answers_passes(proxy):
    _console_proxy_check(f"{proxy}/vnc_auto.html?path=%3Ftoken%3Dabc")


def test_no_proxy_listening_is_said_so(proxy):
    port = _closed_port()
    with pytest.raises(ConsoleUnavailable, match=f"console proxy at 127.0.0.1:{port} does not answer"):
        _console_proxy_check(f"http://127.0.0.1:{port}/vnc_auto.html?path=%3Ftoken%3Dabc")


def test_a_proxy_without_the_page_is_said_so(proxy):
    with pytest.raises(ConsoleUnavailable, match="answered HTTP 404"):
        _console_proxy_check(f"{proxy}/vnc_lite.html?path=%3Ftoken%3Dabc")


def test_a_url_that_is_not_http_is_not_followed():
    with pytest.raises(ConsoleUnavailable, match="cannot check"):
        _console_proxy_check("file:///etc/passwd")
