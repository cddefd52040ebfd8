"""Image cues of presentation attacks, measured on the 112x112 aligned face crop.

Each cue group turns a crop into a fixed-length vector (the classifier's input)
and a few named statistics (the evidence a person reads):

* ``chroma_texture``: uniform LBP histograms (P=8 at radii 1 and 2) of the
  chroma channels Cb, Cr (YCbCr) and H, S (HSV): recapture through paper or a
  screen changes the joint structure of colour and texture (Boulkenafet et al.
  2016, colour-texture face anti-spoofing);
* ``luma_texture``: the same on the brightness channels Y and V;
* ``frequency``: the radial power spectrum in log-spaced bands plus the height
  of the strongest isolated peak, for the periodic patterns of screen moiré
  and print halftone;
* ``sharpness``: Laplacian variance and the high/mid frequency energy ratio
  (recaptured images lose fine detail);
* ``specular``: highlights (bright, unsaturated pixels) and brightness spread,
  for glossy paper and screen glare;
* ``colour``: saturation, contrast, black and white level, chroma spread
  (gamut compression of prints and screens).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.pad.lbp import uniform_lbp

FloatArray = npt.NDArray[np.float64]
CROP = 112
_LBP_BINS = 10  # uniform LBP with P=8: 9 uniform codes + 1 non-uniform
_BANDS = np.geomspace(2.0, CROP / 2, 13)  # radial band edges in FFT bins


class PADError(FacescopeError, ValueError):
    """Input that presentation-attack detection cannot use."""


@dataclass(frozen=True)
class CueValues:
    """One cue group on one crop: the classifier's vector and readable statistics."""

    vector: FloatArray
    stats: dict[str, float]


def check_crop(crop: object) -> npt.NDArray[np.uint8]:
    """The crop as a 112x112x3 uint8 array, or a specific :class:`PADError`."""
    if not isinstance(crop, np.ndarray):
        raise PADError(f"a face crop must be a numpy array, got {type(crop).__name__}")
    if crop.dtype != np.uint8:
        raise PADError(f"a face crop must be uint8 RGB, got dtype {crop.dtype}")
    if crop.shape != (CROP, CROP, 3):
        raise PADError(
            f"a face crop must be the {CROP}x{CROP}x3 aligned crop (facescope.align), "
            f"got shape {crop.shape}"
        )
    return crop


def _lbp_histograms(channels: list[npt.NDArray[np.uint8]]) -> FloatArray:
    parts = []
    for channel in channels:
        for radius in (1, 2):
            codes = uniform_lbp(channel, 8, radius)
            hist = np.bincount(codes.astype(np.int64).ravel(), minlength=_LBP_BINS)
            parts.append(hist[:_LBP_BINS] / max(hist.sum(), 1))
    return np.concatenate(parts).astype(np.float64)


def _spaces(crop: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)  # Y, Cr, Cb
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    return np.asarray(ycc), np.asarray(hsv)


def chroma_texture(crop: npt.NDArray[np.uint8]) -> CueValues:
    """LBP histograms of Cb, Cr, H and S."""
    ycc, hsv = _spaces(crop)
    vector = _lbp_histograms([ycc[..., 2], ycc[..., 1], hsv[..., 0], hsv[..., 1]])
    flat = float(np.mean(vector[0 : 2 * _LBP_BINS].reshape(2, -1)[:, 8]))  # flat-region codes
    return CueValues(vector, {"chroma_flat_share": flat})


def luma_texture(crop: npt.NDArray[np.uint8]) -> CueValues:
    """LBP histograms of Y and V."""
    ycc, hsv = _spaces(crop)
    vector = _lbp_histograms([ycc[..., 0], hsv[..., 2]])
    return CueValues(vector, {"luma_nonuniform_share": float(vector[_LBP_BINS - 1])})


def _power(grey: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    window = np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2)
    return np.asarray(spectrum, dtype=np.float64)


def _radius() -> npt.NDArray[np.float64]:
    yy, xx = np.mgrid[0:CROP, 0:CROP] - CROP // 2
    return np.asarray(np.hypot(yy, xx), dtype=np.float64)


_RADIUS = _radius()


def frequency(crop: npt.NDArray[np.uint8]) -> CueValues:
    """Share of power per radial band and the strongest isolated high-frequency peak."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    power = _power(grey)
    total = float(power[_BANDS[0] <= _RADIUS].sum()) + 1e-12
    edges = itertools.pairwise(_BANDS)
    bands = np.array([power[(lo <= _RADIUS) & (hi > _RADIUS)].sum() / total for lo, hi in edges])
    high = power[_RADIUS >= CROP / 8]
    log_high = np.log(high + 1e-12)
    peak = float(np.max(log_high) - np.median(log_high))  # a periodic pattern stands out
    vector = np.concatenate([np.log(bands + 1e-9), [peak]])
    return CueValues(vector, {"periodic_peak": peak, "high_band_share": float(bands[-3:].sum())})


def sharpness(crop: npt.NDArray[np.uint8]) -> CueValues:
    """Laplacian variance and high/mid frequency energy ratio (fine detail)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = float(np.var(cv2.Laplacian(grey, cv2.CV_64F)))
    power = _power(grey / 255.0)
    mid = float(power[(_RADIUS >= 6) & (_RADIUS < 16)].sum()) + 1e-12
    hi = float(power[(_RADIUS >= 28) & (_RADIUS < 56)].sum()) + 1e-12
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1)
    gradient = float(np.mean(np.hypot(gx, gy)))
    ratio = float(np.log(hi / mid))
    vector = np.array([np.log1p(lap), ratio, np.log1p(gradient)])
    return CueValues(vector, {"laplacian_variance": lap, "high_mid_log_ratio": ratio})


def specular(crop: npt.NDArray[np.uint8]) -> CueValues:
    """Share of highlight pixels (bright, unsaturated) and brightness spread."""
    _, hsv = _spaces(crop)
    v = hsv[..., 2].astype(np.float64) / 255.0
    s = hsv[..., 1].astype(np.float64) / 255.0
    highlight = (v > 0.92) & (s < 0.25)
    share = float(highlight.mean())
    vector = np.array(
        [np.log(share + 1e-4), float(np.percentile(v, 99)), float(v.std()), float(v.mean())]
    )
    return CueValues(vector, {"highlight_share": share, "brightness": float(v.mean())})


def colour(crop: npt.NDArray[np.uint8]) -> CueValues:
    """Saturation, contrast, black/white level and chroma spread."""
    ycc, hsv = _spaces(crop)
    y = ycc[..., 0].astype(np.float64) / 255.0
    s = hsv[..., 1].astype(np.float64) / 255.0
    cr = ycc[..., 1].astype(np.float64) / 255.0
    cb = ycc[..., 2].astype(np.float64) / 255.0
    p1, p99 = np.percentile(y, [1, 99])
    vector = np.array(
        [s.mean(), s.std(), y.std(), p1, p99, cr.std(), cb.std(), cr.mean(), cb.mean()]
    )
    stats = {"saturation": float(s.mean()), "contrast": float(y.std()), "black_level": float(p1)}
    return CueValues(vector, stats)


#: The cue groups, in the classifier's order.
CUES: dict[str, Callable[[npt.NDArray[np.uint8]], CueValues]] = {
    "chroma_texture": chroma_texture,
    "luma_texture": luma_texture,
    "frequency": frequency,
    "sharpness": sharpness,
    "specular": specular,
    "colour": colour,
}


def measure(crop: npt.NDArray[np.uint8], groups: list[str] | None = None) -> dict[str, CueValues]:
    """Every cue group (or the named ones) on one aligned crop."""
    crop = check_crop(crop)
    names = list(CUES) if groups is None else groups
    unknown = [n for n in names if n not in CUES]
    if unknown:
        raise PADError(f"unknown PAD cue group(s) {unknown}; known: {sorted(CUES)}")
    return {name: CUES[name](crop) for name in names}


__all__ = ["CROP", "CUES", "CueValues", "PADError", "check_crop", "measure"]
