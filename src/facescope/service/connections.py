"""Connection hygiene for ``facescope serve``: deadlines and per-address caps.

uvicorn on its own never times out a connection that has not sent a request (its
keep-alive timer starts only after a response), and its ``limit_concurrency``
counts *connections*: a few hundred idle sockets from one host turned every
later request, ``/health`` included, into a plain-text 503. This module gives
the server what nginx gives a site (``client_header_timeout``,
``client_body_timeout``, ``limit_conn``, resetting idle keep-alive connections
when short of them):

* **Header deadline** (``header_timeout_s``, default 10 s): a connection must
  deliver the complete headers of a request within this time of opening, or of
  the end of its previous response. An idle socket is then closed; one that
  trickled part of a request (slowloris) gets a JSON 408 and is closed.
* **Body deadline** (``body_timeout_s``, default 60 s; :class:`BodyDeadline`):
  the whole request body must arrive within this time of the headers, or the
  request is answered with a JSON 408 and the connection is closed. It is a
  deadline, not an idle timer, so a body trickled one byte at a time cannot hold
  a connection longer than that either.
* **Per-address caps** (``max_connections_per_client``, default 32): an address
  may hold that many connections *waiting for request headers* (idle, keep-alive
  or trickling); one more, and its oldest waiting connection is closed to make
  room. A well-behaved client sends its request at once, so it is never the
  oldest waiting one: an attacker who holds many idle sockets only ever evicts
  its own, and a fresh request from the same address is still served. The same
  number caps the requests an address may have *in progress* (429 JSON beyond).
* **Server-wide caps** (``max_connections``, default 256): past that many open
  connections, the oldest connection waiting for headers anywhere is closed to
  admit a new one; past that many requests in progress, new ones get a JSON 503
  ``overloaded`` with ``Retry-After`` (never uvicorn's plain-text 503, which is
  switched off).

``/health`` and ``/ready`` probes (GET or HEAD without a body) are exempt from
both request caps: while the event loop runs they answer, however many requests
are in progress. A probe with a body is counted like any request, so the
exemption cannot be used to hold bodies in memory past the caps.

Addresses are grouped as a per-address limit would be evaded otherwise: IPv4 by
address, IPv6 by /64 (one host usually holds a whole /64). Behind a reverse proxy
every client shares the proxy's address: raise the per-client cap there, or let
the proxy enforce its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from facescope.service.limits import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from uvicorn._types import ASGIReceiveCallable, ASGISendCallable
    from uvicorn._types import Scope as UvicornScope

    from facescope.service.settings import ServiceSettings

log = logging.getLogger("facescope.service")

#: Paths never refused by a request cap: monitoring must see a busy server as alive.
EXEMPT_PATHS = frozenset({"/health", "/ready"})


@dataclass(frozen=True)
class ConnectionLimits:
    """The deadlines and caps one server enforces (see the module docstring)."""

    header_timeout_s: float = 10.0
    max_connections_per_client: int = 32
    max_connections: int = 256

    def __post_init__(self) -> None:
        if self.header_timeout_s <= 0:
            raise ValueError("header_timeout_s must be positive")
        if self.max_connections_per_client <= 0 or self.max_connections <= 0:
            raise ValueError("connection caps must be positive")

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            max_connections_per_client=settings.max_connections_per_client,
            max_connections=settings.max_connections,
        )


def client_key(host: str | None) -> str:
    """The address a per-client cap counts under: IPv4 as is, IPv6 by its /64.

    An IPv6 host typically owns a whole /64, so counting single IPv6 addresses
    would give it 2**64 separate allowances.
    """
    if not host:
        return ""  # a Unix socket: no peer address, one shared allowance
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def is_probe(scope: UvicornScope) -> bool:
    """A bodiless GET/HEAD of ``/health`` or ``/ready``: never refused by a cap.

    Only bodiless ones: a probe cannot then pin a request body in memory
    outside the caps.
    """
    if scope["type"] != "http" or scope["path"] not in EXEMPT_PATHS:
        return False
    if scope["method"] not in ("GET", "HEAD"):
        return False
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


def error_body(status: int, code: str, message: str) -> bytes:
    """The service's JSON error shape (see ``service/errors.py``), encoded."""
    return json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()


def _raw_response(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection.

    Used where no request was parsed (a header timeout), so h11 has no request
    to answer and the bytes are written to the socket directly.
    """
    body = error_body(status, code, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionTracker:
    """Bookkeeping shared by every connection of one server (one event loop).

    It holds the connections waiting for request headers, oldest first, per
    client address and overall (dicts keep insertion order), and counts open
    connections and requests in progress. Only the event loop thread touches it.
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open = 0
        self.running = 0
        self.running_by_client: Counter[str] = Counter()
        self.waiting: dict[GuardedH11Protocol, None] = {}
        self.waiting_by_client: dict[str, dict[GuardedH11Protocol, None]] = {}
        #: what was refused or cut off, for logs and tests
        self.stats: Counter[str] = Counter()

    def opened(self, conn: GuardedH11Protocol) -> None:
        """Count a new connection; over the server-wide cap, close the oldest waiting one."""
        conn.counted = True
        self.open += 1
        if self.open > self.limits.max_connections and self.waiting:
            self.stats["evicted_server"] += 1
            next(iter(self.waiting)).drop("server-wide connection cap")

    def forget(self, conn: GuardedH11Protocol) -> None:
        """The connection is closed (or being closed): it no longer counts anywhere."""
        self.stop_waiting(conn)
        if conn.counted:
            conn.counted = False
            self.open -= 1

    def wait(self, conn: GuardedH11Protocol) -> None:
        """`conn` awaits request headers; evict its address's oldest waiting one if full."""
        key = conn.client_key
        # drop() takes the evicted one out of the bucket (and an emptied bucket out of
        # the map), so look the bucket up afresh each time round
        while len(self.waiting_by_client.get(key, ())) >= self.limits.max_connections_per_client:
            self.stats["evicted_client"] += 1
            next(iter(self.waiting_by_client[key])).drop("per-client connection cap")
        self.waiting_by_client.setdefault(key, {})[conn] = None
        self.waiting[conn] = None

    def stop_waiting(self, conn: GuardedH11Protocol) -> None:
        self.waiting.pop(conn, None)
        bucket = self.waiting_by_client.get(conn.client_key)
        if bucket is not None:
            bucket.pop(conn, None)
            if not bucket:
                del self.waiting_by_client[conn.client_key]

    def admit(self, conn: GuardedH11Protocol, scope: UvicornScope) -> tuple[int, str, str] | None:
        """Start the request `scope` on `conn`, or say why not: (status, code, message).

        Health and readiness probes are always admitted and not counted.
        """
        if is_probe(scope):
            return None
        cap = self.limits.max_connections_per_client
        if self.running_by_client[conn.client_key] >= cap:
            self.stats["refused_client"] += 1
            return (
                429,
                "too_many_connections",
                f"this address already has {cap} requests in progress",
            )
        if self.running >= self.limits.max_connections:
            self.stats["refused_server"] += 1
            return 503, "overloaded", "the server is at its limit of requests in progress"
        conn.running = True
        self.running += 1
        self.running_by_client[conn.client_key] += 1
        return None

    def finish(self, conn: GuardedH11Protocol) -> None:
        """The request admitted on `conn` has returned."""
        if conn.running:
            conn.running = False
            self.running -= 1
            self.running_by_client[conn.client_key] -= 1
            if self.running_by_client[conn.client_key] <= 0:
                del self.running_by_client[conn.client_key]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and the caps of `tracker`.

    Passed to ``uvicorn.Config(http=...)`` (uvicorn accepts a protocol class);
    build one with :func:`protocol_class`, which binds a fresh tracker. It
    overrides only the ``asyncio.Protocol`` methods and uvicorn's
    ``on_response_complete``, tells a new request by uvicorn creating a new
    request cycle (``self.cycle``), and wraps ``self.app``: the few internals it
    leans on are long-standing in uvicorn (written against 0.55). The h11
    protocol is used even where httptools is installed, as the guard is built on
    it; tests/service/test_service_connections.py exercises it on the real server.
    """

    tracker: ClassVar[ConnectionTracker]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._downstream = self.app
        self.app = self._admitted
        self.client_key = ""
        self.counted = False
        self.running = False
        self._header_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_key = client_key(self.client[0] if self.client else None)
        self.tracker.opened(self)
        if not self.transport.is_closing():
            self._await_headers()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:
            self._request_started()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self.tracker.forget(self)
        super().connection_lost(exc)

    # uvicorn ----------------------------------------------------------------

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.cycle is not cycle:  # a pipelined request was already waiting
            self._request_started()
        else:
            self._await_headers()

    # ours -------------------------------------------------------------------

    def _await_headers(self) -> None:
        """Start the header deadline; the connection is now idle and evictable."""
        self._cancel_header_timer()
        self.tracker.wait(self)
        self._header_timer = self.loop.call_later(
            self.tracker.limits.header_timeout_s, self._header_timeout
        )

    def _request_started(self) -> None:
        self._cancel_header_timer()
        self.tracker.stop_waiting(self)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        self.tracker.stats["header_timeouts"] += 1
        if self.conn.trailing_data[0]:  # part of a request came: say why we hang up
            limit = self.tracker.limits.header_timeout_s
            self.transport.write(
                _raw_response(
                    408,
                    "Request Timeout",
                    "request_timeout",
                    f"request headers not received within {limit:g} s",
                )
            )
        self.drop("header timeout")

    def drop(self, why: str) -> None:
        """Close the connection now (it is waiting for headers: nothing is lost)."""
        self._cancel_header_timer()
        self.tracker.forget(self)
        if self.transport.is_closing():
            return
        log.debug("closing connection from %s: %s", self.client_key or "?", why)
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    async def _admitted(
        self, scope: UvicornScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """The app, behind the request caps; a refusal is JSON and closes the connection."""
        if scope["type"] != "http":
            await self._downstream(scope, receive, send)
            return
        refusal = self.tracker.admit(self, scope)
        if refusal is not None:
            status, code, message = refusal
            body = error_body(status, code, message)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", b"1"),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        try:
            await self._downstream(scope, receive, send)
        finally:
            self.tracker.finish(self)


def protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` bound to a fresh tracker enforcing `limits`.

    One class per server: uvicorn builds each connection's protocol from the
    class, so the class is where their shared state can live.
    """
    tracker = ConnectionTracker(limits)

    class BoundGuardedH11Protocol(GuardedH11Protocol):
        __doc__ = GuardedH11Protocol.__doc__

    BoundGuardedH11Protocol.tracker = tracker
    return BoundGuardedH11Protocol


class BodyDeadline:
    """Answer 408 (JSON) and close when a request body is not in within `timeout_s`.

    The clock starts when the request reaches the app, right after its headers;
    it applies only while the body is being read, so the wait for a client
    disconnect after the body (streaming responses) is not timed. Outermost of the
    body readers (``BodyLimit`` buffers the whole body before the routes run).
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        body_done = False
        started = False  # a response has begun (the app's or our 408)
        answered = False  # the 408 went out: the app's own reply is dropped

        async def timed_receive() -> Message:
            nonlocal body_done, answered, started
            if answered:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if not started:
                    answered = started = True
                    await self._timed_out(send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)

    async def _timed_out(self, send: Send) -> None:
        body = error_body(
            408, "request_timeout", f"request body not received within {self.timeout_s:g} s"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
