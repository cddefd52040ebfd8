"""Style-randomised weather for training: rain, snow and haze drawn from a wider family.

:func:`facescope.weather.degrade` renders each kind by one physical model. A detector or a
network trained only on it learns that model's look: rain drawn as 1 px bright strokes,
in a benchmark written apart from the synthesiser (``benchmarks/bench_weather_other.py``),
was found on 29-50% of faces, and the weather-adapted SFace, even when forced on them,
gave back a third of the loss on celebrities. :func:`vary` draws the same kinds from a
family of renderers and parameters, the way rain, snow and fog are drawn by common image
tools and augmentation libraries (domain randomisation):

* ``rain``: antialiased strokes (1-3 px wide, 6-28% of the side long, within 35 degrees
  of vertical) or sparse noise smeared along the fall direction and levelled (the
  photo-editor recipe); added, screen-blended or alpha-blended towards a light colour;
  optionally blurred; often over a darkened scene and a veil;
* ``snow``: round flakes (0.5-3.5 px), optionally smeared by their fall, or bright
  speckle from thresholded smoothed noise; alpha-blended; often over a light veil;
* ``haze``: a veil towards a light airlight, flat, graded across the image, or by
  scattering in linear light, with a slight loss of detail.

Severity 1-5 sets the mean strength (coverage, veil), and every draw spreads it widely,
so a severity here is only roughly comparable with :func:`degrade`'s. For training only
(``weather.train.degraded_batch(variety=...)``, ``scripts/fit_weather_detectors.py
--variety``); measurements use :func:`degrade` and the other benchmark's effects.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

#: Kinds :func:`vary` can draw.
VARIED: Final[tuple[str, ...]] = ("haze", "rain", "snow")

_F32 = npt.NDArray[np.float32]
#: mean share of the pixels covered by rain strokes or snow, per severity
_RAIN_COVER = (0.03, 0.05, 0.08, 0.12, 0.17)
_SNOW_COVER = (0.03, 0.06, 0.10, 0.15, 0.22)
#: mean haze veil opacity, per severity
_HAZE_VEIL = (0.15, 0.25, 0.36, 0.48, 0.60)


def vary(
    image: npt.NDArray[np.uint8], kind: str, severity: int, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """`image` (RGB or grey uint8) with `kind` drawn from the wide family, at `severity`."""
    if kind not in VARIED:
        raise WeatherError(f"vary draws {', '.join(VARIED)}; got {kind!r}")
    if not (isinstance(severity, int) and 1 <= severity <= 5):
        raise WeatherError(f"severity must be an int in 1..5, got {severity!r}")
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or min(img.shape[:2]) < 8:
        raise WeatherError(f"vary needs a uint8 image of at least 8x8, got {img.shape}")
    grey = img.ndim == 2
    x = (img[..., None] if grey else img).astype(np.float32) / np.float32(255.0)
    out = {"haze": _haze, "rain": _rain, "snow": _snow}[kind](x, severity - 1, rng)
    out8 = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out8[..., 0] if grey else out8)


def _light(rng: np.random.Generator, low: float, high: float, channels: int) -> _F32:
    level = rng.uniform(low, high)
    tint = rng.uniform(-0.04, 0.04, 3) if channels == 3 else np.zeros(1)
    return np.clip(level * (1.0 + tint[:channels]), 0.0, 1.0).astype(np.float32)


def _blur(layer: _F32, sigma: float) -> _F32:
    if sigma < 0.2:
        return layer
    return np.asarray(cv2.GaussianBlur(layer, (0, 0), sigma), np.float32)


def _smear(layer: _F32, k: int, angle_deg: float, scale: float = 1.0) -> _F32:
    """`layer` averaged along a k px line turned `angle_deg` from vertical, times `scale`."""
    kernel = np.zeros((k, k), np.float32)
    kernel[:, k // 2] = 1.0
    turn = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), angle_deg, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, turn, (k, k)), np.float32)
    return np.asarray(cv2.filter2D(layer, -1, kernel / max(float(kernel.sum()), 1e-6) * scale))


def _blend(x: _F32, layer: _F32, colour: _F32, mode: int) -> _F32:
    """Light `layer` (h, w) in [0, 1] laid over `x`: added, screened or alpha-blended."""
    a = np.clip(layer, 0.0, 1.0)[..., None]
    if mode == 0:
        return np.asarray(np.clip(x + a * colour, 0.0, 1.0), np.float32)
    if mode == 1:
        return np.asarray(1.0 - (1.0 - x) * (1.0 - a * colour), np.float32)
    return np.asarray(x * (1.0 - a) + colour * a, np.float32)


def _rain(x: _F32, s: int, rng: np.random.Generator) -> _F32:
    h, w, c = x.shape
    side = min(h, w)
    if rng.random() < 0.5:  # an overcast scene
        x = x * np.float32(rng.uniform(0.6, 0.95))
    angle = np.deg2rad(rng.uniform(-35.0, 35.0))
    cover = _RAIN_COVER[s] * rng.uniform(0.6, 1.6)
    length = side * rng.uniform(0.06, 0.28)
    peak = min(1.0, rng.uniform(0.45, 0.8) + 0.05 * s)
    layer = np.zeros((h, w), np.float32)
    if rng.random() < 0.6:  # strokes
        thick = int(rng.choice((1, 1, 2, 3)))
        n = int(cover * h * w / (length * thick)) + 1
        jitter = rng.uniform(1.0, 6.0)
        for _ in range(n):
            a = angle + np.deg2rad(rng.normal(0.0, jitter))
            ell = length * rng.uniform(0.5, 1.2)
            x0, y0 = rng.uniform(-0.2 * w, w), rng.uniform(-0.3 * h, h)
            x1, y1 = x0 + ell * np.sin(a), y0 + ell * np.cos(a)
            pts = [round(v * 16) for v in (x0, y0, x1, y1)]
            cv2.line(layer, (pts[0], pts[1]), (pts[2], pts[3]), float(rng.uniform(0.4, 1.0)),
                     thick, cv2.LINE_AA, shift=4)  # fmt: skip
    else:  # sparse noise smeared along the fall and levelled
        seeds = (rng.random((h, w)) < cover / max(length, 1.0) * 4).astype(np.float32)
        seeds *= rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
        k = max(3, int(length) | 1)
        layer = _smear(seeds, k, float(np.rad2deg(angle)), k / 3)
        lo, hi = np.quantile(layer, (1.0 - 1.5 * cover, 1.0 - 0.3 * cover))
        layer = np.clip((layer - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    soft = _blur(layer, rng.uniform(0.0, 1.2))  # out of focus, kept as bright
    layer = np.clip(soft * (float(layer.max()) / max(float(soft.max()), 1e-6)), 0.0, 1.0)
    layer *= np.float32(peak)
    out = _blend(x, layer, _light(rng, 0.8, 1.0, c), int(rng.integers(0, 3)))
    if rng.random() < 0.5:
        veil = np.float32(rng.uniform(0.0, 0.04 + 0.03 * s))
        out = out * (1 - veil) + _light(rng, 0.6, 0.9, c) * veil
    return out


def _snow(x: _F32, s: int, rng: np.random.Generator) -> _F32:
    h, w, c = x.shape
    side = min(h, w)
    if rng.random() < 0.6:  # a light veil of falling snow
        veil = np.float32(rng.uniform(0.0, 0.05 + 0.04 * s))
        x = x * (1 - veil) + _light(rng, 0.8, 1.0, c) * veil
    cover = _SNOW_COVER[s] * rng.uniform(0.6, 1.5)
    if rng.random() < 0.65:  # round flakes
        radius = side / 112 * rng.uniform(0.5, 3.5)
        n = int(cover * h * w / (np.pi * radius**2)) + 1
        layer = np.zeros((h, w), np.float32)
        for _ in range(n):
            r = max(1, round(radius * rng.uniform(0.5, 1.2) * 16))
            centre = (round(rng.uniform(0, w) * 16), round(rng.uniform(0, h) * 16))
            cv2.circle(layer, centre, r, float(rng.uniform(0.5, 1.0)), -1, cv2.LINE_AA, 4)
        if rng.random() < 0.4:  # smeared by the fall
            k = int(rng.integers(2, 7)) | 1
            layer = _smear(layer, k, float(rng.uniform(-40, 40))) * np.float32(1.5)
        layer = _blur(layer, rng.uniform(0.3, 1.2))
    else:  # bright speckle: smoothed noise, thresholded
        noise = _blur(rng.random((h, w)).astype(np.float32), rng.uniform(0.5, 2.0))
        cut = float(np.quantile(noise, 1.0 - cover))
        layer = np.clip((noise - cut) / max(float(noise.max()) - cut, 1e-6) * 2.5, 0.0, 1.0)
    layer = np.clip(layer, 0.0, 1.0) * np.float32(rng.uniform(0.6, 1.0))
    return _blend(x, layer, _light(rng, 0.85, 1.0, c), int(rng.choice((1, 2, 2))))


def _haze(x: _F32, s: int, rng: np.random.Generator) -> _F32:
    h, w, c = x.shape
    veil = float(np.clip(_HAZE_VEIL[s] * rng.uniform(0.7, 1.3), 0.05, 0.85))
    airlight = _light(rng, 0.6, 0.98, c)
    style = int(rng.integers(0, 3))
    if style == 1:  # graded across the image along a random direction
        turn = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = (np.cos(turn) * (xx / w - 0.5) + np.sin(turn) * (yy / h - 0.5)) * 2
        opacity = np.clip(veil * (1.0 + 0.5 * ramp), 0.0, 0.95)[..., None]
    else:
        opacity = np.full((h, w, 1), veil, np.float32)
    if style == 2:  # scattering in linear light
        lin, air = x**2.2, airlight**2.2
        out = (lin * (1 - opacity) + air * opacity) ** (1 / 2.2)
    else:
        out = x * (1 - opacity) + airlight * opacity
    if rng.random() < 0.5:  # scattering also softens detail
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 0.9)), np.float32)
        out = out.reshape(h, w, c)
    return np.asarray(out, np.float32)


__all__ = ["VARIED", "vary"]
