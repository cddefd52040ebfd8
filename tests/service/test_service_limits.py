"""Bad uploads and limit breaches: each gets a specific 4xx JSON error, never a 500."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from service_helpers import client, error_code, upload


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels but carries almost no data (a bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat_data = zlib.compress(b"\x00" * 64)
    idat = b"IDAT" + idat_data
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + struct.pack(">I", len(idat_data))
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


@pytest.fixture()
def api(tmp_path: Path) -> Any:
    with client(tmp_path / "data", max_body_bytes=2_000_000, max_pixels=4_000_000) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "invalid_image"),
        (b"this is not an image at all", "invalid_image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "invalid_image"),  # truncated JPEG
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "invalid_image"),
    ],
    ids=["zero-bytes", "text", "truncated-jpeg", "pdf"],
)
def test_bad_uploads_get_400_and_the_worker_survives(
    api: Any, data: Path, payload: bytes, code: str
) -> None:
    for path in ("/v1/detect", "/v1/embed", "/v1/pad", "/v1/collections/default/identify"):
        response = api.post(path, files={"image": ("bad.jpg", payload, "image/jpeg")})
        assert response.status_code == 400 and error_code(response) == code
    assert api.post("/v1/detect", files=upload(data / "obama_1.jpg")).status_code == 200


def test_truncated_real_photo_is_refused(api: Any, data: Path) -> None:
    whole = (data / "obama_1.jpg").read_bytes()
    cut = {"image": ("cut.jpg", whole[: len(whole) // 3], "image/jpeg")}
    response = api.post("/v1/detect", files=cut)
    assert response.status_code == 400 and error_code(response) == "invalid_image"
    assert "truncated" in response.json()["error"]["message"]


def test_decompression_bomb_is_refused_before_decoding(api: Any) -> None:
    bomb = _png_header(50_000, 50_000)
    response = api.post("/v1/detect", files={"image": ("bomb.png", bomb, "image/png")})
    assert response.status_code == 413 and error_code(response) == "image_too_large"
    assert "image" in response.json()["error"]["message"]


def test_body_over_the_limit_gets_413(api: Any) -> None:
    response = api.post("/v1/detect", files={"image": ("big.jpg", b"\0" * 2_100_000, "image/jpeg")})
    assert response.status_code == 413 and error_code(response) == "body_too_large"


def test_chunked_body_over_the_limit_gets_413(api: Any) -> None:
    def chunks() -> Any:
        for _ in range(30):
            yield b"x" * 100_000

    response = api.post(
        "/v1/detect", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and error_code(response) == "body_too_large"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"image": "not base64!!"}}, 400, "invalid_base64"),
        ({"json": {"image": ""}}, 422, "invalid_request"),
        ({"json": {"image": 12}}, 422, "invalid_request"),
        ({"json": ["image"]}, 422, "invalid_request"),
        ({"json": {}}, 422, "missing_image"),
        (
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        (
            {"content": b"raw", "headers": {"content-type": "image/jpeg"}},
            415,
            "unsupported_media_type",
        ),
        (
            {
                "content": b"--x\r\nbroken",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            422,
            "missing_image",
        ),
    ],
    ids=[
        "bad-base64",
        "empty",
        "number",
        "array",
        "no-image",
        "bad-json",
        "raw-jpeg",
        "broken-multipart",
    ],
)
def test_malformed_requests_get_specific_errors(
    api: Any, kwargs: dict[str, Any], status: int, code: str
) -> None:
    response = api.post("/v1/detect", **kwargs)
    assert response.status_code == status, response.text
    assert error_code(response) == code


def test_faces_per_image_limit(tmp_path: Path, data: Path) -> None:
    with client(tmp_path, max_faces=1) as api:
        response = api.post("/v1/detect", files=upload(data / "obama_left_biden_right.jpg"))
        assert response.status_code == 422 and error_code(response) == "too_many_faces"
        assert api.post("/v1/detect", files=upload(data / "obama_1.jpg")).status_code == 200


def test_rate_limit_per_caller(tmp_path: Path) -> None:
    with client(tmp_path, rate_per_minute=3) as api:
        statuses = [api.get("/v1/collections").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = api.get("/v1/collections")
        assert error_code(refused) == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert api.get("/health").status_code == 200  # operations endpoints are not limited


def test_slow_request_times_out_with_503(tmp_path: Path, data: Path) -> None:
    with client(tmp_path, request_timeout_s=0.001) as api:
        big = io.BytesIO()
        Image.open(data / "obama_1.jpg").resize((1920, 1080)).save(big, format="PNG")
        response = api.post("/v1/detect", files={"image": ("big.png", big.getvalue(), "image/png")})
        assert response.status_code == 503 and error_code(response) == "timeout"
        assert response.headers["retry-after"] == "5"


def test_unknown_routes_and_methods_get_json_errors(api: Any) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong = api.put("/v1/detect")
    assert wrong.status_code == 405 and error_code(wrong) == "method_not_allowed"
    bad_query = api.post("/v1/collections/default/identify?top_k=0", json={"image": "aGk="})
    assert bad_query.status_code == 422 and error_code(bad_query) == "invalid_request"
    bad_id = api.delete("/v1/collections/default/subjects/x/faces/abc")
    assert bad_id.status_code == 422
