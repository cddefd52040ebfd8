"""Tests for facescope.io.image.load_image."""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA
from PIL import Image, ImageFile

from facescope.errors import ImageTooLargeError, InvalidImageError
from facescope.io import DEFAULT_MAX_PIXELS, load_image

PORTRAITS = TESTDATA / "faces" / "public_portraits"
needs_portraits = pytest.mark.skipif(
    not (PORTRAITS / "barack_obama_1.jpg").is_file(), reason="shared test photos not available"
)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _no_env_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACESCOPE_MAX_PIXELS", raising=False)


def _encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _noise(height: int = 160, width: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png_claiming_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed)."""
    data = bytearray(_encode(Image.new("L", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:20] = struct.pack(">I", width)
    data[20:24] = struct.pack(">I", height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _assert_rgb_u8(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)
    assert out.flags.c_contiguous
    assert out.flags.writeable


# --------------------------------------------------------------------------- bad paths


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(InvalidImageError, match="no such file") as info:
        load_image(path)
    assert str(info.value).startswith(str(path))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="is a directory") as info:
        load_image(str(tmp_path))
    assert str(info.value).startswith(str(tmp_path))


def test_empty_path() -> None:
    with pytest.raises(InvalidImageError, match="empty path"):
        load_image("")


def test_path_with_nul_character() -> None:
    with pytest.raises(InvalidImageError, match="invalid path"):
        load_image("bad\x00name.jpg")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.png", b"")
    with pytest.raises(InvalidImageError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: empty file (0 bytes)"


def test_text_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "notes.jpg", b"this is not an image\n" * 10)
    with pytest.raises(InvalidImageError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: not a recognised image format"
    assert not isinstance(info.value, ImageTooLargeError)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    data = _encode(Image.fromarray(_noise()), fmt)
    path = _write(tmp_path / f"half.{fmt.lower()}", data[: len(data) // 2])
    with pytest.raises(InvalidImageError) as info:
        load_image(path)
    assert str(info.value).startswith(f"{path}: truncated or corrupt image data")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@needs_portraits
def test_truncated_real_photo(tmp_path: Path) -> None:
    data = (PORTRAITS / "barack_obama_1.jpg").read_bytes()
    path = _write(tmp_path / "obama_half.jpg", data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="truncated or corrupt image data") as info:
        load_image(path)
    assert "obama_half.jpg" in str(info.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------------------- bad bytes / types


def test_bytes_errors() -> None:
    with pytest.raises(InvalidImageError) as info:
        load_image(b"")
    assert str(info.value) == "<bytes>: empty data (0 bytes)"
    with pytest.raises(InvalidImageError) as info:
        load_image(bytearray(b"plain text, no image"))
    assert str(info.value) == "<bytes>: not a recognised image format"
    data = _encode(Image.fromarray(_noise()), "JPEG")
    with pytest.raises(InvalidImageError) as info:
        load_image(memoryview(data[: len(data) // 2]))
    assert str(info.value).startswith("<bytes>: truncated or corrupt image data")


@pytest.mark.parametrize(("value", "type_name"), [(42, "int"), (None, "NoneType"), ([1], "list")])
def test_wrong_type(value: object, type_name: str) -> None:
    with pytest.raises(InvalidImageError) as info:
        load_image(value)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert str(info.value) == (f"expected a path, bytes, numpy array or PIL image, got {type_name}")


# --------------------------------------------------------------------------- pixel limit


def test_decompression_bomb_refused_without_decoding(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.png", _png_claiming_size(100_000, 100_000))
    with pytest.raises(Image.DecompressionBombError):  # Pillow alone: a different error type
        Image.open(path)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError) as info:
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "100000x100000" in message
    assert f"{DEFAULT_MAX_PIXELS:,}" in message
    assert "max_pixels=" in message
    assert "FACESCOPE_MAX_PIXELS" in message
    with pytest.raises(ImageTooLargeError, match=r"^<bytes>: "):
        load_image(path.read_bytes())


def test_max_pixels_argument(tmp_path: Path) -> None:
    path = _write(tmp_path / "img.png", _encode(Image.new("RGB", (20, 10)), "PNG"))
    assert load_image(path, max_pixels=200).shape == (10, 20, 3)
    with pytest.raises(ImageTooLargeError, match="20x10"):
        load_image(path, max_pixels=199)
    with pytest.raises(ImageTooLargeError, match="<array>"):
        load_image(np.zeros((10, 20, 3), np.uint8), max_pixels=199)
    with pytest.raises(ImageTooLargeError, match="<PIL image>"):
        load_image(Image.new("RGB", (20, 10)), max_pixels=199)


def test_max_pixels_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "img.png", _encode(Image.new("RGB", (20, 10)), "PNG"))
    monkeypatch.setenv("FACESCOPE_MAX_PIXELS", "199")
    with pytest.raises(ImageTooLargeError, match="limit of 199"):
        load_image(path)
    assert load_image(path, max_pixels=200).shape == (10, 20, 3)  # argument wins
    monkeypatch.setenv("FACESCOPE_MAX_PIXELS", "200")
    assert load_image(path).shape == (10, 20, 3)


@pytest.mark.parametrize("bad", ["abc", "0", "-5"])
def test_bad_env_limit(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("FACESCOPE_MAX_PIXELS", bad)
    with pytest.raises(ValueError, match="FACESCOPE_MAX_PIXELS"):
        load_image(np.zeros((2, 2), np.uint8))


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_bad_max_pixels_argument(bad: object) -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(np.zeros((2, 2), np.uint8), max_pixels=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_own_limit_replaces_pillow_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    path = _write(tmp_path / f"img.{fmt.lower()}", _encode(Image.new("RGB", (50, 50)), fmt))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 2500 px
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = load_image(path)
    assert out.shape == (50, 50, 3)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored
    with pytest.raises(ImageTooLargeError):
        load_image(path, max_pixels=2499)


# --------------------------------------------------------------------------- decoding


@needs_portraits
def test_real_photo() -> None:
    path = PORTRAITS / "barack_obama_1.jpg"
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == 1
        width, height = im.size
        expected = np.asarray(im.convert("RGB"))
    out = load_image(path)
    _assert_rgb_u8(out, (height, width))
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(load_image(str(path)), out)
    np.testing.assert_array_equal(load_image(path.read_bytes()), out)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    pixels[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _write(
        tmp_path / "rot6.jpg", _encode(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)
    )
    out = load_image(path)
    _assert_rgb_u8(out, (40, 20))
    top, bottom = out[5, 10].astype(int), out[35, 10].astype(int)
    assert top[0] > 200 and top[2] < 60  # the left (red) edge is now at the top
    assert bottom[2] > 200 and bottom[0] < 60


def test_rgba_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 0)  # fully transparent
    rgba[0, 1] = (10, 20, 30, 255)  # opaque
    rgba[0, 2] = (0, 0, 0, 128)  # half transparent black
    path = _write(tmp_path / "a.png", _encode(Image.fromarray(rgba), "PNG"))
    out = load_image(path)
    _assert_rgb_u8(out, (2, 3))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [10, 20, 30]
    assert out[0, 2].tolist() == [127, 127, 127]
    np.testing.assert_array_equal(load_image(rgba), out)  # arrays use the same rule


def test_la_and_palette_transparency(tmp_path: Path) -> None:
    la = Image.fromarray(np.array([[[50, 0], [50, 255]]], np.uint8), mode="LA")
    out = load_image(_write(tmp_path / "la.png", _encode(la, "PNG")))
    assert out[0].tolist() == [[255, 255, 255], [50, 50, 50]]

    pal = Image.new("P", (2, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0])
    pal.putpixel((1, 0), 1)
    out = load_image(_write(tmp_path / "p.png", _encode(pal, "PNG", transparency=1)))
    assert out[0].tolist() == [[255, 0, 0], [255, 255, 255]]


def test_greyscale_palette_and_bilevel(tmp_path: Path) -> None:
    grey = np.array([[0, 100, 255]], np.uint8)
    out = load_image(_write(tmp_path / "l.png", _encode(Image.fromarray(grey), "PNG")))
    assert out.tolist() == [[[0] * 3, [100] * 3, [255] * 3]]

    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    out = load_image(_write(tmp_path / "1.png", _encode(bilevel, "PNG")))
    assert out.tolist() == [[[0] * 3, [255] * 3]]

    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 255, 0, 255, 0])
    pal.putpixel((1, 0), 1)
    out = load_image(_write(tmp_path / "p.gif", _encode(pal, "GIF")))
    assert out.tolist() == [[[0, 0, 255], [0, 255, 0]]]


@pytest.mark.parametrize(
    ("fmt", "dtype"), [("PNG", "<u2"), ("TIFF", "<u2"), ("TIFF", ">u2"), ("PPM", "<u2")]
)
def test_16bit_greyscale_scaled_by_bit_depth(tmp_path: Path, fmt: str, dtype: str) -> None:
    grey = np.array([[0, 255, 32768, 65535]], dtype=dtype)
    path = _write(tmp_path / f"g16.{fmt.lower()}", _encode(Image.fromarray(grey), fmt))
    with Image.open(path) as im:
        assert im.mode in {"I;16", "I;16B", "I"}  # PPM 16-bit opens as "I"
    out = load_image(path)
    _assert_rgb_u8(out, (1, 4))
    assert out[0, :, 0].tolist() == [0, 0, 128, 255]
    assert (out == out[:, :, :1]).all()


def test_32bit_int_and_float_images() -> None:
    wide = Image.fromarray(np.array([[-1000, 0, 1000]], np.int32))
    assert load_image(wide)[0, :, 0].tolist() == [0, 128, 255]  # stretched min..max
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert load_image(unit)[0, :, 0].tolist() == [0, 128, 255]
    byte_range = Image.fromarray(np.array([[0.0, 100.2, 255.0]], np.float32))
    assert load_image(byte_range)[0, :, 0].tolist() == [0, 100, 255]
    nan = Image.fromarray(np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(InvalidImageError, match=r"^<PIL image>: .*NaN"):
        load_image(nan)


def test_16bit_rgb_png(tmp_path: Path) -> None:
    rgb16 = np.zeros((1, 2, 3), np.uint16)
    rgb16[0, 0] = (65535, 32768, 255)
    rgb16[0, 1] = (32767, 256, 0)
    # build the 16-bit RGB PNG by hand (Pillow cannot write one)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb16)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    out = load_image(_write(tmp_path / "rgb16.png", png))
    _assert_rgb_u8(out, (1, 2))
    assert out[0].tolist() == [[255, 128, 0], [127, 1, 0]]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red in CMYK
    path = _write(tmp_path / "cmyk.jpg", _encode(cmyk, "JPEG", quality=95))
    with Image.open(path) as im:
        assert im.mode == "CMYK"
    out = load_image(path)
    _assert_rgb_u8(out, (8, 16))
    red, green, blue = out[4, 8].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == 2
    assert load_image(path)[0, 0].tolist() == [255, 0, 0]


def test_multipage_tiff_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (4, 3), colour) for colour in [(0, 255, 0), (0, 0, 255)]]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) == 2
    out = load_image(path)
    _assert_rgb_u8(out, (3, 4))
    assert out[0, 0].tolist() == [0, 255, 0]


def test_pil_image_input_not_modified() -> None:
    im = Image.fromarray(np.array([[[1, 2, 3, 0]]], np.uint8), mode="RGBA")
    out = load_image(im)
    assert out.tolist() == [[[255, 255, 255]]]
    assert im.mode == "RGBA"
    assert im.getpixel((0, 0)) == (1, 2, 3, 0)


# --------------------------------------------------------------------------- arrays


def test_grey_arrays_become_three_channels() -> None:
    grey = np.array([[0, 7], [128, 255]], np.uint8)
    for arr in (grey, grey[:, :, np.newaxis]):
        out = load_image(arr)
        _assert_rgb_u8(out, (2, 2))
        for channel in range(3):
            np.testing.assert_array_equal(out[:, :, channel], grey)


def test_array_dtypes() -> None:
    assert load_image(np.array([[0, 255, 32768, 65535]], np.uint16))[0, :, 0].tolist() == [
        0,
        0,
        128,
        255,
    ]
    assert load_image(np.array([[False, True]]))[0, :, 0].tolist() == [0, 255]
    floats = np.array([[0.0, 0.5, 1.0, 0.2]], np.float64)
    expected = [0, 128, 255, 51]
    for dtype in (np.float16, np.float32, np.float64):
        assert load_image(floats.astype(dtype))[0, :, 0].tolist() == expected


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_array_non_finite(bad: float) -> None:
    arr = np.full((2, 2, 3), 0.5)
    arr[1, 1, 1] = bad
    with pytest.raises(InvalidImageError, match=r"^<array>: .*NaN or infinite"):
        load_image(arr)


def test_float_array_out_of_range() -> None:
    with pytest.raises(InvalidImageError, match=r"^<array>: .*\[0, 1\].*float64"):
        load_image(np.full((2, 2, 3), 200.0))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint32, np.complex64])
def test_unsupported_array_dtype(dtype: type) -> None:
    arr: np.ndarray = np.zeros((3, 4, 3), dtype)
    with pytest.raises(InvalidImageError) as info:
        load_image(arr)
    message = str(info.value)
    assert message.startswith("<array>: ")
    assert str(np.dtype(dtype)) in message
    assert "(3, 4, 3)" in message


@pytest.mark.parametrize("shape", [(10,), (1, 2, 3, 3), (0, 5, 3), (5, 0), (5, 5, 2), (5, 5, 5)])
def test_unsupported_array_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidImageError) as info:
        load_image(np.zeros(shape, np.uint8))
    assert str(info.value).startswith("<array>: ")
    assert str(shape) in str(info.value)


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.arange(6, dtype=np.uint8).reshape(2, 3, 1),
        np.arange(6, dtype=np.uint8).reshape(2, 3),
        np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3) * 1000,
        np.linspace(0, 1, 18).reshape(2, 3, 3),
    ],
    ids=["rgb", "rgba", "hw1", "grey", "uint16", "float"],
)
def test_array_not_mutated_or_shared(arr: np.ndarray) -> None:
    original = arr.copy()
    out = load_image(arr)
    _assert_rgb_u8(out, (2, 3))
    assert not np.shares_memory(out, arr)
    out[...] = 0
    np.testing.assert_array_equal(arr, original)


def test_non_contiguous_array() -> None:
    base = _noise(8, 10)
    view = base[::2, ::-1]  # strided, negative step
    out = load_image(view)
    _assert_rgb_u8(out, (4, 10))
    np.testing.assert_array_equal(out, view)
    assert not np.shares_memory(out, base)


def test_rgb_array_round_trip_exact() -> None:
    arr = _noise()
    np.testing.assert_array_equal(load_image(arr), arr)
    np.testing.assert_array_equal(load_image(Image.fromarray(arr)), arr)
    np.testing.assert_array_equal(load_image(_encode(Image.fromarray(arr), "PNG")), arr)


def test_postscript_is_refused_without_running_ghostscript() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "EPS")
    with pytest.raises(InvalidImageError, match="not a recognised image format"):
        load_image(buffer.getvalue())
