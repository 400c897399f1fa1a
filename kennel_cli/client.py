"""A small HTTP client for Kennel's REST API (urllib, no dependencies).

Every answer the server refuses becomes a ``CliError`` carrying the server's own reason and the exit
code for its HTTP status, so commands only handle success.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from kennel_cli import __version__
from kennel_cli.errors import CliError, Exit

API = "/api/v1/"


def _accept_language() -> str | None:
    """The user's language for the server's messages, from the usual locale variables."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").split(":")[0].split(".")[0]
        if value and value not in ("C", "POSIX"):
            return value.replace("_", "-").lower()
    return None


def reason_of(body: Any) -> str:
    """A readable reason from a DRF error body: ``{"detail": ...}`` or ``{"field": ["msg", ...]}``."""
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return str(body["detail"])
        lines = []
        for field, messages in body.items():
            if isinstance(messages, dict):  # a nested serializer, or a list field's per-item errors
                messages = [
                    f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in messages.items()
                ]
            text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
            lines.append(text if field in ("detail", "non_field_errors") else f"{field}: {text}")
        return "\n".join(lines)
    if isinstance(body, list):
        return " ".join(map(str, body))
    return str(body)


class Client:
    """Requests to one Kennel server with one token (or none, for login)."""

    def __init__(self, url: str, token: str = "", *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, *, data: Any = None, params: dict | None = None) -> Any:
        """Send one request; return the decoded JSON body (None for 204). ``path`` is under /api/v1/
        unless it starts with ``/``."""
        url = self.url + (path if path.startswith("/") else API + path)
        if params:
            query = urllib.parse.urlencode(
                {k: v for k, v in params.items() if v not in (None, "")}, doseq=True
            )
            url += ("&" if "?" in url else "?") + query if query else ""
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (see below)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"kennel-cli/{__version__}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        language = _accept_language()
        if language:
            request.add_header("Accept-Language", language)
        try:
            # The scheme is http or https: `kennel login` accepts nothing else.
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # noqa: S310 (http(s) only)
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise self._refusal(error) from None
        except (TimeoutError, urllib.error.URLError, ssl.SSLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(
                f"Cannot reach {self.url}: {reason}. Check the address (kennel login URL) and your network.",
                Exit.UNREACHABLE,
            ) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CliError(
                f"{self.url} did not answer with JSON: is it a Kennel server? (kennel login URL)", Exit.ERROR
            ) from None

    def _refusal(self, error: urllib.error.HTTPError) -> CliError:
        raw = error.read()
        try:
            reason = reason_of(json.loads(raw))
        except ValueError:
            reason = f"HTTP {error.code} {error.reason}"
        if error.code == 401:
            return CliError(f"{reason}\nLog in again: kennel login {self.url}", Exit.AUTH)
        if error.code == 403:
            return CliError(f"Not allowed: {reason}", Exit.REFUSED)
        if error.code == 404:
            return CliError(f"Not found: {reason}", Exit.NOT_FOUND)
        if error.code == 409:
            return CliError(f"Refused: {reason}", Exit.REFUSED)
        if error.code == 429:
            wait = error.headers.get("Retry-After")
            later = f" Try again in {wait} s." if wait else ""
            return CliError(f"Too many requests: {reason}{later}", Exit.REFUSED)
        if error.code >= 500:
            return CliError(
                f"The server failed ({error.code}): {reason}. Try again later or tell the Kennel admins.",
                Exit.ERROR,
            )
        return CliError(reason, Exit.ERROR)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, data: Any = None) -> Any:
        return self.request("POST", path, data=data if data is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def get_all(self, path: str, **params: Any) -> list[dict]:
        """Every item of a list endpoint, following its pages (or the list, if it is not paginated)."""
        return list(self._pages(path, params))

    def _pages(self, path: str, params: dict) -> Iterator[dict]:
        body = self.get(path, **params)
        while True:
            if isinstance(body, list):
                yield from body
                return
            yield from body.get("results", [])
            if not body.get("next"):
                return
            # Only the path and query of the link: behind a proxy its host or scheme may not be ours.
            link = urllib.parse.urlsplit(body["next"])
            body = self.request("GET", f"{link.path}?{link.query}")
