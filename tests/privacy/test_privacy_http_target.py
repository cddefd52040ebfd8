"""The inversion audit's HTTP target against facescope's own service (``POST /v1/embed``)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from service_helpers import error_code, upload

from facescope import api as facescope_api


def test_embed_endpoint_returns_the_library_embedding(service: Any, data: Path) -> None:
    response = service.post("/v1/embed", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "sface" and len(body["faces"]) == 1
    face = body["faces"][0]
    vector = np.asarray(face["embedding"], np.float32)
    expected = facescope_api.embed(data / "obama_1.jpg")
    assert vector.shape == (128,)
    assert float(vector @ expected.vectors[0]) > 0.9999
    assert face["norm"] == pytest.approx(float(expected.norms[0]), rel=1e-4)
    assert len(face["box"]) == 4 and len(face["landmarks5"]) == 5


def test_embed_endpoint_dlib_and_no_face(service: Any, data: Path) -> None:
    body = service.post("/v1/embed?model=dlib", files=upload(data / "obama_1.jpg")).json()
    assert body["model"] == "dlib" and len(body["faces"][0]["embedding"]) == 128
    blank = np.full((200, 300, 3), 127, np.uint8)
    import cv2

    ok, png = cv2.imencode(".png", blank)
    assert ok
    empty = service.post("/v1/embed", files={"image": ("blank.png", png.tobytes(), "image/png")})
    assert empty.status_code == 200 and empty.json()["faces"] == []
    bad = service.post("/v1/embed?model=arcface", files=upload(data / "obama_1.jpg"))
    assert bad.status_code == 422 and error_code(bad) == "invalid_request"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_target_on_a_live_facescope_service_matches_the_bundled_model(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    import uvicorn

    from facescope.privacy.prior import default_prior
    from facescope.privacy.targets import HTTPTarget, ModelTarget
    from facescope.service import ServiceSettings, create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ServiceSettings(data=tmp_path / "data")),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "service did not start within 60 s"
            time.sleep(0.1)
        prior = default_prior()
        faces = prior.decode(prior.sample(6, np.random.default_rng(3)))
        remote = HTTPTarget(f"http://127.0.0.1:{port}/v1/embed", timeout=30).embed(
            faces, prior.landmarks5
        )
        local = ModelTarget("sface").embed(faces, prior.landmarks5)
        assert remote.shape == local.shape == (6, 128)
        assert np.min(np.sum(remote * local, axis=1)) > 0.999
    finally:
        server.should_exit = True
        thread.join(timeout=30)
