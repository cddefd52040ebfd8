"""Load images from paths, bytes, numpy arrays or PIL images as RGB ``uint8`` arrays.

:func:`load_image` is the single entry point every facescope pipeline uses to turn
user input into pixels. It always returns a fresh, writable, C-contiguous
``(H, W, 3)`` ``uint8`` array in **RGB** order, and it refuses bad input with
:class:`~facescope.errors.InvalidImageError` (or its subclass
:class:`~facescope.errors.ImageTooLargeError`) whose message starts with the name
of the input (the path, ``<bytes>``, ``<array>`` or ``<PIL image>``), so a CLI can
print it as one line.

Decompression-bomb guard: the pixel count is checked against ``max_pixels``
right after the header is read and before any pixel data is decoded. facescope's
limit replaces Pillow's own ``Image.MAX_IMAGE_PIXELS`` check for the images it
opens (Pillow's global setting is left as it was).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
from collections.abc import Iterator
from typing import IO, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facescope.errors import ImageTooLargeError, InvalidImageError

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "ImageInput", "load_image"]

DEFAULT_MAX_PIXELS = 50_000_000
"""Default upper bound on width x height (about 8660 x 5773); see :func:`load_image`."""

MAX_PIXELS_ENV = "FACESCOPE_MAX_PIXELS"
"""Environment variable that overrides :data:`DEFAULT_MAX_PIXELS`."""

ImageInput: TypeAlias = (
    str | os.PathLike[str] | bytes | bytearray | memoryview | np.ndarray | Image.Image
)

# Exceptions Pillow's plugins raise on malformed or truncated data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_UINT16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})

#: Formats facescope decodes: raster photo formats only. EPS (which runs
#: Ghostscript), WMF and the scientific/container formats are refused.
ALLOWED_FORMATS = (
    *("JPEG", "PNG", "WEBP", "BMP", "DIB", "GIF", "TIFF", "PPM", "TGA", "JPEG2000"),
    *("AVIF", "QOI", "SGI", "PCX", "ICO"),
)

# Serialises changes to Pillow's process-wide Image.MAX_IMAGE_PIXELS.
_PIL_LIMIT_LOCK = threading.Lock()


def load_image(source: ImageInput, *, max_pixels: int | None = None) -> np.ndarray:
    """Load an image as a fresh RGB ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        source: one of

            * a path (``str`` or :class:`os.PathLike`) to an image file in any format
              Pillow reads (JPEG, PNG, WebP, TIFF, BMP, GIF, ...);
            * the encoded file contents as ``bytes``, ``bytearray`` or ``memoryview``
              (not a path given as bytes);
            * a :class:`numpy.ndarray` of shape ``(H, W)``, ``(H, W, 1)``,
              ``(H, W, 3)`` or ``(H, W, 4)``. Colour arrays are assumed to be **RGB**
              (or RGBA): OpenCV users must convert BGR first, e.g.
              ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)``. Accepted dtypes: ``uint8``;
              ``uint16`` (scaled by ``>> 8``); ``bool`` (0/255); floating point with
              values in ``[0, 1]`` (multiplied by 255 and rounded);
            * a :class:`PIL.Image.Image` (its current frame is used).
        max_pixels: refuse images with more than this many pixels (width x height)
            before decoding them. Defaults to the ``FACESCOPE_MAX_PIXELS``
            environment variable if set, else :data:`DEFAULT_MAX_PIXELS`.

    Returns:
        A new writable, C-contiguous ``uint8`` array ``(H, W, 3)`` in RGB order that
        shares no memory with ``source``. For decoded images the EXIF orientation is
        applied, transparency is composited over a white background, 16-bit data is
        reduced to 8 bits with ``>> 8``, palette/greyscale/CMYK images are converted to
        RGB, and only the first frame of animated or multi-page files is returned.

    Raises:
        ImageTooLargeError: the image has more than ``max_pixels`` pixels.
        InvalidImageError: the input is missing, empty, not an image, truncated or
            corrupt, has an unsupported array shape/dtype, or is of an unsupported
            type. The message starts with the input's name.
        ValueError: ``max_pixels`` or ``FACESCOPE_MAX_PIXELS`` is not a positive
            integer.
    """
    limit = _resolve_max_pixels(max_pixels)
    if isinstance(source, np.ndarray):
        return _from_array(source, limit)
    if isinstance(source, Image.Image):
        return _from_pil(source, "<PIL image>", limit)
    if isinstance(source, bytes | bytearray | memoryview):
        return _from_bytes(source, limit)
    if isinstance(source, str | os.PathLike):
        return _from_path(source, limit)
    raise InvalidImageError(
        f"expected a path, bytes, numpy array or PIL image, got {type(source).__name__}"
    )


# --------------------------------------------------------------------------- limits


def _resolve_max_pixels(max_pixels: int | None) -> int:
    """Return the effective pixel limit from the argument, the environment or the default."""
    if max_pixels is None:
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXELS
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"{MAX_PIXELS_ENV} must be a positive integer, got {raw!r}")
        return value
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return max_pixels


def _check_pixels(width: int, height: int, name: str, limit: int) -> None:
    """Raise :class:`ImageTooLargeError` if ``width * height`` exceeds ``limit``."""
    pixels = width * height
    if pixels > limit:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {pixels:,} pixels, more than the limit of "
            f"{limit:,}; if the file is trusted, pass max_pixels= to load_image or set "
            f"{MAX_PIXELS_ENV} to raise the limit"
        )


@contextlib.contextmanager
def _pil_bomb_check_disabled() -> Iterator[None]:
    """Temporarily switch off Pillow's global decompression-bomb check.

    facescope applies its own limit instead (checked before decoding), so Pillow
    must neither warn about nor refuse images that are within that limit.
    """
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pil_would_object(width: int, height: int) -> bool:
    """Whether Pillow's own bomb check would warn about or refuse this size."""
    with _PIL_LIMIT_LOCK:
        pil_limit = Image.MAX_IMAGE_PIXELS
    return pil_limit is not None and width * height > pil_limit


# --------------------------------------------------------------------------- sources


def _from_path(source: str | os.PathLike[str], limit: int) -> np.ndarray:
    """Validate a file path, then decode the file."""
    raw = os.fspath(source)
    name = os.fsdecode(raw)
    if not name:
        raise InvalidImageError("'': empty path")
    try:
        st = os.stat(raw)
    except FileNotFoundError:
        raise InvalidImageError(f"{name}: no such file") from None
    except ValueError as exc:  # e.g. an embedded NUL character
        raise InvalidImageError(f"{name!r}: invalid path ({exc})") from None
    except OSError as exc:
        raise InvalidImageError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    if os.path.isdir(raw):
        raise InvalidImageError(f"{name}: is a directory, not an image file")
    if not os.path.isfile(raw):
        raise InvalidImageError(f"{name}: not a regular file")
    if st.st_size == 0:
        raise InvalidImageError(f"{name}: empty file (0 bytes)")
    try:
        fp = open(raw, "rb")  # noqa: SIM115 - closed by the with-block below
    except OSError as exc:
        raise InvalidImageError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    with fp:
        return _decode(fp, name, limit)


def _from_bytes(source: bytes | bytearray | memoryview, limit: int) -> np.ndarray:
    """Decode encoded image data held in memory."""
    name = "<bytes>"
    data = source.tobytes() if isinstance(source, memoryview) else bytes(source)
    if not data:
        raise InvalidImageError(f"{name}: empty data (0 bytes)")
    return _decode(io.BytesIO(data), name, limit)


def _decode(fp: IO[bytes], name: str, limit: int) -> np.ndarray:
    """Open an encoded image lazily, check its size, then decode and convert it."""
    try:
        with _pil_bomb_check_disabled():
            im = Image.open(fp, formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise InvalidImageError(f"{name}: not a recognised image format") from None
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"{name}: truncated or corrupt image data ({exc})") from exc
    with im:
        return _from_pil(im, name, limit)


def _from_pil(im: Image.Image, name: str, limit: int) -> np.ndarray:
    """Check the size of a (possibly lazily opened) PIL image, decode it, convert to RGB."""
    width, height = im.size
    _check_pixels(width, height, name, limit)
    guard = (
        _pil_bomb_check_disabled() if _pil_would_object(width, height) else contextlib.nullcontext()
    )
    try:
        with guard:
            im.load()
    except Image.DecompressionBombError as exc:  # pragma: no cover - defensive
        raise ImageTooLargeError(f"{name}: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"{name}: truncated or corrupt image data ({exc})") from exc
    return _pil_to_rgb(_exif_upright(im), name)


def _exif_upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; unreadable EXIF metadata is ignored."""
    try:
        upright = ImageOps.exif_transpose(im)
    except (*_DECODE_ERRORS, KeyError, AttributeError):
        return im
    return im if upright is None else upright


# --------------------------------------------------------------------------- conversion


def _pil_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    """Convert a loaded PIL image of any mode to a new RGB ``uint8`` array."""
    mode = im.mode
    if mode in _UINT16_MODES:
        return _grey_to_rgb((np.array(im).astype(np.uint16) >> 8).astype(np.uint8))
    if mode == "I":
        return _grey_to_rgb(_int_to_uint8(np.array(im)))
    if mode == "F":
        return _grey_to_rgb(_float_image_to_uint8(np.array(im), name))
    try:
        if mode in _ALPHA_MODES or "transparency" in im.info:
            return _over_white(np.array(im.convert("RGBA")))
        rgb = im if mode == "RGB" else im.convert("RGB")
    except ValueError as exc:
        raise InvalidImageError(f"{name}: unsupported image mode {mode} ({exc})") from exc
    return np.array(rgb, dtype=np.uint8, order="C")


def _int_to_uint8(values: np.ndarray) -> np.ndarray:
    """Reduce a Pillow mode-"I" image to 8 bits.

    Pillow uses mode "I" for 16-bit data (16-bit PGM/PPM, some TIFFs), so values in
    ``[0, 65535]`` are shifted right by 8; anything else (genuine 32-bit or signed
    data) is stretched linearly from its minimum to its maximum.
    """
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi <= 0xFFFF:
        return (values >> 8).astype(np.uint8)
    return _stretch(values.astype(np.float64), lo, hi)


def _float_image_to_uint8(values: np.ndarray, name: str) -> np.ndarray:
    """Reduce a Pillow mode-"F" image to 8 bits.

    Values in ``[0, 1]`` are scaled by 255, values in ``[0, 255]`` are rounded, and any
    other range is stretched linearly from its minimum to its maximum.
    """
    if not np.isfinite(values).all():
        raise InvalidImageError(f"{name}: floating-point image contains NaN or infinite values")
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0.0 and hi <= 1.0:
        return np.rint(values * 255.0).astype(np.uint8)
    if lo >= 0.0 and hi <= 255.0:
        return np.asarray(np.rint(values), dtype=np.uint8)
    return _stretch(values, lo, hi)


def _stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` linearly onto ``[0, 255]`` (a constant image becomes 0)."""
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """Replicate an ``(H, W)`` ``uint8`` array into a new ``(H, W, 3)`` array."""
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Composite an ``(H, W, 4)`` ``uint8`` RGBA array over white; returns new RGB array."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:4].astype(np.uint32)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out, dtype=np.uint8)


def _from_array(arr: np.ndarray, limit: int) -> np.ndarray:
    """Validate and convert a caller's numpy array (assumed RGB/RGBA) to a new RGB array."""
    name = "<array>"
    described = f"shape {arr.shape}, dtype {arr.dtype}"
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidImageError(
            f"{name}: unsupported {described}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    if arr.size == 0:
        raise InvalidImageError(f"{name}: empty array ({described})")
    height, width = arr.shape[:2]
    _check_pixels(width, height, name, limit)

    kind, itemsize = arr.dtype.kind, arr.dtype.itemsize
    if kind == "b":
        pixels = arr.astype(np.uint8) * np.uint8(255)
    elif kind == "u" and itemsize == 1:
        pixels = np.array(arr, dtype=np.uint8, order="C", copy=True)
    elif kind == "u" and itemsize == 2:
        pixels = (arr.astype(np.uint16) >> 8).astype(np.uint8)
    elif kind == "f":
        values = arr.astype(np.float32) if itemsize < 4 else arr
        if not np.isfinite(values).all():
            raise InvalidImageError(f"{name}: array contains NaN or infinite values ({described})")
        lo, hi = float(values.min()), float(values.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidImageError(
                f"{name}: floating-point values must be in [0, 1], got [{lo:g}, {hi:g}] "
                f"({described}); divide by 255 or convert to uint8"
            )
        pixels = np.rint(values * 255.0).astype(np.uint8)
    else:
        raise InvalidImageError(
            f"{name}: unsupported {described}; expected uint8, uint16, bool or float in [0, 1]"
        )

    if pixels.ndim == 2:
        return _grey_to_rgb(pixels)
    channels = pixels.shape[2]
    if channels == 1:
        return _grey_to_rgb(pixels[:, :, 0])
    if channels == 4:
        return _over_white(pixels)
    return np.ascontiguousarray(pixels)
