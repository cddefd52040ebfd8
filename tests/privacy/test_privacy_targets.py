"""Inversion targets: alignment, embedding checks, resolution, HTTP and torch targets."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import pytest
from privacy_helpers import conv_net

from facescope.align.template import ARCFACE_TEMPLATE_112, CROP_SIZE
from facescope.errors import InvalidEmbeddingError

# landmarks of a typical 64x64 prior face (the DCGAN's; importing them needs no torch)
from facescope.privacy.prior import DCGAN_LANDMARKS5 as LANDMARKS
from facescope.privacy.targets import (
    CallableTarget,
    HTTPTarget,
    InversionTargetError,
    ModelTarget,
    TorchTarget,
    arcface_crops,
    checked_embeddings,
    resolve_target,
    unit_rows,
)

# --------------------------------------------------------------------------- alignment


def _noise_faces(n: int = 3, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def prior_faces() -> np.ndarray:
    """Four faces of the bundled DCGAN prior (64x64 RGB)."""
    pytest.importorskip("torch")
    from facescope.privacy.prior import default_prior

    prior = default_prior()
    return prior.decode(prior.sample(4, np.random.default_rng(11)))


def test_arcface_crops_shape_dtype_and_identity_on_the_template() -> None:
    crops = arcface_crops(_noise_faces(3), LANDMARKS)
    assert crops.shape == (3, CROP_SIZE, CROP_SIZE, 3) and crops.dtype == np.uint8
    # faces already on the 112x112 template come back unchanged
    aligned = _noise_faces(2, size=CROP_SIZE, seed=1)
    same = arcface_crops(aligned, ARCFACE_TEMPLATE_112.astype(np.float32))
    assert np.abs(same.astype(int) - aligned.astype(int)).max() <= 1
    assert arcface_crops(_noise_faces(0), LANDMARKS).shape == (0, CROP_SIZE, CROP_SIZE, 3)


def test_arcface_crops_map_the_landmarks_onto_the_template() -> None:
    # a single bright pixel on the right eye lands near the template's right eye
    face = np.zeros((1, 64, 64, 3), np.uint8)
    x, y = np.round(LANDMARKS[0]).astype(int)
    face[0, y - 1 : y + 2, x - 1 : x + 2] = 255
    crop = arcface_crops(face, LANDMARKS)[0, :, :, 0].astype(float)
    ys, xs = np.nonzero(crop > 0)
    centre = np.array([np.average(xs, weights=crop[ys, xs]), np.average(ys, weights=crop[ys, xs])])
    assert np.linalg.norm(centre - ARCFACE_TEMPLATE_112[0]) < 3.0


# --------------------------------------------------------------------------- checks


def test_checked_embeddings_normalises_one_or_many() -> None:
    one = checked_embeddings([3.0, 4.0])
    assert one.shape == (1, 2) and one.dtype == np.float32
    np.testing.assert_allclose(one, [[0.6, 0.8]], atol=1e-6)
    many = checked_embeddings(np.random.default_rng(0).standard_normal((5, 16)), dim=16)
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("bad", "dim", "message"),
    [
        ([1.0, float("nan"), 0.0], None, "NaN"),
        ([1.0, float("inf"), 0.0], None, "NaN or infinite"),
        (np.zeros(8), None, "zeros"),
        (np.vstack([np.ones(8), np.zeros(8)]), None, "zeros"),
        (np.ones(64), 128, "64 values"),
        ([], None, "shape"),
        (np.zeros((0, 128)), None, "shape"),
        (np.ones((2, 2, 2)), None, "shape"),
        (["a", "b"], None, "not numeric"),
        ({"x": 1}, None, "not numeric|shape"),
    ],
)
def test_checked_embeddings_refuses_bad_input(bad: Any, dim: int | None, message: str) -> None:
    with pytest.raises(InvalidEmbeddingError, match=message):
        checked_embeddings(bad, dim=dim)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (np.ones(8), "shape"),
        (np.ones((2, 0)), "shape"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, -np.inf]]), "infinite"),
        (np.array([[1.0, 1.0], [0.0, 0.0]]), "zero"),
    ],
)
def test_unit_rows_refuses_bad_target_output(raw: np.ndarray, message: str) -> None:
    with pytest.raises(InversionTargetError, match=message) as info:
        unit_rows(raw, "target demo")
    assert "target demo" in str(info.value)


def test_unit_rows_normalises() -> None:
    rows = unit_rows([[3, 4], [0, -2]], "x")
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, -1.0]], atol=1e-6)


# --------------------------------------------------------------------------- resolution


def test_resolve_target_kinds() -> None:
    sface = resolve_target("sface")
    assert isinstance(sface, ModelTarget) and sface.name == "sface"
    http = resolve_target("http://127.0.0.1:9/v1/embed")
    assert isinstance(http, HTTPTarget) and http.name == "http://127.0.0.1:9/v1/embed"

    def my_embedder(crops: np.ndarray) -> np.ndarray:
        return crops.reshape(len(crops), -1)[:, :8].astype(np.float32) + 1.0

    wrapped = resolve_target(my_embedder)
    assert isinstance(wrapped, CallableTarget) and wrapped.name == "my_embedder"
    out = wrapped.embed(_noise_faces(2), LANDMARKS)
    assert out.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # a Target is passed through as is
    assert resolve_target(wrapped) is wrapped


def test_resolve_target_torch_module() -> None:
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(4))
    target = resolve_target(module)
    assert isinstance(target, TorchTarget) and target.module is module


def test_resolve_target_refuses_garbage_and_unknown_models() -> None:
    with pytest.raises(TypeError, match="target must be"):
        resolve_target(42)
    with pytest.raises(TypeError, match="NoneType"):
        resolve_target(None)
    with pytest.raises(ValueError, match="unknown target model 'arcface'"):
        resolve_target("arcface")


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen_headers.append(dict(self.headers))
        if self.path == "/error":
            self._reply(500, b'{"detail": "model crashed"}')
            return
        if self.path == "/slow":
            self.server.release.wait(5.0)
            self._reply(200, b'{"faces": []}')
            return
        if self.path == "/text":
            self._reply(200, b"<html>not json</html>", "text/html")
            return
        if self.path == "/close":  # drop the connection without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/string":
            self._reply(200, b'{"faces": [{"embedding": "n/a"}]}')
            return
        if self.path == "/noface":
            self._reply(200, b'{"faces": []}')
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        parts = {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }
        part = parts["image"]
        assert part.get_content_type() == "image/png"
        png = np.frombuffer(part.get_payload(decode=True), np.uint8)
        crop = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        from facescope.embed.recognizers import sface_recognizer

        with self.server.lock:
            raw = sface_recognizer().features_from_crops(crop[None])[0]
        self._reply(200, json.dumps({"faces": [{"embedding": raw.tolist()}]}).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.seen_headers: list[dict[str, str]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture()
def server(httpd: _Server) -> str:
    """The local endpoint's base URL."""
    return httpd.url


@pytest.fixture(scope="module")
def httpd() -> Iterator[_Server]:
    """A local embedding endpoint on a free port."""
    httpd = _Server()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5.0)


def test_http_target_matches_the_bundled_model(server: str, prior_faces: np.ndarray) -> None:
    target = HTTPTarget(f"{server}/embed", headers={"X-Audit": "yes"}, concurrency=3)
    remote = target.embed(prior_faces, LANDMARKS)
    local = ModelTarget("sface").embed(prior_faces, LANDMARKS)
    assert remote.shape == local.shape == (len(prior_faces), 128)
    cosine = np.einsum("ij,ij->i", remote, local)
    assert (cosine > 0.999).all(), cosine
    np.testing.assert_allclose(np.linalg.norm(remote, axis=1), 1.0, atol=1e-5)
    # different faces stay apart, so the match is not trivial
    assert (remote @ local.T)[~np.eye(len(prior_faces), dtype=bool)].max() < 0.99


def test_http_target_sends_the_custom_headers(httpd: _Server) -> None:
    target = HTTPTarget(f"{httpd.url}/noface", headers={"X-Marker": "abc123"}, concurrency=1)
    with pytest.raises(InversionTargetError):
        target.embed(_noise_faces(1), LANDMARKS)
    sent = [headers for headers in httpd.seen_headers if headers.get("X-Marker") == "abc123"]
    assert len(sent) == 1
    assert sent[0]["Content-Type"].startswith("multipart/form-data; boundary=")


def test_http_error_reply_names_the_status(server: str) -> None:
    with pytest.raises(InversionTargetError, match=r"HTTP 500.*model crashed"):
        HTTPTarget(f"{server}/error").embed(_noise_faces(2), LANDMARKS)


def test_http_timeout_is_reported_promptly(server: str) -> None:
    target = HTTPTarget(f"{server}/slow", timeout=0.3, concurrency=2)
    start = time.perf_counter()
    with pytest.raises(InversionTargetError, match=r"did not answer within 0\.3 s"):
        # the queries still queued behind the first timeout are cancelled, not waited for
        target.embed(_noise_faces(6), LANDMARKS)
    assert time.perf_counter() - start < 3.0


def test_http_unreachable_endpoint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the port is closed now: the connection is refused
    with pytest.raises(InversionTargetError, match="unreachable"):
        HTTPTarget(f"http://127.0.0.1:{port}/embed", timeout=2.0).embed(_noise_faces(1), LANDMARKS)


def test_http_non_json_reply(server: str) -> None:
    with pytest.raises(InversionTargetError, match="did not answer with JSON"):
        HTTPTarget(f"{server}/text").embed(_noise_faces(1), LANDMARKS)


def test_http_reply_without_the_response_path(server: str) -> None:
    with pytest.raises(InversionTargetError, match=r"no 'faces.0.embedding'.*missing '0'"):
        HTTPTarget(f"{server}/noface").embed(_noise_faces(1), LANDMARKS)
    with pytest.raises(InversionTargetError, match="missing 'vector'"):
        HTTPTarget(f"{server}/noface", response_path="vector").embed(_noise_faces(1), LANDMARKS)


def test_http_connection_dropped_without_reply(server: str) -> None:
    with pytest.raises(InversionTargetError):
        HTTPTarget(f"{server}/close").embed(_noise_faces(1), LANDMARKS)


def test_http_non_numeric_embedding(server: str) -> None:
    with pytest.raises(InversionTargetError):
        HTTPTarget(f"{server}/string").embed(_noise_faces(1), LANDMARKS)


@pytest.mark.parametrize("url", ["ftp://example.org/embed", "127.0.0.1:8000", "file:///etc/passwd"])
def test_http_target_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        HTTPTarget(url)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_http_target_refuses_non_positive_timeouts(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        HTTPTarget("http://127.0.0.1:9/embed", timeout=timeout)


# --------------------------------------------------------------------------- torch


def test_torch_embed_tensor_agrees_with_the_cv2_path(prior_faces: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    target = TorchTarget(conv_net(torch))
    images = torch.from_numpy(prior_faces).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        differentiable = target.embed_tensor(images, LANDMARKS).numpy()
    reference = target.embed(prior_faces, LANDMARKS)
    assert differentiable.shape == reference.shape == (len(prior_faces), 32)
    cosine = np.einsum("ij,ij->i", differentiable, reference)
    assert (cosine > 0.999).all(), cosine


def test_torch_warp_reproduces_the_cv2_crops(prior_faces: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    seen: list[Any] = []

    class Record(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            seen.append(x.detach())
            return x.flatten(1)

    images = torch.from_numpy(prior_faces).permute(0, 3, 1, 2).float() / 255.0
    TorchTarget(Record()).embed_tensor(images, LANDMARKS)
    warped = seen[0].permute(0, 2, 3, 1).numpy() * 255.0
    difference = np.abs(warped - arcface_crops(prior_faces, LANDMARKS).astype(np.float32))
    assert warped.shape == (len(prior_faces), CROP_SIZE, CROP_SIZE, 3)
    # (a one-pixel shift of the crop would give a mean of ~3.6 and a 99th percentile of ~28)
    assert difference.mean() < 0.6 and np.percentile(difference, 99) < 2.0


def test_torch_embed_tensor_passes_gradients_to_the_input(prior_faces: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    target = TorchTarget(conv_net(torch))
    images = (torch.from_numpy(prior_faces).permute(0, 3, 1, 2).float() / 255.0).requires_grad_()
    out = target.embed_tensor(images, LANDMARKS)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)
    out[:, 0].sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all()
    # every face gets its own non-zero gradient
    assert (images.grad.abs().flatten(1).sum(dim=1) > 0).all()
