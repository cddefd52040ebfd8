"""`facescope serve` as a real process: it listens, answers, and stops cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_helpers import wait_ready


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_starts_answers_and_stops(tmp_path: Path, data: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facescope",
            "serve",
            "--port",
            str(port),
            "--data",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, base, within=90)
        with (data / "obama_1.jpg").open("rb") as photo:
            enrolled = httpx.post(
                f"{base}/v1/collections/default/subjects/Obama/faces",
                files={"image": ("obama_1.jpg", photo, "image/jpeg")},
                timeout=30,
            )
        assert enrolled.status_code == 201, enrolled.text
        with (data / "obama_2.jpg").open("rb") as photo:
            found = httpx.post(
                f"{base}/v1/collections/default/identify",
                files={"image": ("obama_2.jpg", photo, "image/jpeg")},
                timeout=30,
            ).json()
        assert [f["identity"] for f in found["faces"]] == ["Obama"]
        assert "server" not in httpx.get(f"{base}/health").headers
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Application shutdown complete" in output
    # the gallery the CLI uses is the one the service wrote
    from facescope.gallery import Gallery

    with Gallery.open(tmp_path) as gallery:
        assert [s.name for s in gallery.list()] == ["Obama"]
