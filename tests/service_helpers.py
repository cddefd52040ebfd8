"""Helpers for the service tests: an app over a temporary data folder."""

from __future__ import annotations

import base64
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from facescope.service import ServiceSettings, create_app

#: Where test requests are addressed: a keyless service answers only requests
#: whose Host names this machine (TestClient's default "testserver" does not).
BASE_URL = "http://127.0.0.1:8000"


def client(data: Path | str, **settings: Any) -> TestClient:
    """A TestClient over a fresh app on `data` (use as a context manager)."""
    return TestClient(create_app(ServiceSettings(data=data, **settings)), base_url=BASE_URL)


def upload(path: Path, field: str = "image") -> dict[str, tuple[str, bytes, str]]:
    """A multipart `files=` mapping for one image file."""
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == response.status_code
    assert body["error"]["message"]
    return str(body["error"]["code"])


def wait_ready(process: Any, base: str, within: float = 120.0, every: float = 0.3) -> None:
    """Poll `base`/ready until 200; fail with the server's output if `process` exits first."""
    import time

    import httpx

    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            output = process.stdout.read() if getattr(process, "stdout", None) else ""
            raise AssertionError(f"the server exited early: {output}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"server not ready within {within:g} s"
        time.sleep(every)
