"""Idle, slow and too many connections cannot deny the service (service/connections.py).

Each test runs the real server (uvicorn, in a thread, with the options ``facescope
serve`` uses) on a free port, with short deadlines, and talks to it over raw
sockets. Timings are asserted one way only where they are deterministic (a server
timer never fires early); the other way with wide margins, for loaded machines.
"""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from facescope.service.app import create_app
from facescope.service.connections import ConnectionTracker, client_key
from facescope.service.server import uvicorn_options
from facescope.service.settings import ServiceSettings

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 3.0
PER_CLIENT = 8
#: slack for "closed soon after its deadline" on a loaded 2-core machine
SLACK = 10.0


@contextmanager
def _serve(tmp_path: Path, **overrides: Any) -> Iterator[tuple[int, ConnectionTracker]]:
    """The service on a free loopback port; yields (port, the server's connection tracker)."""
    import uvicorn

    values: dict[str, Any] = {
        "header_timeout_s": HEADER_TIMEOUT,
        "body_timeout_s": BODY_TIMEOUT,
        "max_connections_per_client": PER_CLIENT,
        "max_connections": 64,
        **overrides,
    }
    settings = ServiceSettings(data=tmp_path / "data", **values)
    options = uvicorn_options(settings)
    tracker: ConnectionTracker = options["http"].tracker
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes the socket
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings, warm_up=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started or not thread.is_alive():
                break
            thread.join(0.1)
        assert server.started, "the service did not start within 30 s"
        yield port, tracker
    finally:
        server.should_exit = True
        thread.join(15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(15)
        sock.close()


def _other_address() -> str | None:
    """A second loopback address to connect from (Linux routes all of 127/8), or None."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        return None
    return "127.0.0.2"


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))


def _request(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response off `sock` (status, lower-cased headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes `sock` (EOF) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _wait_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, float]:
    """When (time.monotonic()) the server closed each of `socks`; raises if some stay open."""
    when: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while len(when) < len(socks):
            left = deadline - time.monotonic()
            assert left > 0, f"{len(socks) - len(when)} sockets still open after {timeout} s"
            for key, _ in selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"an idle socket got data: {data!r}"
                when[sock] = time.monotonic()
                selector.unregister(sock)
    return when


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _health(port: int, source: str = "127.0.0.1") -> tuple[int, dict[str, Any], float]:
    """GET /health on a fresh connection: (status, JSON body, seconds taken)."""
    start = time.monotonic()
    with _connect(port, source) as sock:
        sock.sendall(_request("GET", "/health", {"Connection": "close"}))
        status, headers, body = _read_response(sock)
    assert headers["content-type"] == "application/json"
    return status, json.loads(body), time.monotonic() - start


def _error(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert set(payload) == {"error"}, payload
    assert payload["error"]["message"]
    return dict(payload["error"])


@pytest.mark.slow
def test_idle_sockets_neither_deny_health_nor_stay_open(tmp_path: Path) -> None:
    """300 idle sockets: /health answers at once; the idle ones are all closed."""
    other = _other_address()
    with ExitStack() as stack, _serve(tmp_path) as (port, tracker):
        # a bystander on another address, idle too: the flood must not evict it
        bystanders = [stack.enter_context(_connect(port, other)) for _ in range(4)] if other else []
        opened_bystanders = time.monotonic()
        start = time.monotonic()
        idle = [stack.enter_context(_connect(port)) for _ in range(300)]
        opened_idle = time.monotonic()
        # however many it opened, one address holds at most the cap of waiting connections
        _until(lambda: tracker.stats["evicted_client"] >= 1)
        assert len(tracker.waiting_by_client.get("127.0.0.1", {})) <= PER_CLIENT

        status, body, took = _health(port)
        assert (status, body) == (200, {"status": "ok"})
        if other:
            assert _health(port, other)[0] == 200

        closed = _wait_closed(idle + bystanders, HEADER_TIMEOUT + SLACK)
        early = [closed[s] - start for s in idle if closed[s] - opened_idle < HEADER_TIMEOUT]
        late = [closed[s] - opened_idle for s in idle if closed[s] - opened_idle >= HEADER_TIMEOUT]
        # every idle socket was closed by the server: evicted (the oldest, at once) or
        # at its header deadline (the last few)
        assert tracker.stats["evicted_client"] + tracker.stats["header_timeouts"] >= 300
        for sock in bystanders:  # never evicted: closed by their own deadline only
            assert closed[sock] - opened_bystanders >= HEADER_TIMEOUT - 0.05
        print(
            f"\n300 idle sockets (opened in {(opened_idle - start) * 1000:.0f} ms): "
            f"/health 200 in {took * 1000:.1f} ms; {len(early)} closed within "
            f"{max(early, default=0) * 1000:.0f} ms of the first opening "
            f"(evicted: {tracker.stats['evicted_client']}); {len(late)} closed "
            f"{min(late, default=0):.2f}-{max(late, default=0):.2f} s after the last opening "
            f"(header timeouts: {tracker.stats['header_timeouts']})"
        )
        if bystanders:
            waited = min(closed[s] for s in bystanders) - opened_bystanders
            print(f"4 idle bystanders on {other}: closed after {waited:.2f} s, never evicted")
        _until(lambda: tracker.open == 0)


@pytest.mark.slow
def test_slowloris_headers_are_cut_off(tmp_path: Path) -> None:
    """Request headers trickled one byte every 0.3 s: 408 JSON and closed at the deadline."""
    with _serve(tmp_path) as (port, tracker), _connect(port) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        reply = b""
        sent = 0
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            while time.monotonic() - start < HEADER_TIMEOUT + SLACK:
                if selector.select(0.3):
                    sock.settimeout(SLACK)
                    while chunk := sock.recv(65536):
                        reply += chunk
                    break
                sock.sendall(b"X-Slow: " if sent == 0 else b"a")
                sent += 1
        elapsed = time.monotonic() - start
        assert reply, "the trickled request was never cut off"
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert HEADER_TIMEOUT - 0.05 <= elapsed < HEADER_TIMEOUT + SLACK
        assert tracker.stats["header_timeouts"] == 1
        print(f"\nslowloris ({sent} bytes at 0.3 s): 408 and closed after {elapsed:.2f} s")


@pytest.mark.slow
def test_slow_bodies_time_out_and_an_address_cannot_hog_requests(tmp_path: Path) -> None:
    """8 trickled bodies: a 9th request gets 429, /health 200, then all 8 get 408 JSON."""
    other = _other_address()
    post = _request(
        "POST",
        "/v1/collections/default/identify",
        {"Content-Type": "application/json", "Content-Length": "1000"},
    )
    with ExitStack() as stack, _serve(tmp_path) as (port, tracker):
        slow = [stack.enter_context(_connect(port)) for _ in range(PER_CLIENT)]
        started = time.monotonic()
        for sock in slow:
            sock.sendall(post + b'{"image": "')
        _until(lambda: tracker.running_by_client["127.0.0.1"] == PER_CLIENT)

        with _connect(port) as extra:
            extra.sendall(post + b"{}")
            status, headers, body = _read_response(extra)
            assert status == 429
            assert _error(headers, body)["code"] == "too_many_connections"
            assert headers["retry-after"] == "1"
            assert _closed(extra, SLACK)
        with _connect(port) as extra:  # a probe with a body is an ordinary request
            extra.sendall(_request("GET", "/health", {"Content-Length": "10"}))
            status, headers, body = _read_response(extra)
            assert status == 429
        for path in ("/health", "/ready"):  # exempt from every request cap
            with _connect(port) as probe:
                probe.sendall(_request("GET", path, {"Connection": "close"}))
                assert _read_response(probe)[0] == 200
        if other:  # another address is not held back by this one's requests
            with _connect(port, other) as probe:
                probe.sendall(_request("GET", "/v1/info", {"Connection": "close"}))
                assert _read_response(probe)[0] == 200

        for sock in slow:
            status, headers, body = _read_response(sock)
            elapsed = time.monotonic() - started
            assert status == 408
            assert _error(headers, body)["code"] == "request_timeout"
            assert _closed(sock, SLACK)
        assert BODY_TIMEOUT - 0.05 <= elapsed < BODY_TIMEOUT + SLACK
        print(f"\n8 slow bodies: 9th request 429, /health 200; all 8 had a 408 by {elapsed:.2f} s")
        _until(lambda: tracker.running == 0 and tracker.open == 0)


def test_server_wide_caps_evict_idle_and_refuse_in_json(tmp_path: Path) -> None:
    """Past max_connections: the oldest idle connection goes; requests get a JSON 503."""
    with ExitStack() as stack, _serve(tmp_path, max_connections=4) as (port, tracker):
        idle = [stack.enter_context(_connect(port)) for _ in range(6)]
        # two over the server-wide cap: the two oldest are closed at once
        assert _closed(idle[0], SLACK) and _closed(idle[1], SLACK)
        assert tracker.stats["evicted_server"] >= 2
        for sock in idle:
            sock.close()
        _until(lambda: tracker.open == 0)

        post = _request(
            "POST",
            "/v1/collections/default/identify",
            {"Content-Type": "application/json", "Content-Length": "1000"},
        )
        busy = [stack.enter_context(_connect(port)) for _ in range(4)]
        for sock in busy:
            sock.sendall(post + b"{")
        _until(lambda: tracker.running == 4)
        with _connect(port) as extra:
            extra.sendall(post + b"{}")
            status, headers, body = _read_response(extra)
        assert status == 503
        assert _error(headers, body)["code"] == "overloaded"
        assert headers["retry-after"] == "1"
        assert _health(port)[0] == 200
        for sock in busy:  # the client giving up ends the request at once
            sock.close()
        _until(lambda: tracker.running == 0 and tracker.open == 0)


def test_keep_alive_requests_still_work(tmp_path: Path) -> None:
    """Requests on one kept-alive connection; an idle pause under the deadline is fine."""
    with _serve(tmp_path) as (port, tracker):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/health")
            first = conn.getresponse()
            assert first.status == 200 and json.loads(first.read()) == {"status": "ok"}
            sock = conn.sock
            time.sleep(HEADER_TIMEOUT / 3)
            for path in ("/health", "/v1/info", "/ready"):
                conn.request("GET", path)
                response = conn.getresponse()
                assert response.status == 200, response.read()
                response.read()
            conn.request(
                "POST",
                "/v1/collections/default/identify",
                body=b'{"image": "bm90IGFuIGltYWdl"}',
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            assert 400 <= response.status < 500, response.read()  # not an image: a 4xx
            response.read()
            assert conn.sock is sock, "the connection was not kept alive"
            assert tracker.stats["header_timeouts"] == 0
            assert not tracker.stats["evicted_client"] and not tracker.stats["refused_client"]
        finally:
            conn.close()
        _until(lambda: tracker.open == 0)


def test_settings_reach_the_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """FACESCOPE_SERVICE_* set the deadlines and caps; uvicorn's own 503 is off."""
    monkeypatch.setenv("FACESCOPE_SERVICE_HEADER_TIMEOUT_S", "2.5")
    monkeypatch.setenv("FACESCOPE_SERVICE_BODY_TIMEOUT_S", "7")
    monkeypatch.setenv("FACESCOPE_SERVICE_MAX_CONNECTIONS_PER_CLIENT", "5")
    monkeypatch.setenv("FACESCOPE_SERVICE_MAX_CONNECTIONS", "99")
    settings = ServiceSettings.from_env(data=tmp_path)
    assert settings.header_timeout_s == 2.5 and settings.body_timeout_s == 7.0
    options = uvicorn_options(settings)
    limits = options["http"].tracker.limits
    assert (limits.header_timeout_s, limits.max_connections_per_client) == (2.5, 5)
    assert limits.max_connections == 99
    assert options["limit_concurrency"] is None
    assert uvicorn_options(settings)["http"].tracker is not options["http"].tracker
    with pytest.raises(ValueError):
        ServiceSettings(header_timeout_s=0)
    with pytest.raises(ValueError):
        ServiceSettings(max_connections_per_client=0)


def test_client_key_groups_ipv6_by_64() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key(None) == ""


@pytest.mark.parametrize(
    ("proxies", "expected"), [((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.9")]
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, proxies: tuple[str, ...], expected: str
) -> None:
    from facescope.service.state import ServiceState

    with _serve(tmp_path, trusted_proxies=proxies) as (port, _):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SLACK)
        connection.request(
            "POST",
            "/v1/collections",
            body=json.dumps({"name": "site-a"}),
            headers={"content-type": "application/json", "x-forwarded-for": "203.0.113.9"},
        )
        assert connection.getresponse().status == 201
        connection.close()
    entries = ServiceState(tmp_path / "data").audit_entries(collection="site-a")
    assert [(e.action, e.client) for e in entries] == [("create_collection", expected)]
