"""Capture spectra (visible, near-infrared, thermal) and a statistics-based guess of one.

Templates made from a NIR camera and from a colour camera should not be compared with
one threshold; the spectrum of each capture is recorded as a :class:`Spectrum`, set by
the caller (who knows the camera) or, failing that, guessed from the image with
:func:`guess_spectrum`.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from facescope.spectral._checks import rgb_image
from facescope.spectral.errors import UnknownSpectrumError


class Spectrum(StrEnum):
    """The band a face image was captured in."""

    VIS = "vis"
    NIR = "nir"
    THERMAL = "thermal"


_ALIASES = {
    "vis": Spectrum.VIS,
    "visible": Spectrum.VIS,
    "rgb": Spectrum.VIS,
    "colour": Spectrum.VIS,
    "color": Spectrum.VIS,
    "nir": Spectrum.NIR,
    "near-infrared": Spectrum.NIR,
    "near_infrared": Spectrum.NIR,
    "ir": Spectrum.NIR,
    "thermal": Spectrum.THERMAL,
    "lwir": Spectrum.THERMAL,
    "tir": Spectrum.THERMAL,
}


def parse_spectrum(value: Spectrum | str) -> Spectrum:
    """A :class:`Spectrum` from itself or a name (case-insensitive; "visible", "ir", "lwir"
    and a few other aliases accepted). Raises :class:`UnknownSpectrumError` otherwise."""
    if isinstance(value, Spectrum):
        return value
    if not isinstance(value, str):
        raise UnknownSpectrumError(
            f"spectrum must be a Spectrum or a name, got {type(value).__name__}"
        )
    found = _ALIASES.get(value.strip().lower())
    if found is None:
        names = ", ".join(repr(s.value) for s in Spectrum)
        raise UnknownSpectrumError(f"unknown spectrum {value!r}; choose one of: {names}")
    return found


def spectrum_order(spectrum: Spectrum) -> int:
    """Position of `spectrum` in the declaration order (vis, nir, thermal)."""
    return list(Spectrum).index(spectrum)


def pair_key(a: Spectrum | str, b: Spectrum | str) -> tuple[Spectrum, Spectrum]:
    """The canonical (unordered) spectrum pair: ``pair_key("nir", "vis") == (VIS, NIR)``."""
    first, second = parse_spectrum(a), parse_spectrum(b)
    if spectrum_order(first) > spectrum_order(second):
        first, second = second, first
    return first, second


def pair_name(a: Spectrum | str, b: Spectrum | str) -> str:
    """``"vis-nir"`` style name of the unordered pair."""
    first, second = pair_key(a, b)
    return f"{first.value}-{second.value}"


# --------------------------------------------------------------------------- guessing

#: Mean chroma (YCbCr distance from grey, 0..255 units) below which an image is greyscale.
#: JPEG-compressed greyscale stays under 1; colour face photos are typically above 8.
GREY_CHROMA = 3.0
#: Texture (mean |Laplacian| / grey std, image resized to 112 px on its short side) below
#: which a greyscale image is taken for thermal rather than NIR.
THERMAL_TEXTURE = 0.08
#: Mean RGB distance (0..255 units) to the nearest entry of a common false-colour palette
#: below which a colour image is taken for a palette rendering of one scalar (heat).
PALETTE_DISTANCE = 10.0
#: The palettes recognised (OpenCV's colour maps; ironbow-like ones are close to inferno/hot).
PALETTES = ("JET", "TURBO", "INFERNO", "MAGMA", "PLASMA", "HOT", "RAINBOW", "HSV", "PARULA")
_SIZE = 112


@dataclass(frozen=True)
class SpectrumStatistics:
    """The image statistics :func:`guess_spectrum` decides on.

    Attributes:
        chroma: mean YCbCr chroma magnitude (0..255 units); ~0 for greyscale.
        saturation: mean HSV saturation (0..1).
        texture: mean absolute Laplacian over grey standard deviation at 112 px;
            high-frequency detail relative to contrast (thermal images are smooth).
        palette_distance: mean RGB distance (0..255) of the pixels to the closest entry
            of the nearest false-colour palette in :data:`PALETTES`; ~0 for a rendering
            through one of them, tens for photographs; ``inf`` (not computed) for
            greyscale images.
        palette: name of that nearest palette ("" for greyscale images).
        inverted: mean grey of the central region is darker than the border (a weak
            cue of thermal "black-hot" or inverted captures; reported, not decided on).
    """

    chroma: float
    saturation: float
    texture: float
    palette_distance: float
    palette: str
    inverted: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON values (an infinite palette distance becomes None)."""
        out = asdict(self)
        if not np.isfinite(self.palette_distance):
            out["palette_distance"] = None
        return out


def spectrum_statistics(image: Any) -> SpectrumStatistics:
    """Compute the statistics of an RGB uint8 (H, W, 3) image; see :class:`SpectrumStatistics`."""
    rgb = rgb_image(image)
    height, width = rgb.shape[:2]
    scale = _SIZE / min(height, width)
    small = cv2.resize(
        rgb,
        (max(2, round(width * scale)), max(2, round(height * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    ycc = cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    chroma = float(np.hypot(ycc[..., 1] - 128.0, ycc[..., 2] - 128.0).mean())
    saturation = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float64) / 255.0
    grey = ycc[..., 0]
    spread = float(np.std(grey))
    lap = cv2.Laplacian(grey, cv2.CV_64F, ksize=1)
    texture = float(np.abs(lap).mean() / max(spread, 1.0))
    palette, distance = _nearest_palette(small) if chroma >= GREY_CHROMA else ("", float("inf"))
    h, w = grey.shape
    inner = np.zeros(grey.shape, bool)
    inner[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
    return SpectrumStatistics(
        chroma=chroma,
        saturation=float(saturation.mean()),
        texture=texture,
        palette_distance=distance,
        palette=palette,
        inverted=bool(grey[inner].mean() < grey[~inner].mean()),
    )


@functools.cache
def _palettes() -> dict[str, np.ndarray]:
    """(256, 3) float RGB tables of the OpenCV colour maps named in :data:`PALETTES`."""
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    tables = {}
    for name in PALETTES:
        code = getattr(cv2, f"COLORMAP_{name}", None)
        if code is not None:
            bgr = cv2.applyColorMap(ramp, code).reshape(256, 3)
            tables[name.lower()] = bgr[:, ::-1].astype(np.float32)
    return tables


def _nearest_palette(rgb: np.ndarray) -> tuple[str, float]:
    """The palette whose entries are closest to the pixels, and the mean distance."""
    flat = rgb.reshape(-1, 3)
    pixels = flat[:: max(1, len(flat) // 1024)].astype(np.float32)
    best, best_distance = "", float("inf")
    for name, table in _palettes().items():
        d2 = (pixels**2).sum(1)[:, None] - 2 * pixels @ table.T + (table**2).sum(1)[None, :]
        distance = float(np.sqrt(np.maximum(d2.min(axis=1), 0)).mean())
        if distance < best_distance:
            best, best_distance = name, distance
    return best, best_distance


def guess_spectrum(image: Any) -> Spectrum:
    """Guess the capture spectrum of an RGB uint8 (H, W, 3) image from its statistics.

    Rules (see :func:`spectrum_statistics` for the numbers):

    * a colour image whose pixels all lie on a common false-colour palette (jet, turbo,
      inferno, hot, ...; :data:`PALETTES`) is a heat-map rendering, guessed ``THERMAL``;
    * any other image with colour (mean chroma >= :data:`GREY_CHROMA`) is ``VIS``;
    * a greyscale image with very little fine texture (:data:`THERMAL_TEXTURE`) is
      ``THERMAL``, other greyscale images ``NIR``.

    What this can and cannot tell apart, honestly: colour versus greyscale is reliable.
    Everything else is a heuristic. A greyscale *visible-light* photo (a black-and-white
    print, a monochrome camera) is indistinguishable from NIR by these statistics and is
    guessed NIR; a colour-tinted NIR capture (some cameras add a cast) may be guessed VIS.
    Thermal versus NIR rests on texture alone (long-wave IR shows heat, not skin detail),
    so a blurred or low-resolution NIR image can pass for thermal and a sharp thermal
    image with hair and glasses edges for NIR. Any rendering through a known palette (a
    depth map, a heat map) is called thermal, and a false-colour thermal image through an
    unknown palette is called VIS. Thresholds were set on synthetic examples
    (greyscale, blurred and colour-mapped versions of public-domain photos), not on real
    thermal or NIR data. When the camera is known, set the spectrum instead of guessing.
    """
    stats = spectrum_statistics(image)
    if stats.chroma >= GREY_CHROMA and stats.palette_distance < PALETTE_DISTANCE:
        return Spectrum.THERMAL
    if stats.chroma >= GREY_CHROMA:
        return Spectrum.VIS
    if stats.texture < THERMAL_TEXTURE:
        return Spectrum.THERMAL
    return Spectrum.NIR
