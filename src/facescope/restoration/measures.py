"""Measurements that tell which degradations an image carries, and how strongly.

:func:`measure` reduces an image (an aligned face crop or a whole photo) to a short
vector of physical measurements; the degradation detectors
(:mod:`facescope.restoration.detectors`) are logistic heads over it. Each measurement says
something a restorer needs to know, not only whether the face will match:

* exposure: mean, 1st and 99th percentile of luminance (darkness);
* noise: the estimated noise level (Immerkaer-style, :func:`estimate_noise_sigma`);
* haze: the dark channel, the refined transmission (:func:`estimate_transmission`),
  saturation and contrast (haze lifts the dark channel, lowers saturation and contrast);
* blur: log Laplacian variance, the share of high-frequency energy, and the length and
  confidence of the cepstrum's motion kernel (:func:`estimate_motion_kernel`);
* rain: thin bright oriented streaks (line top-hats at 8 angles: their strongest
  response and how much stronger it is than the weakest), and how coherently the bright
  fine detail is oriented over the whole image (the structure tensor of the positive
  residual of a 5x5 median: rain's streaks share one direction, near vertical; a face's
  details do not);
* snow: bright compact blobs (a disc top-hat's share of strong responses).

:func:`describe` adds learned texture statistics to them: the per-channel means and
standard deviations of SFace's first two blocks on the 112x112 crop
(:mod:`facescope.models.stem`, :data:`STEM_FEATURES`). On held-out people they found rain
streaks the hand-made measurements missed (6% -> 91% of faces at severity 3, at the same
1% false alarms on clean faces; ``scripts/fit_weather_detectors.py``).

Images are measured at a working size (longest side at most :data:`WORKING_SIDE`), so
a photo and a crop of the same scene measure alike.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from facescope.models.stem import feature_names as stem_names
from facescope.models.stem import stem_statistics
from facescope.restoration.classical import (
    check_image,
    estimate_motion_kernel,
    estimate_noise_sigma,
    estimate_transmission,
)

#: Longest side images are reduced to before measuring.
WORKING_SIDE: Final[int] = 256
#: Names of :func:`measure`'s values, in order.
FEATURES: Final[tuple[str, ...]] = (
    "luma_mean",
    "luma_p01",
    "luma_p99",
    "luma_std",
    "noise_sigma",
    "dark_channel",
    "transmission",
    "saturation",
    "log_laplacian_var",
    "high_frequency_share",
    "motion_length",
    "motion_confidence",
    "streak_max",
    "streak_anisotropy",
    "detail_coherence",
    "detail_vertical",
    "blob_share",
)
#: Names of the learned texture statistics (SFace's stem) that :func:`describe` appends.
STEM_FEATURES: Final[tuple[str, ...]] = tuple(f"stem.{name}" for name in stem_names())
#: Names of :func:`describe`'s values: the measurements, then the stem statistics.
INPUTS: Final[tuple[str, ...]] = FEATURES + STEM_FEATURES


def as_rgb(image: object, what: str = "image") -> npt.NDArray[np.uint8]:
    """The image checked (:func:`~facescope.restoration.classical.check_image`) as RGB."""
    checked = check_image(image, what)
    if checked.ndim == 2:
        return np.ascontiguousarray(np.repeat(checked[:, :, None], 3, axis=2))
    return checked


def working_copy(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """`rgb` reduced (area averaging) so its longest side is at most WORKING_SIDE."""
    longest = max(rgb.shape[:2])
    if longest <= WORKING_SIDE:
        return rgb
    scale = WORKING_SIDE / longest
    size = (max(8, round(rgb.shape[1] * scale)), max(8, round(rgb.shape[0] * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)


def _line_kernel(length: int, angle: float) -> npt.NDArray[np.uint8]:
    kernel = np.zeros((length, length), np.uint8)
    c = (length - 1) / 2
    dx, dy = np.cos(np.deg2rad(angle)) * c, np.sin(np.deg2rad(angle)) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1, 1)
    return kernel


def _streaks(grey: npt.NDArray[np.float32]) -> tuple[float, float]:
    """(strongest mean line top-hat over 8 angles, its ratio to the weakest)."""
    side = min(grey.shape)
    length = max(5, int(side / 10) | 1)
    responses = []
    for angle in range(0, 180, 23):
        kernel = _line_kernel(length, float(angle))
        # a thin bright streak survives an opening along itself, not across it
        opened = cv2.morphologyEx(grey, cv2.MORPH_OPEN, kernel)
        small = cv2.morphologyEx(grey, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        responses.append(float(np.mean(np.clip(opened - small, 0, None))))
    top, low = max(responses), min(responses)
    return top, (top + 1e-4) / (low + 1e-4)


def _coherence(grey8: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """(orientation coherence of bright fine detail, the same signed towards vertical streaks)."""
    grey = grey8.astype(np.float32) / 255.0
    detail = np.clip(grey - cv2.medianBlur(grey8, 5).astype(np.float32) / 255.0, 0, None)
    gx = cv2.Sobel(detail, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(detail, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    coherence = np.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy + 1e-9)
    angle = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # of the gradients: 0 for vertical streaks
    return float(coherence), float(coherence * np.cos(2 * angle))


def _blobs(grey: npt.NDArray[np.float32]) -> float:
    """Share of pixels in bright compact blobs (a disc white top-hat above 0.15)."""
    side = min(grey.shape)
    radius = max(2, round(side / 40))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, disc)
    return float(np.mean(tophat > 0.15))


def measure(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """The :data:`FEATURES` of one image (RGB or grey uint8)."""
    rgb = working_copy(as_rgb(image))
    grey8 = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
    grey = grey8.astype(np.float32) / 255.0
    p01, p99 = np.percentile(grey, [1, 99])
    side = min(grey.shape)
    patch = max(3, (side // 16) | 1)
    dark = cv2.erode(rgb.min(axis=2), np.ones((patch, patch), np.uint8)).astype(np.float64)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
    yy, xx = np.indices(spectrum.shape)
    radius = np.hypot((yy - spectrum.shape[0] / 2) / spectrum.shape[0],
                      (xx - spectrum.shape[1] / 2) / spectrum.shape[1])  # fmt: skip
    total = float(spectrum.sum()) + 1e-12
    kernel = estimate_motion_kernel(rgb)
    streak, anisotropy = _streaks(grey)
    coherence, vertical = _coherence(grey8)
    values = (
        float(grey.mean()),
        float(p01),
        float(p99),
        float(grey.std()),
        float(estimate_noise_sigma(rgb)) / 255.0,
        float(dark.mean()) / 255.0,
        float(estimate_transmission(rgb)),
        float(hsv[..., 1].mean()) / 255.0,
        float(np.log(laplacian.var() + 1e-8)),
        float(spectrum[radius > 0.25].sum()) / total,
        float(kernel.length) / side,
        float(kernel.confidence),
        streak,
        float(np.log(anisotropy)),
        coherence,
        vertical,
        _blobs(grey),
    )
    out = np.asarray(values, np.float64)
    if not np.all(np.isfinite(out)):
        out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def stem_of(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """The :data:`STEM_FEATURES` of one image: an aligned 112 crop, or any image resized."""
    rgb = as_rgb(image)
    if rgb.shape[:2] != (112, 112):
        rgb = np.asarray(cv2.resize(rgb, (112, 112), interpolation=cv2.INTER_AREA), np.uint8)
    out = stem_statistics(rgb[None])[0]
    return np.asarray(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), np.float64)


def describe(image: npt.NDArray[np.uint8], *, stem: bool = True) -> npt.NDArray[np.float64]:
    """The :data:`INPUTS` of one image (only the :data:`FEATURES` with ``stem=False``)."""
    values = measure(image)
    return np.concatenate([values, stem_of(image)]) if stem else values


__all__ = [
    "FEATURES",
    "INPUTS",
    "STEM_FEATURES",
    "WORKING_SIDE",
    "as_rgb",
    "describe",
    "measure",
    "stem_of",
    "working_copy",
]
