"""Run the service with uvicorn, refusing to expose an unauthenticated server."""

from __future__ import annotations

import ipaddress
import os

from facescope.errors import FacescopeError
from facescope.service.settings import ServiceSettings
from facescope.service.state import ServiceState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class UnsafeBindError(FacescopeError, ValueError):
    """Binding beyond loopback without any API key configured."""


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: ServiceSettings) -> bool:
    """Refuse a non-loopback `host` while no API key exists; return whether keys exist."""
    state = ServiceState(settings.data)
    try:
        has_keys = state.has_keys()
    finally:
        state.close()
    if not has_keys and not is_loopback(host):
        raise UnsafeBindError(
            f"refusing to listen on {host}: no API key is configured, so anyone who can "
            "reach the port could read and change the galleries. Create one with "
            f"`facescope keys create NAME --scope admin --data {settings.data}`, "
            "or listen on 127.0.0.1"
        )
    return has_keys


def serve(settings: ServiceSettings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Start the service in this process (blocks until interrupted)."""
    import uvicorn

    from facescope.service.app import create_app

    check_bind(host, settings)
    # requests run side by side, so one ONNX Runtime thread per inference is faster
    # than each claiming every core (benchmarks/bench_service.py: p50 79 vs 119 ms)
    os.environ.setdefault("FACESCOPE_THREADS", "1")
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=5,
        # refuse (503) rather than queue without bound under overload
        limit_concurrency=256,
        server_header=False,
    )
