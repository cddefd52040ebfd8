"""Bad weather and bad capture synthesised on clean photos: rain, snow, haze, low light...

:func:`degrade` applies one kind of degradation, or several, at a severity from 1
(mild) to 5 (extreme); :func:`degrade_with_info` also returns what was applied,
with the true strength of each effect (haze ``beta`` and mean transmission, blur
length and angle, noise sigma, exposure factor, rain/snow coverage...), for fitting
and testing detectors and restorers.

Each kind is a small physical model rather than a filter:

* ``"haze"``: atmospheric scattering ``I = J t + A (1 - t)``, ``t = exp(-beta d)``,
  with a near-white airlight ``A`` and a depth map ``d`` (given, or a smooth proxy);
* ``"rain"``: two or three depth layers of motion-blurred drops along one direction
  (within 25 degrees of vertical), screen-blended, plus a veil and a slight blur of
  the scene behind the nearest streaks;
* ``"snow"``: soft opaque flakes of several sizes (some elongated by their fall),
  alpha-composited over the scene, plus a mild veil;
* ``"low_light"``: the irradiance scaled down, then a sensor (Poisson photon noise,
  Gaussian read noise, ADC quantisation); the result is dark *and* noisy;
* ``"motion_blur"``: a linear camera-motion kernel, sub-pixel accurate, optionally
  slightly curved by shake;
* ``"noise"``: signal-dependent Gaussian noise (variance ``a x + b**2``);
* ``"jpeg"``: a re-encode with OpenCV at a low quality.

Light mixes linearly, so every optical effect (haze, rain, snow, motion blur, low
light) is computed in linear light (sRGB gamma undone, then redone); noise and JPEG
act on the encoded sRGB values, as in a camera. Combined kinds always run in the
physical order of :data:`ORDER` (scene, then optics, then sensor, then codec),
whatever order they are given in.

Pixel-sized parameters (streak lengths, flake radii, blur lengths) are fractions of
the image's shorter side, so a 112 px face crop and a 640 px photo degrade alike
at the same severity. Everything random comes from ``np.random.default_rng(seed)``
(one independent stream per kind), so a seed reproduces the output byte for byte,
and a kind draws the same parameters alone or combined with others.

``scripts/figure_weather.py`` draws the example figure (``docs/weather_samples.png``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

__all__ = [
    "KINDS",
    "MIN_SIDE",
    "ORDER",
    "SEVERITIES",
    "Degradation",
    "degrade",
    "degrade_with_info",
    "motion_blur_along",
]

UInt8Image = npt.NDArray[np.uint8]
_F32 = npt.NDArray[np.float32]

#: Kinds of degradation :func:`degrade` can synthesise.
KINDS: tuple[str, ...] = ("rain", "snow", "haze", "low_light", "motion_blur", "noise", "jpeg")
#: The order in which combined kinds are applied: scene (haze, then precipitation in
#: front of it), camera motion, exposure and sensor, then the codec.
ORDER: tuple[str, ...] = ("haze", "rain", "snow", "motion_blur", "low_light", "noise", "jpeg")
#: Valid severities: 1 mild, 3 moderate, 5 extreme.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Shortest image side accepted.
MIN_SIDE = 8

# ----------------------------------------------------------------------------- per severity
# index = severity - 1; lengths and radii are fractions of the shorter image side

#: haze extinction coefficient (per unit of depth in [0, 1]); jittered +-10%
_HAZE_BETA = (0.5, 0.9, 1.4, 2.1, 3.0)
#: rain: fraction of pixels covered by streaks, near streak length and width, near
#: streak peak intensity, veil (contrast loss)
_RAIN_COVERAGE = (0.02, 0.04, 0.07, 0.11, 0.16)
_RAIN_LENGTH = (0.05, 0.07, 0.09, 0.11, 0.14)
_RAIN_WIDTH = (0.004, 0.005, 0.006, 0.007, 0.008)
_RAIN_INTENSITY = (0.35, 0.4, 0.45, 0.5, 0.55)
_RAIN_VEIL = (0.02, 0.04, 0.07, 0.10, 0.14)
#: rain layers, far to near: (length, width, intensity scale, share of the coverage)
_RAIN_LAYERS = ((0.4, 0.5, 0.35, 0.3), (0.65, 0.7, 0.6, 0.35), (1.0, 1.0, 1.0, 0.35))
#: snow: fraction of pixels covered by flakes, near flake radius, veil
_SNOW_COVERAGE = (0.03, 0.06, 0.10, 0.15, 0.22)
_SNOW_RADIUS = (0.008, 0.011, 0.014, 0.018, 0.022)
_SNOW_VEIL = (0.03, 0.05, 0.08, 0.11, 0.15)
#: snow layers, far to near: (radius scale, opacity, share of the coverage)
_SNOW_LAYERS = ((0.3, 0.6, 0.35), (0.55, 0.8, 0.3), (1.0, 0.95, 0.35))
#: low light: exposure factor (fraction of the scene irradiance reaching the sensor)
_EXPOSURE = (0.35, 0.18, 0.09, 0.05, 0.03)
#: motion blur length (fraction of the shorter side)
_BLUR_LENGTH = (0.02, 0.04, 0.06, 0.09, 0.12)
#: noise sigma at mid-grey (of 255)
_NOISE_SIGMA = (3.0, 6.0, 10.0, 16.0, 25.0)
#: JPEG quality
_JPEG_QUALITY = (60, 40, 25, 15, 8)

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class Degradation:
    """One degradation that was applied.

    Attributes:
        kind: one of :data:`KINDS`.
        severity: 1..5.
        params: its true strength, e.g. ``beta`` and ``mean_transmission`` (haze),
            ``length_px`` and ``angle_deg`` (motion blur), ``sigma`` (noise, of 255),
            ``exposure`` (low light), ``coverage`` (rain, snow), ``quality`` (JPEG).
    """

    kind: str
    severity: int
    params: dict[str, float]


# ----------------------------------------------------------------------------- validation


def _check_image(image: Any) -> UInt8Image:
    if not isinstance(image, np.ndarray):
        raise WeatherError(
            "image must be a numpy array (RGB uint8 H x W x 3, or greyscale uint8 H x W), "
            f"got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise WeatherError(
            f"image must have dtype uint8 (0-255), got {image.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if image.ndim == 3 and image.shape[2] != 3:
        hint = " (drop the alpha channel: image[..., :3])" if image.shape[2] == 4 else ""
        hint = " (squeeze it: image[..., 0])" if image.shape[2] == 1 else hint
        raise WeatherError(
            f"image must be RGB (H, W, 3) or greyscale (H, W), got shape {image.shape}{hint}"
        )
    if image.ndim not in (2, 3):
        raise WeatherError(
            f"image must be RGB (H, W, 3) or greyscale (H, W), got {image.ndim} dimensions "
            f"(shape {image.shape})"
        )
    if image.size == 0:
        raise WeatherError(f"image is empty (shape {image.shape})")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise WeatherError(
            f"image is too small ({h}x{w}); both sides must be at least {MIN_SIDE} px"
        )
    return np.ascontiguousarray(image)


def _check_kinds(kind: Any) -> list[str]:
    """The requested kinds, deduplicated, in the fixed :data:`ORDER`."""
    known = ", ".join(repr(k) for k in KINDS)
    if isinstance(kind, str):
        kinds: list[Any] = [kind]
    elif isinstance(kind, Sequence | set | frozenset) and not isinstance(kind, bytes):
        kinds = list(kind)
        if not kinds:
            raise WeatherError(f"kind is an empty sequence; give one or more of {known}")
    else:
        raise WeatherError(
            f"kind must be a string or a sequence of strings (one or more of {known}), "
            f"got {type(kind).__name__}"
        )
    for k in kinds:
        if not isinstance(k, str) or k not in KINDS:
            raise WeatherError(f"unknown degradation kind {k!r}; known kinds: {known}")
    return [k for k in ORDER if k in kinds]


def _check_severity(severity: Any) -> int:
    if isinstance(severity, bool | np.bool_) or not isinstance(severity, numbers.Integral):
        raise WeatherError(
            f"severity must be an int in 1..5 (1 mild, 3 moderate, 5 extreme), "
            f"got {severity!r} ({type(severity).__name__})"
        )
    value = int(severity)
    if value not in SEVERITIES:
        raise WeatherError(f"severity must be in 1..5 (1 mild, 5 extreme), got {value}")
    return value


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise WeatherError(f"seed must be a non-negative int, got {type(seed).__name__}")
    if int(seed) < 0:
        raise WeatherError(f"seed must be a non-negative int, got {int(seed)}")
    return int(seed)


def _check_depth(depth: Any, h: int, w: int) -> _F32 | None:
    if depth is None:
        return None
    if not isinstance(depth, np.ndarray):
        raise WeatherError(
            f"depth must be a numpy array of shape ({h}, {w}) with values in [0, 1], "
            f"got {type(depth).__name__}"
        )
    if depth.shape != (h, w):
        raise WeatherError(
            f"depth must have the image's shape ({h}, {w}) (0 near, 1 far), got {depth.shape}"
        )
    if depth.dtype == np.bool_ or not np.issubdtype(depth.dtype, np.number):
        raise WeatherError(f"depth must hold real numbers in [0, 1], got dtype {depth.dtype}")
    if np.iscomplexobj(depth):
        raise WeatherError(f"depth must hold real numbers in [0, 1], got dtype {depth.dtype}")
    d = depth.astype(np.float32)
    if not np.isfinite(d).all():
        raise WeatherError("depth contains NaN or infinite values; give values in [0, 1]")
    lo, hi = float(d.min()), float(d.max())
    if lo < 0.0 or hi > 1.0:
        raise WeatherError(
            f"depth values must lie in [0, 1] (0 near, 1 far), got range [{lo:.3g}, {hi:.3g}]"
        )
    return d


# ----------------------------------------------------------------------------- helpers


def _srgb_to_linear(x: _F32) -> _F32:
    x = np.clip(x, 0.0, 1.0)
    low = x * np.float32(1.0 / 12.92)
    high = ((x + np.float32(0.055)) * np.float32(1.0 / 1.055)) ** np.float32(2.4)
    return np.asarray(np.where(x <= 0.04045, low, high), np.float32)


def _linear_to_srgb(x: _F32) -> _F32:
    x = np.clip(x, 0.0, 1.0)
    low = x * np.float32(12.92)
    high = np.float32(1.055) * x ** np.float32(1.0 / 2.4) - np.float32(0.055)
    return np.asarray(np.where(x <= 0.0031308, low, high), np.float32)


_LINEAR_LUT = _srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0))


def _to_uint8(x: _F32) -> UInt8Image:
    out = np.clip(x, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)
    return out.astype(np.uint8)


def _colour(rgb: npt.NDArray[np.float64], channels: int) -> _F32:
    """An sRGB colour as linear light for `channels` (3, or 1 = its luma)."""
    c = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    if channels == 1:
        c = np.array([float(c @ _LUMA)], np.float32)
    return _srgb_to_linear(c)


def _shape_like(y: Any, x: _F32) -> _F32:
    """OpenCV drops a trailing channel axis of 1; put it back."""
    return np.asarray(y, np.float32).reshape(x.shape)


def _gaussian(x: _F32, sigma: float) -> _F32:
    if sigma < 0.2:
        return x
    return _shape_like(cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT), x)


def _path_kernel(length: float, angle_deg: float, curvature: float = 0.0, pad: int = 1) -> _F32:
    """Density of a point moving `length` px along `angle_deg` (from vertical), sub-pixel.

    The path is a straight segment bent into a parabolic arc whose sagitta is
    ``curvature * length``; it is sampled at 8 points per pixel and splatted
    bilinearly, centred on the kernel's centre (its centroid does not move the image).
    Not normalised.
    """
    length = max(float(length), 1e-3)
    theta = math.radians(angle_deg)
    direction = np.array([math.sin(theta), math.cos(theta)])  # (x, y), y down
    normal = np.array([direction[1], -direction[0]])
    n = max(16, math.ceil(length * 8))
    t = (np.arange(n) + 0.5) / n
    bend = curvature * length * (4.0 * t * (1.0 - t))
    bend -= bend.mean()
    pts = (t - 0.5)[:, None] * length * direction + bend[:, None] * normal
    half = math.ceil(np.abs(pts).max()) + pad + 1
    size = 2 * half + 1
    pts = pts + half
    x0 = np.floor(pts[:, 0]).astype(np.int64)
    y0 = np.floor(pts[:, 1]).astype(np.int64)
    fx = pts[:, 0] - x0
    fy = pts[:, 1] - y0
    kernel = np.zeros((size, size), np.float64)
    np.add.at(kernel, (y0, x0), (1 - fx) * (1 - fy))
    np.add.at(kernel, (y0, x0 + 1), fx * (1 - fy))
    np.add.at(kernel, (y0 + 1, x0), (1 - fx) * fy)
    np.add.at(kernel, (y0 + 1, x0 + 1), fx * fy)
    return kernel.astype(np.float32)


def _filter(x: _F32, kernel: _F32, border: int = cv2.BORDER_REFLECT) -> _F32:
    return _shape_like(cv2.filter2D(x, -1, kernel, borderType=border), x)


def _coverage(alpha: _F32, threshold: float) -> float:
    return float(np.count_nonzero(alpha >= threshold)) / alpha.size


# ----------------------------------------------------------------------------- kinds
# each takes linear light (H, W, C) float32 unless noted, and returns the new image
# and its params


def _haze(
    x: _F32, sev: int, rng: np.random.Generator, depth: _F32 | None
) -> tuple[_F32, dict[str, float]]:
    h, w, c = x.shape
    beta = _HAZE_BETA[sev - 1] * rng.uniform(0.9, 1.1)
    level = rng.uniform(0.78, 0.92)
    tint = rng.uniform(-0.03, 0.03, 3)
    airlight = _colour(level * (1.0 + tint), c)
    if depth is None:
        # faces are near: a moderate depth, farther towards the top (background),
        # with low-frequency variation
        grid = rng.standard_normal((4, 4)).astype(np.float32)
        wobble = np.asarray(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
        ramp = np.linspace(0.65, 0.35, h, dtype=np.float32)[:, None]
        d = np.clip(ramp + np.float32(0.08) * wobble, 0.05, 0.95).astype(np.float32)
    else:
        d = depth
    t = np.exp(np.float32(-beta) * d).astype(np.float32)[..., None]
    out = x * t + airlight * (np.float32(1.0) - t)
    params = {
        "beta": float(beta),
        "mean_transmission": float(t.mean()),
        "min_transmission": float(t.min()),
        "airlight": float(level),
        "mean_depth": float(d.mean()),
    }
    return out, params


def _rain(x: _F32, sev: int, rng: np.random.Generator) -> tuple[_F32, dict[str, float]]:
    h, w, c = x.shape
    side = min(h, w)
    angle = rng.uniform(-25.0, 25.0)
    colour = _colour(rng.uniform(0.85, 0.97) * (1.0 + rng.uniform(-0.02, 0.02, 3)), c)
    layer_rngs = rng.spawn(len(_RAIN_LAYERS))
    n_layers = 2 if sev <= 2 else 3
    coverage = _RAIN_COVERAGE[sev - 1]
    share_total = sum(layer[3] for layer in _RAIN_LAYERS[-n_layers:])

    veil = np.float32(_RAIN_VEIL[sev - 1])
    out = x * (np.float32(1.0) - veil) + colour * np.float32(0.8) * veil
    total = np.zeros((h, w), np.float32)
    drops = 0
    near_length = 0.0
    for k in range(len(_RAIN_LAYERS) - n_layers, len(_RAIN_LAYERS)):
        lrng = layer_rngs[k]
        len_scale, width_scale, intensity_scale, share = _RAIN_LAYERS[k]
        layer_angle = float(np.clip(angle + lrng.uniform(-4.0, 4.0), -25.0, 25.0))
        length = max(1.0, _RAIN_LENGTH[sev - 1] * len_scale * side)
        width = _RAIN_WIDTH[sev - 1] * width_scale * side
        kernel = _gaussian(_path_kernel(length, layer_angle, pad=math.ceil(2 * width)), width / 2)
        kernel /= max(float(kernel.max()), 1e-6)
        expected = coverage * share / share_total * h * w / (length * max(width, 1.0))
        n = int(lrng.poisson(expected))
        pad = kernel.shape[0] // 2
        canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
        ys = lrng.integers(0, h + 2 * pad, n)
        xs = lrng.integers(0, w + 2 * pad, n)
        np.add.at(canvas, (ys, xs), lrng.uniform(0.5, 1.0, n).astype(np.float32))
        streaks = _filter(canvas, kernel, cv2.BORDER_CONSTANT)[pad : pad + h, pad : pad + w]
        streaks *= np.float32(_RAIN_INTENSITY[sev - 1] * intensity_scale)
        np.clip(streaks, 0.0, 1.0, out=streaks)
        if k == len(_RAIN_LAYERS) - 1:
            # the scene behind a near (out-of-focus, refracting) streak is blurred
            mix = np.clip(streaks * np.float32(3.0), 0.0, 1.0)[..., None]
            out = out + (_gaussian(out, max(0.5, 0.004 * side)) - out) * mix
            near_length = length
        # screen blend: light added by the drops, never beyond white
        s = streaks[..., None] * colour
        out = np.float32(1.0) - (np.float32(1.0) - out) * (np.float32(1.0) - s)
        total = np.float32(1.0) - (np.float32(1.0) - total) * (np.float32(1.0) - streaks)
        drops += n
    params = {
        "angle_deg": float(angle),
        "coverage": _coverage(total, 0.1),
        "layers": float(n_layers),
        "drops": float(drops),
        "length_px": float(near_length),
        "veil": float(veil),
    }
    return out.astype(np.float32), params


def _snow(x: _F32, sev: int, rng: np.random.Generator) -> tuple[_F32, dict[str, float]]:
    h, w, c = x.shape
    side = min(h, w)
    level = rng.uniform(0.90, 0.97)
    tint = np.array([-0.015, 0.0, 0.015]) + rng.uniform(-0.01, 0.01, 3)
    colour = _colour(level * (1.0 + tint), c)
    fall = rng.uniform(-30.0, 30.0)  # degrees from vertical
    layer_rngs = rng.spawn(len(_SNOW_LAYERS))
    coverage = _SNOW_COVERAGE[sev - 1]

    veil = np.float32(_SNOW_VEIL[sev - 1])
    out = x * (np.float32(1.0) - veil) + colour * veil
    total = np.zeros((h, w), np.float32)
    flakes = 0
    for k, (r_scale, opacity, share) in enumerate(_SNOW_LAYERS):
        lrng = layer_rngs[k]
        # a flake smaller than a pixel would render as a hard speckle: at least 0.7 px
        radius = max(0.7, _SNOW_RADIUS[sev - 1] * r_scale * side)
        soft = max(0.4, 0.3 * radius)  # blur of the flake edge
        mean_area = math.pi * (0.8 * radius + soft) ** 2
        n = int(lrng.poisson(coverage * share * h * w / mean_area))
        cx = lrng.uniform(-radius, w + radius, n)
        cy = lrng.uniform(-radius, h + radius, n)
        radii = radius * lrng.uniform(0.6, 1.0, n)
        elongated = lrng.random(n) < 0.3
        round_canvas = np.zeros((h, w), np.float32)
        long_canvas = np.zeros((h, w), np.float32)
        for i in range(n):
            canvas = long_canvas if elongated[i] else round_canvas
            cv2.circle(
                canvas,
                (round(cx[i] * 16), round(cy[i] * 16)),
                max(1, round(radii[i] * 16)),
                1.0,
                thickness=-1,
                lineType=cv2.LINE_AA,
                shift=4,
            )
        if elongated.any():
            streak = _path_kernel(max(1.0, 3.0 * radius), fall + lrng.uniform(-5.0, 5.0))
            streak /= float(streak.sum())
            long_canvas = _filter(long_canvas, streak, cv2.BORDER_CONSTANT) * np.float32(1.6)
        alpha = _gaussian(np.clip(round_canvas + long_canvas, 0.0, 1.0), soft)
        alpha = np.clip(alpha, 0.0, 1.0) * np.float32(opacity)
        a = alpha[..., None]
        out = out * (np.float32(1.0) - a) + colour * a
        total = np.float32(1.0) - (np.float32(1.0) - total) * (np.float32(1.0) - alpha)
        flakes += n
    params = {
        "coverage": _coverage(total, 0.1),
        "occluded": _coverage(total, 0.75),
        "flakes": float(flakes),
        "max_radius_px": float(_SNOW_RADIUS[sev - 1] * side),
        "fall_angle_deg": float(fall),
        "veil": float(veil),
    }
    return out.astype(np.float32), params


def _motion_blur(x: _F32, sev: int, rng: np.random.Generator) -> tuple[_F32, dict[str, float]]:
    side = min(x.shape[:2])
    angle = rng.uniform(-90.0, 90.0)
    shaky = rng.random() < 0.5
    curvature = rng.uniform(0.0, 0.12) if shaky else 0.0
    jitter = rng.uniform(0.9, 1.1)
    length = _BLUR_LENGTH[sev - 1] * side * jitter
    kernel = _path_kernel(length, angle, curvature)
    kernel /= float(kernel.sum())
    params = {
        "length_px": float(length),
        "length_frac": float(length / side),
        "angle_deg": float(angle),
        "curvature": float(curvature),
    }
    return _filter(x, kernel), params


def _low_light(x: _F32, sev: int, rng: np.random.Generator) -> tuple[_F32, dict[str, float]]:
    exposure = _EXPOSURE[sev - 1]
    full_well = rng.uniform(1000.0, 4000.0)
    read_noise = rng.uniform(2.0, 8.0)  # electrons
    bits = 10
    electrons = np.clip(x, 0.0, 1.0) * np.float32(exposure * full_well)
    signal = rng.poisson(electrons).astype(np.float32)
    signal += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(read_noise)
    levels = 2**bits - 1
    dn = np.clip(np.rint(signal * np.float32(levels / full_well)), 0, levels)
    mean_e = float(electrons.mean())
    params = {
        "exposure": float(exposure),
        "full_well_e": float(full_well),
        "read_noise_e": float(read_noise),
        "adc_bits": float(bits),
        "mean_electrons": mean_e,
        "snr": mean_e / math.sqrt(mean_e + read_noise**2),
    }
    return (dn * np.float32(1.0 / levels)).astype(np.float32), params


def _noise(x: _F32, sev: int, rng: np.random.Generator) -> tuple[_F32, dict[str, float]]:
    """Signal-dependent noise on sRGB values: variance ``a x + b**2``, sigma at 0.5 given."""
    sigma = _NOISE_SIGMA[sev - 1] / 255.0
    b = 0.6 * sigma
    a = (0.8 * sigma) ** 2 / 0.5
    std = np.sqrt(np.clip(x, 0.0, 1.0) * np.float32(a) + np.float32(b * b))
    out = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    params = {"sigma": float(sigma * 255.0), "a": float(a), "b": float(b)}
    return out.astype(np.float32), params


def _jpeg(image: UInt8Image, sev: int) -> tuple[UInt8Image, dict[str, float]]:
    """Re-encode (H, W, C) uint8, C = 3 (RGB) or 1 (grey), as JPEG and decode it."""
    quality = _JPEG_QUALITY[sev - 1]
    colour = image.shape[2] == 3
    src = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if colour else image[..., 0]
    ok, buf = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise WeatherError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if decoded is None:  # pragma: no cover
        raise WeatherError("JPEG decoding failed")
    out = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB) if colour else decoded
    h, w = image.shape[:2]
    params = {"quality": float(quality), "bits_per_pixel": float(len(buf) * 8 / (h * w))}
    return np.asarray(out, np.uint8).reshape(image.shape), params


# ----------------------------------------------------------------------------- public


def degrade_with_info(
    image: UInt8Image,
    kind: str | Sequence[str] = "rain",
    severity: int = 3,
    *,
    seed: int = 0,
    depth: npt.NDArray[np.floating[Any]] | None = None,
) -> tuple[UInt8Image, list[Degradation]]:
    """Like :func:`degrade`, and also say what was applied, in the order applied.

    Returns:
        The degraded image and one :class:`Degradation` per kind, in :data:`ORDER`.
    """
    img = _check_image(image)
    kinds = _check_kinds(kind)
    sev = _check_severity(severity)
    rng_seed = _check_seed(seed)
    h, w = img.shape[:2]
    d = _check_depth(depth, h, w)
    grey = img.ndim == 2
    # one independent stream per kind: a kind draws the same alone or combined
    streams = dict(zip(KINDS, np.random.default_rng(rng_seed).spawn(len(KINDS)), strict=True))

    x = _LINEAR_LUT[img[..., None] if grey else img]
    linear = True
    applied: list[Degradation] = []
    out: UInt8Image | None = None
    for k in kinds:
        rng = streams[k]
        if k in ("noise", "jpeg") and linear:
            x = _linear_to_srgb(x)
            linear = False
        elif k not in ("noise", "jpeg") and not linear:  # pragma: no cover - ORDER forbids
            x = _srgb_to_linear(x)
            linear = True
        if k == "haze":
            x, params = _haze(x, sev, rng, d)
        elif k == "rain":
            x, params = _rain(x, sev, rng)
        elif k == "snow":
            x, params = _snow(x, sev, rng)
        elif k == "motion_blur":
            x, params = _motion_blur(x, sev, rng)
        elif k == "low_light":
            x, params = _low_light(x, sev, rng)
        elif k == "noise":
            x, params = _noise(x, sev, rng)
        else:  # jpeg: always last
            out, params = _jpeg(_to_uint8(x), sev)
        applied.append(Degradation(kind=k, severity=sev, params=params))
    if out is None:
        out = _to_uint8(_linear_to_srgb(x) if linear else x)
    if grey:
        out = out.reshape(h, w)
    return np.ascontiguousarray(out), applied


def motion_blur_along(
    image: UInt8Image, length: float, angle: float, *, curvature: float = 0.0
) -> UInt8Image:
    """Blur `image` by camera motion of `length` px along `angle` degrees, in linear light.

    The kernel of the ``"motion_blur"`` kind at a chosen length: `angle` is
    counter-clockwise from the x axis (the convention of
    :class:`facescope.restoration.classical.MotionKernel`), `curvature` bends the path
    (its sagitta is ``curvature * length``). For training and tests that need a known blur.
    """
    img = _check_image(image)
    if not (math.isfinite(length) and 0.0 <= length <= 4 * max(img.shape[:2])):
        raise WeatherError(f"length must be finite and in [0, 4 x the side], got {length}")
    if not (math.isfinite(angle) and math.isfinite(curvature)):
        raise WeatherError("angle and curvature must be finite")
    if length < 1e-3:
        return img.copy()
    grey = img.ndim == 2
    x = _LINEAR_LUT[img[..., None] if grey else img]
    kernel = _path_kernel(length, angle - 90.0, curvature)
    out = _to_uint8(_linear_to_srgb(_filter(x, kernel / float(kernel.sum()))))
    return np.ascontiguousarray(out.reshape(img.shape))


def degrade(
    image: UInt8Image,
    kind: str | Sequence[str] = "rain",
    severity: int = 3,
    *,
    seed: int = 0,
    depth: npt.NDArray[np.floating[Any]] | None = None,
) -> UInt8Image:
    """Degrade a photo by bad weather or bad capture, at a severity from 1 to 5.

    Args:
        image: RGB uint8 (H, W, 3) or greyscale uint8 (H, W), both sides at least
            8 px: an aligned face crop or a whole photo. It is not modified.
        kind: one of :data:`KINDS`, or a sequence of them to combine; combined kinds
            run in the fixed order of :data:`ORDER` (haze, rain, snow, motion blur,
            low light, noise, JPEG), whatever order they are given in, each once.
        severity: 1 (mild), 2, 3 (moderate), 4 or 5 (extreme); the same for every kind.
        seed: the random seed (non-negative int); the same seed gives the same bytes.
        depth: optional (H, W) scene depth in [0, 1] (0 near, 1 far) used by haze;
            without it haze uses a smooth, moderate depth proxy.

    Returns:
        A new uint8 array of the image's shape.

    Raises:
        WeatherError: a bad image, kind, severity, seed or depth.
    """
    return degrade_with_info(image, kind, severity, seed=seed, depth=depth)[0]
