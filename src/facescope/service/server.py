"""Run the service with uvicorn, refusing to expose an unauthenticated server."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from facescope.errors import FacescopeError
from facescope.service.backend import describe, open_state
from facescope.service.connections import ConnectionLimits, protocol_class
from facescope.service.network import is_loopback
from facescope.service.settings import ServiceSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class UnsafeBindError(FacescopeError, ValueError):
    """Binding beyond loopback without any API key configured."""


__all__ = ["UnsafeBindError", "check_bind", "is_loopback", "serve", "uvicorn_options"]


def check_bind(host: str, settings: ServiceSettings) -> bool:
    """Refuse a non-loopback `host` on an open data folder; return whether keys are required.

    A folder that has had keys stays keyed after its last key is revoked (the
    service then refuses every request until a key is created), so it may
    listen anywhere.
    """
    state = open_state(settings.data)
    try:
        keyed = state.auth_required()
    finally:
        state.close()
    if not keyed and not is_loopback(host):
        raise UnsafeBindError(
            f"refusing to listen on {host}: no API key is configured, so anyone who can "
            "reach the port could read and change the galleries. Create one with "
            f"`facescope keys create NAME --scope admin --data {describe(settings.data)}`, "
            "or listen on 127.0.0.1"
        )
    return keyed


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run`` (besides app, host, port).

    The HTTP protocol is :class:`~facescope.service.connections.GuardedH11Protocol`:
    header deadline, per-address and server-wide caps, refusals in the JSON error
    shape. uvicorn's own ``limit_concurrency`` is off: it counted idle connections
    too, so a few hundred idle sockets turned every request, ``/health`` included,
    into a plain-text 503. Shared with the tests, so they run what ``serve`` runs.

    ``X-Forwarded-For`` is believed only from ``settings.trusted_proxies``: uvicorn
    otherwise trusts it from 127.0.0.1, so any local program (or a web page
    through a local proxy) could write the client address in the audit log and
    pick its own rate-limit bucket.
    """
    proxies = ",".join(settings.trusted_proxies)
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "http": protocol_class(ConnectionLimits.from_settings(settings)),
        # the service has no WebSocket route; an upgrade would also leave the guard
        "ws": "none",
        "timeout_keep_alive": 5,
        "limit_concurrency": None,
        "server_header": False,
    }


def serve(
    settings: ServiceSettings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    workers: int = 1,
    threads: int | None = None,
) -> None:
    """Start the service (blocks until interrupted): in this process, or in `workers`
    processes sharing the port (:mod:`facescope.service.workers`).

    `threads` is each process's inference threads (ONNX Runtime, OpenCV); by default
    the cores divided by the workers. With one worker and no `threads`, ONNX Runtime
    runs one thread per inference (requests run side by side) and OpenCV keeps its
    own pool, as before workers existed.
    """
    import uvicorn

    from facescope.service.app import create_app
    from facescope.service.workers import limit_threads, serve_workers, threads_per_worker

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    check_bind(host, settings)
    settings = dataclasses.replace(settings, host=host)
    if workers > 1:
        serve_workers(settings, host, port, workers, threads_per_worker(workers, threads))
        return
    if threads is not None:
        limit_threads(threads_per_worker(1, threads))
    else:
        # requests run side by side, so one ONNX Runtime thread per inference is faster
        # than each claiming every core (measured by benchmarks/bench_service.py), and
        # one BLAS thread: its idle threads spin (workers.limit_threads)
        os.environ.setdefault("FACESCOPE_THREADS", "1")
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options(settings))
