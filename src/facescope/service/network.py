"""Who may reach the service from a browser: Host and Origin checks, framing headers.

A service with no API key answers anyone who can reach it, which the bind
check limits to this machine. Web pages are on this machine too: a page on
another site can point its own host name at 127.0.0.1 (DNS rebinding) or post
a form to ``http://127.0.0.1:8000`` (cross-site request). :class:`BrowserGuard`
closes both doors:

* without keys, a request whose ``Host`` header does not name this machine or
  the bind address is refused (a rebound name carries the attacker's host);
* a state-changing request (POST, PUT, PATCH, DELETE) sent by a page of another
  origin (``Origin`` header, or ``Sec-Fetch-Site: cross-site``) is refused,
  with or without keys;
* every response forbids framing (``X-Frame-Options``, ``frame-ancestors``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from facescope.service.limits import ASGIApp, Message, Receive, Scope, Send

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or URL authority (``[::1]:80`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BrowserGuard:
    """ASGI middleware: the Host check (open mode), the Origin check, framing headers.

    `open_mode` says, per request, whether the service currently answers without
    a key; `bind_host` is the address it listens on.
    """

    def __init__(self, app: ASGIApp, open_mode: Callable[[], bool], bind_host: str) -> None:
        self.app = app
        self.open_mode = open_mode
        self.bind_host = host_name(bind_host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        refusal = self._refusal(scope.get("method", "GET"), headers)
        if refusal is not None:
            await _refuse(send, 403, *refusal)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, secured)

    def _refusal(self, method: str, headers: dict[str, str]) -> tuple[str, str] | None:
        """(code, message) when the request must be refused, else None."""
        host = headers.get("host", "")
        path_open = self._path_open(host)
        if method.upper() in _UNSAFE:
            origin = headers.get("origin")
            if origin is not None and not _same_origin(origin, host):
                return (
                    "cross_origin",
                    f"requests that change data are not accepted from pages of another origin "
                    f"({origin[:100]!r})",
                )
            if headers.get("sec-fetch-site", "").lower() == "cross-site":
                return ("cross_origin", "requests that change data are not accepted cross-site")
        if not path_open and self.open_mode():
            return (
                "host_not_allowed",
                f"this service has no API key and answers only requests addressed to this "
                f"machine; Host {host[:100]!r} is not (create a key to serve other names)",
            )
        return None

    def _path_open(self, host: str) -> bool:
        """Whether a request with this Host header may reach an open (keyless) service."""
        name = host_name(host)
        return is_loopback(name) or (bool(name) and name == self.bind_host)


def _same_origin(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header names the server the request was sent to."""
    if origin.strip().lower() == "null":
        return False
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return _default_port(parts.scheme, parts.netloc) == _default_port(parts.scheme, host)


def _default_port(scheme: str, authority: str) -> str:
    """`authority` with the scheme's default port made explicit."""
    authority = authority.strip().lower()
    name = host_name(authority)
    has_port = authority.rsplit("]", 1)[-1].count(":") == 1
    port = authority.rsplit(":", 1)[1] if has_port else ("443" if scheme == "https" else "80")
    return f"{name}:{port}"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps({"error": {"status": status, "code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *_SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": payload.encode()})
