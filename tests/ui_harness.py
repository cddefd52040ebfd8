"""What the web UI's browser tests share: the service in a thread, a Chromium page.

The browser is Debian's system Chromium (``/usr/bin/chromium``), run by Playwright
for Python; nothing is downloaded. Without it the tests skip, unless
``FACESCOPE_REQUIRE_BROWSER=1`` makes that a failure (``make test`` sets it where the
browser is installed).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "ui"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str) -> None:
    """Skip for `reason`, or fail where the browser is required."""
    if os.environ.get("FACESCOPE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (FACESCOPE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def require_chromium() -> Path:
    """The system Chromium; skips (or fails, if required) when it or Playwright is missing."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} not found: the UI test drives the system Chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    return CHROMIUM


@contextmanager
def open_page(timeout_ms: int, **options: Any) -> Iterator[Any]:
    """A 1280x900 page in headless Chromium (`options` go to ``new_page``); the test fails
    on any script error. Error answers a test provokes ("Failed to load resource") pass."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, **options)
            page.set_default_timeout(timeout_ms)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: (
                    errors.append(msg.text)
                    if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                    else None
                ),
            )
            yield page
            assert not errors, f"errors in the page: {errors}"
        finally:
            browser.close()


@contextmanager
def serve(data: Path) -> Iterator[str]:
    """The service over `data`, served by uvicorn in a background thread; yields its URL."""
    import uvicorn

    from facescope.service.app import create_app
    from facescope.service.settings import ServiceSettings

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes the socket
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(ServiceSettings(data=data)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1200):  # start-up loads the models: allow 120 s
            if server.started or not thread.is_alive():
                break
            thread.join(0.1)
        if not server.started:
            pytest.fail("the service did not start within 120 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    assert not thread.is_alive(), "the service did not shut down"


def get_json(base_url: str, path: str) -> Any:
    """GET `path` of the service (loopback only) as JSON."""
    with urllib.request.urlopen(base_url + path, timeout=30) as response:
        return json.loads(response.read())


def drop_file(page: Any, testid: str, photo: Path) -> None:
    """Drop `photo` onto the element, as a file dragged from the desktop would be."""
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [photo.name, base64.b64encode(photo.read_bytes()).decode()],
    )
    page.get_by_test_id(testid).dispatch_event("drop", {"dataTransfer": transfer})


def box_pixels(page: Any, canvas_id: str, rgb: tuple[int, int, int]) -> int:
    """Pixels of the canvas `canvas_id` in the box colour `rgb`."""
    count: int = page.evaluate(
        """([id, [r, g, b]]) => {
            const canvas = document.getElementById(id);
            const context = canvas.getContext("2d");
            const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8
                    && Math.abs(data[i + 2] - b) < 8) n += 1;
            }
            return n;
        }""",
        [canvas_id, list(rgb)],
    )
    return count
