"""Presentation attacks synthesised from bona fide face photos, and a capture simulation.

A presentation-attack-detection (PAD) classifier trained on synthetic attacks learns
whatever separates its classes most easily. If bona fide training photos are clean
while attacks are degraded (or the reverse), it learns "photo quality" instead of
"attack": real live webcam frames are darker and noisier than clean photos, and real
replays are bright and smooth. So here **every** class, bona fide included, passes
through the same randomised webcam :func:`capture` (exposure, white balance, noise,
blur, resolution loss, JPEG), and image quality alone cannot tell them apart:

* ``"bona_fide"``: ``capture(image)``, the face itself in front of the camera;
* ``"print"``: ``capture(print_attack(image))``, a printed photo; like real
  re-captured prints it mostly *loses* fine detail (blur, downsampling, ink spread)
  rather than showing a visible halftone screen; the gamut is compressed (washed-out
  colours, lifted blacks, off-white paper), the sheet is tilted or bent, lit
  unevenly and sometimes glossy;
* ``"replay"``: ``capture(replay_attack(image))``, the photo shown on a screen:
  screen gamma and colour cast, raised black level, a faint moiré beat pattern,
  refresh banding, reflections, sometimes the bezel.

Every random parameter is drawn from the ``rng`` passed in, so a seed reproduces a
sample exactly. Pixel-sized parameters (blur radii, halftone pitch, moiré period)
scale with the image's shorter side relative to 256 px.

This is a caricature of physical effects chosen to make cheap cues useless, not a
validated attack model: measure a PAD model on real attacks from your own cameras
before trusting its threshold.

``scripts/figure_pad_synth.py [OUT.png]`` draws the example figure
(``docs/pad/synthetic_attacks.png``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError

__all__ = [
    "BONA_FIDE",
    "SPECIES",
    "SynthesisError",
    "capture",
    "print_attack",
    "replay_attack",
    "synthesize",
    "synthetic_set",
]

UInt8Image = npt.NDArray[np.uint8]
_F32 = npt.NDArray[np.float32]

#: Attack species that can be synthesised.
SPECIES: tuple[str, ...] = ("print", "replay")
#: Label of the bona fide (live) class.
BONA_FIDE = "bona_fide"
#: Shortest image side accepted.
MIN_SIDE = 32

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class SynthesisError(FacescopeError, ValueError):
    """An input to attack synthesis is invalid (image type/shape/size, species, rng)."""


# ----------------------------------------------------------------------------- helpers


def _check_image(image: Any) -> UInt8Image:
    if not isinstance(image, np.ndarray):
        raise SynthesisError(
            f"image must be a numpy array (RGB uint8, H x W x 3), got {type(image).__name__}"
        )
    if image.size == 0:
        raise SynthesisError(f"image is empty (shape {image.shape})")
    if image.dtype != np.uint8:
        raise SynthesisError(
            f"image must have dtype uint8 (0-255 RGB), got {image.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise SynthesisError(f"image must be RGB with shape (H, W, 3), got shape {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SynthesisError(
            f"image is too small ({h}x{w}); both sides must be at least {MIN_SIDE} px"
        )
    return np.ascontiguousarray(image)


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise SynthesisError(
            "rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _to_float(image: UInt8Image) -> _F32:
    return image.astype(np.float32) * np.float32(1.0 / 255.0)


def _to_uint8(x: _F32) -> UInt8Image:
    out = np.clip(x, 0.0, 1.0)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)


def _unit(h: int, w: int) -> float:
    """Pixel-size scale: the shorter side relative to 256 px."""
    return min(h, w) / 256.0


@lru_cache(maxsize=16)
def _coords(h: int, w: int) -> tuple[_F32, _F32]:
    """Pixel coordinates (y column, x row), float32, read-only, broadcastable to (h, w)."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys.setflags(write=False)
    xs.setflags(write=False)
    return ys, xs


def _blur(x: _F32, sigma: float) -> _F32:
    if sigma < 0.15:
        return x
    return np.asarray(cv2.GaussianBlur(x, (0, 0), sigma), np.float32)


def _luma(x: _F32) -> _F32:
    return np.asarray(x @ _LUMA, np.float32)[..., None]


def _saturate(x: _F32, factor: float) -> _F32:
    y = _luma(x)
    return y + np.float32(factor) * (x - y)


def _soft_blob(h: int, w: int, cy: float, cx: float, sy: float, sx: float, angle: float) -> _F32:
    """An anisotropic Gaussian blob in [0, 1], centre and sizes in fractions of the side."""
    gh, gw = max(8, h // 8), max(8, w // 8)
    yy = (np.arange(gh, dtype=np.float32)[:, None] + 0.5) / gh - cy
    xx = (np.arange(gw, dtype=np.float32)[None, :] + 0.5) / gw - cx
    ca, sa = math.cos(angle), math.sin(angle)
    u = (xx * ca + yy * sa) / sx
    v = (-xx * sa + yy * ca) / sy
    small = np.exp(-0.5 * (u * u + v * v)).astype(np.float32)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def _plane_wave(ax: npt.NDArray[np.float64], by: npt.NDArray[np.float64]) -> _F32:
    """0.25 * cos(ax[None, :] + by[:, None]) from 1-D phases (two outer products)."""
    cx, sx = (0.25 * np.cos(ax)).astype(np.float32), (0.25 * np.sin(ax)).astype(np.float32)
    cy, sy = np.cos(by).astype(np.float32), np.sin(by).astype(np.float32)
    out = np.multiply.outer(cy, cx)
    out -= np.multiply.outer(sy, sx)
    return out


def _homography(
    h: int, w: int, rng: np.random.Generator, *, scale: tuple[float, float], jitter: float
) -> npt.NDArray[np.float64]:
    """A random tilt/shift: scale about the centre, shift +-3%, corners jittered +-`jitter`."""
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    centre = np.array([w / 2, h / 2], np.float32)
    s = rng.uniform(*scale)
    shift = rng.uniform(-0.03, 0.03, 2) * np.array([w, h])
    dst = centre + s * (src - centre) + shift
    dst += rng.uniform(-jitter, jitter, (4, 2)) * np.array([w, h])
    return np.asarray(cv2.getPerspectiveTransform(src, dst.astype(np.float32)), np.float64)


def _warp(x: _F32, matrix: npt.NDArray[np.float64], border: tuple[float, ...] | None) -> _F32:
    """Apply `matrix`; fill outside with the constant `border`, or the edge colour if None."""
    h, w = x.shape[:2]
    if border is None:
        out = cv2.warpPerspective(
            x, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    else:
        out = cv2.warpPerspective(
            x,
            matrix,
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )
    return np.asarray(out, np.float32)


# ----------------------------------------------------------------------------- capture


def capture(image: UInt8Image, rng: np.random.Generator) -> UInt8Image:
    """Simulate a webcam capturing whatever is in front of it (the same for every class).

    In order: defocus blur (sigma 0-1.4 px at 256 px), motion blur (p=0.35, 2-7 px
    line at a random angle), resolution loss (downscale to 0.4-1.0 of the size),
    exposure gain 0.35-1.2 (log-uniform, so low light is common), white-balance
    cast (per-channel gains 0.85-1.15), Poisson-Gaussian sensor noise (variance
    ``a*x + b**2``, both larger at low gain), tone gamma 0.8-1.25, upscale back, and
    JPEG at quality 35-95.

    Args:
        image: RGB uint8 (H, W, 3), both sides at least 32 px.
        rng: the source of every random parameter.

    Returns:
        A new RGB uint8 array of the same shape.

    Raises:
        SynthesisError: bad image or rng.
    """
    img = _check_image(image)
    rng = _check_rng(rng)
    h, w = img.shape[:2]
    unit = _unit(h, w)
    # every parameter is drawn up front, always in the same order
    defocus = rng.uniform(0.0, 1.4) * unit
    motion = rng.random() < 0.35
    motion_len = rng.uniform(2.0, 7.0) * unit
    motion_angle = rng.uniform(0.0, math.pi)
    factor = rng.uniform(0.4, 1.0)
    gain = math.exp(rng.uniform(math.log(0.35), math.log(1.2)))
    wb = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    shot = rng.uniform(0.0003, 0.002) / gain
    read = rng.uniform(0.002, 0.012) / gain
    gamma = rng.uniform(0.8, 1.25)
    quality = int(rng.integers(35, 96))

    x = _blur(_to_float(img), defocus)
    if motion:
        x = _motion_blur(x, motion_len, motion_angle)
    sw, sh = max(8, round(w * factor)), max(8, round(h * factor))
    if sw < w or sh < h:
        x = np.asarray(cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA), np.float32)
    x *= wb * np.float32(gain)
    np.clip(x, 0.0, 1.0, out=x)
    std = np.sqrt(np.float32(shot) * x + np.float32(read * read))
    x += std * rng.standard_normal(x.shape, dtype=np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    x **= np.float32(gamma)
    if x.shape[:2] != (h, w):
        x = np.asarray(cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    return _jpeg(_to_uint8(x), quality)


def _motion_blur(x: _F32, length: float, angle: float) -> _F32:
    size = max(3, math.ceil(length) | 1)
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    cv2.line(
        kernel,
        (round(c * 16 - dx * 16), round(c * 16 - dy * 16)),
        (round(c * 16 + dx * 16), round(c * 16 + dy * 16)),
        1.0,
        thickness=1,
        lineType=cv2.LINE_AA,
        shift=4,
    )
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REFLECT), np.float32)


def _jpeg(rgb: UInt8Image, quality: int) -> UInt8Image:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise SynthesisError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover
        raise SynthesisError("JPEG decoding failed")
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), np.uint8)


# ----------------------------------------------------------------------------- print


def print_attack(image: UInt8Image, rng: np.random.Generator) -> UInt8Image:
    """What a printed photo of `image` looks like before the camera sees it.

    In order: loss of fine detail (downsample to 0.45-0.85 of the size, blur sigma
    0.5-1.4 px, upsample); a soft halftone screen (pitch 2-4.5 px, random angle,
    per-ink angle offsets 0/15/45 deg, mixed in at 0.15-0.4) then ink spread (blur
    0.25-0.4 x the pitch, so the screen survives only faintly); gamut compression
    (saturation x0.5-0.85, dot-gain gamma 0.9-1.25, black lifted to 0.05-0.16,
    paper white 0.80-0.95 with a +-3% tint); paper fibre texture (anisotropic noise,
    amplitude 0.5-2%); a tilted sheet (homography: scale 0.9-1.05, shift +-3%,
    corner jitter +-5%) with an optional bend (p=0.5, up to 8%), outside filled
    with the edge colour (p=0.5) or a random flat background; uneven illumination
    (a linear gradient of +-5-25% plus a hot spot up to 15%); a glossy specular
    patch (p=0.4, up to 15-45% towards white).

    Args:
        image: RGB uint8 (H, W, 3), both sides at least 32 px.
        rng: the source of every random parameter.

    Returns:
        A new RGB uint8 array of the same shape.

    Raises:
        SynthesisError: bad image or rng.
    """
    img = _check_image(image)
    rng = _check_rng(rng)
    h, w = img.shape[:2]
    unit = _unit(h, w)
    ys, xs = _coords(h, w)

    # detail loss: the print, then its re-capture, keep little fine detail
    # (downsample, blur at the low resolution, upsample)
    sigma = rng.uniform(0.5, 1.4) * unit
    factor = rng.uniform(0.45, 0.85)
    sw, sh = max(8, round(w * factor)), max(8, round(h * factor))
    small = cv2.resize(_to_float(img), (sw, sh), interpolation=cv2.INTER_AREA)
    small = _blur(np.asarray(small, np.float32), sigma * factor)
    planes = list(cv2.split(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)))

    # halftone screen: one soft-dot screen per ink at classic angle offsets
    pitch = rng.uniform(2.0, 4.5) * unit
    base = rng.uniform(0.0, math.pi / 2)
    mix = np.float32(rng.uniform(0.15, 0.4))
    softness = np.float32(rng.uniform(3.0, 6.0))
    freq = 2 * math.pi / pitch
    phases = rng.uniform(0.0, 2 * math.pi, (3, 2))
    xv, yv = xs[0].astype(np.float64), ys[:, 0].astype(np.float64)
    for c, offset in enumerate((0.0, math.radians(15), math.radians(45))):
        ca, sa = math.cos(base + offset) * freq, math.sin(base + offset) * freq
        # cos(a x + b y + p) = cos(a x) cos(b y + p) - sin(a x) sin(b y + p), separably
        screen = _plane_wave(xv * ca, yv * sa + phases[c, 0])
        screen += _plane_wave(-xv * sa, yv * ca + phases[c, 1])
        # dot coverage where the ink coverage (1 - value) exceeds the screen
        dots = (1.0 - planes[c] - 0.5 - screen) * softness + 0.5
        np.clip(dots, 0.0, 1.0, out=dots)
        planes[c] = planes[c] * (1.0 - mix) + (1.0 - dots) * mix
    # ink spread, relative to the pitch: the screen survives only faintly
    x = _blur(np.asarray(cv2.merge(planes), np.float32), pitch * rng.uniform(0.25, 0.4))

    # gamut of ink on paper
    x = _saturate(x, rng.uniform(0.5, 0.85))
    np.clip(x, 0.0, 1.0, out=x)
    x **= np.float32(rng.uniform(0.9, 1.25))
    black = np.float32(rng.uniform(0.05, 0.16))
    paper = (rng.uniform(0.80, 0.95) * (1.0 + rng.uniform(-0.03, 0.03, 3))).astype(np.float32)
    x *= paper - black
    x += black

    # paper fibres: low-amplitude anisotropic noise
    fibre = rng.standard_normal((h, w), dtype=np.float32)
    along, across = rng.uniform(1.5, 4.0) * unit, rng.uniform(0.4, 1.0) * unit
    if rng.random() < 0.5:
        along, across = across, along
    fibre = np.asarray(cv2.GaussianBlur(fibre, (0, 0), sigmaX=along, sigmaY=across), np.float32)
    fibre *= np.float32(rng.uniform(0.005, 0.02) / max(float(fibre.std()), 1e-6))
    x *= (1.0 + fibre)[..., None]

    # the sheet held in front of the camera: tilt, shift, optional bend
    if rng.random() < 0.5:
        border: tuple[float, float, float] | None = None
    else:
        r, g, b = rng.uniform(0.1, 0.85) * rng.uniform(0.85, 1.15, 3)
        border = (float(r), float(g), float(b))
    x = _warp(x, _homography(h, w, rng, scale=(0.9, 1.05), jitter=0.05), border)
    bend = rng.uniform(0.0, 0.08) if rng.random() < 0.5 else 0.0
    if bend > 0.0:
        x = _bend(x, bend, border)

    # light across the sheet: gradient + hot spot (smooth: built small, resized)
    phi = rng.uniform(0.0, 2 * math.pi)
    slope = rng.uniform(0.05, 0.25)
    sy, sx, spot_y, spot_x = rng.uniform(0.3, 0.7, 2).tolist() + rng.uniform(0.1, 0.9, 2).tolist()
    spot = _soft_blob(h, w, spot_y, spot_x, sy, sx, 0.0)
    spot *= np.float32(rng.uniform(0.0, 0.15))
    gx = np.linspace(-1.0, 1.0, w, dtype=np.float32) * np.float32(slope * math.cos(phi))
    gy = np.linspace(-1.0, 1.0, h, dtype=np.float32) * np.float32(slope * math.sin(phi))
    spot += gx[None, :]
    spot += gy[:, None] + np.float32(1.0)
    x *= spot[..., None]

    # glossy specular patch: washes towards white
    glossy = rng.random() < 0.4
    gloss_args = (
        rng.uniform(0.15, 0.85),
        rng.uniform(0.15, 0.85),
        rng.uniform(0.05, 0.2),
        rng.uniform(0.08, 0.3),
        rng.uniform(0.0, math.pi),
    )
    gloss_amp = np.float32(rng.uniform(0.15, 0.45))
    if glossy:
        patch = _soft_blob(h, w, *gloss_args)[..., None] * gloss_amp
        np.clip(x, 0.0, 1.0, out=x)
        x += patch * (1.0 - x)
    return _to_uint8(x)


def _bend(x: _F32, amount: float, border: tuple[float, float, float] | None) -> _F32:
    """Sheet bent about a vertical axis: its sides look shorter than its middle."""
    h, w = x.shape[:2]
    ys, xs = _coords(h, w)
    t = (2.0 * xs / max(w - 1, 1) - 1.0) ** 2
    cy = (h - 1) / 2
    map_y = (cy + (ys - cy) * (1.0 + np.float32(amount) * t)).astype(np.float32)
    map_x = np.broadcast_to(xs, (h, w)).astype(np.float32)
    if border is None:
        out = cv2.remap(x, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        out = cv2.remap(
            x, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
        )
    return np.asarray(out, np.float32)


# ----------------------------------------------------------------------------- replay


def replay_attack(image: UInt8Image, rng: np.random.Generator) -> UInt8Image:
    """What `image` shown on a screen looks like before the camera sees it.

    In order: smoothing (blur sigma 0.3-1.0 px, screens look smooth); screen gamma
    0.7-1.05 and brightness x1.0-1.25 (often brighter); a cool (p=0.6) or warm
    colour cast of 3-12%; black level raised to 0.04-0.15 and peak white 0.9-1.0;
    the screen tilted (shift +-3%, corner jitter +-3%), and with p=0.35 shown
    smaller (scale 0.75-0.95) inside a dark bezel (grey 0.02-0.12). Then, in camera
    coordinates and on the screen area only: moiré, a sinusoidal beat of period
    3-10 px (log-uniform) at a random angle, amplitude 2.5-7%, with a small phase
    step between colour channels (subpixel colour fringes) under a slow envelope;
    refresh banding (horizontal bands, period 8-40% of the height, amplitude
    0.5-3%); and a reflection on the glass (a soft window-like rectangle or a broad
    glare, adding 3-15% light).

    Args:
        image: RGB uint8 (H, W, 3), both sides at least 32 px.
        rng: the source of every random parameter.

    Returns:
        A new RGB uint8 array of the same shape.

    Raises:
        SynthesisError: bad image or rng.
    """
    img = _check_image(image)
    rng = _check_rng(rng)
    h, w = img.shape[:2]
    unit = _unit(h, w)
    ys, xs = _coords(h, w)

    x = _blur(_to_float(img), rng.uniform(0.3, 1.0) * unit)
    x **= np.float32(rng.uniform(0.7, 1.05))
    cast = rng.uniform(0.03, 0.12)
    if rng.random() < 0.6:
        gains = np.array([1.0 - cast, 1.0 - cast / 3, 1.0 + cast], np.float32)
    else:
        gains = np.array([1.0 + cast, 1.0, 1.0 - cast], np.float32)
    x *= gains * np.float32(rng.uniform(1.0, 1.25))
    np.clip(x, 0.0, 1.0, out=x)
    black = np.float32(rng.uniform(0.04, 0.15))
    white = np.float32(rng.uniform(0.9, 1.0))
    x = black + (white - black) * x

    # the screen in front of the camera: tilted, sometimes smaller inside its bezel
    bezel = rng.random() < 0.35
    bezel_grey = rng.uniform(0.02, 0.12)
    scale = (0.75, 0.95) if bezel else (0.98, 1.05)
    matrix = _homography(h, w, rng, scale=scale, jitter=0.03)
    if bezel:
        # a 4th channel marks the screen (1) against the bezel (0)
        warped = _warp(
            np.dstack([x, np.ones((h, w), np.float32)]), matrix, (bezel_grey,) * 3 + (0.0,)
        )
        x, screen = np.ascontiguousarray(warped[..., :3]), np.ascontiguousarray(warped[..., 3])
    else:
        x, screen = _warp(x, matrix, None), None

    # in camera coordinates, on the screen only:
    # moiré, the screen's pixel grid beating with the sensor's: a sinusoid of random
    # period and angle, mostly in phase across channels (a little colour fringing),
    # under a slow envelope
    period = math.exp(rng.uniform(math.log(3.0), math.log(10.0))) * unit
    theta = rng.uniform(0.0, math.pi)
    amp = rng.uniform(0.025, 0.07)
    phase = rng.uniform(0.0, 2 * math.pi)
    fringe = rng.uniform(0.0, 0.35)
    env_period = rng.uniform(0.5, 1.5) * min(h, w)
    env_theta = rng.uniform(0.0, math.pi)
    env_phase = rng.uniform(0.0, 2 * math.pi)
    k = 2 * math.pi / period
    ke = 2 * math.pi / env_period
    xv, yv = xs[0].astype(np.float64), ys[:, 0].astype(np.float64)
    envelope = _plane_wave(xv * ke * math.cos(env_theta), yv * ke * math.sin(env_theta) + env_phase)
    envelope *= np.float32(amp)  # = amp * 0.25 cos(.)
    envelope += np.float32(amp * 0.75)
    if screen is not None:
        envelope *= screen
    # refresh banding: faint horizontal bands (rolling shutter against the refresh)
    band_amp = rng.uniform(0.005, 0.03)
    band_k = 2 * math.pi / (rng.uniform(0.08, 0.4) * h)
    band_phase = rng.uniform(0.0, 2 * math.pi)
    bands = (band_amp * np.sin(yv * band_k + band_phase)).astype(np.float32)[:, None]
    bands = bands * screen if screen is not None else bands
    for c in range(3):
        wave = _plane_wave(xv * k * math.cos(theta), yv * k * math.sin(theta) + phase + c * fringe)
        wave *= np.float32(4.0) * envelope
        wave += bands
        wave += np.float32(1.0)
        x[..., c] *= wave

    # reflection on the glass: a soft window shape or a broad glare
    window = rng.random() < 0.5
    refl_amp = np.float32(rng.uniform(0.03, 0.15))
    cy, cx = rng.uniform(0.1, 0.9, 2)
    if window:
        shape = _soft_window(h, w, cy, cx, rng)
    else:
        sy, sx = rng.uniform(0.3, 0.8, 2).tolist()
        shape = _soft_blob(h, w, cy, cx, sy, sx, rng.uniform(0.0, math.pi))
    x += (refl_amp * shape)[..., None]
    return _to_uint8(x)


def _soft_window(h: int, w: int, cy: float, cx: float, rng: np.random.Generator) -> _F32:
    """A blurred bright rectangle (a window reflected in the screen), values in [0, 1]."""
    gh, gw = max(16, h // 4), max(16, w // 4)
    half_h, half_w = rng.uniform(0.1, 0.35), rng.uniform(0.08, 0.3)
    angle = rng.uniform(-0.4, 0.4)
    soft = rng.uniform(0.02, 0.08)
    yy = (np.arange(gh, dtype=np.float32)[:, None] + 0.5) / gh - cy
    xx = (np.arange(gw, dtype=np.float32)[None, :] + 0.5) / gw - cx
    ca, sa = math.cos(angle), math.sin(angle)
    u = np.abs(xx * ca + yy * sa) - half_w
    v = np.abs(-xx * sa + yy * ca) - half_h
    inside = 1.0 / (1.0 + np.exp(np.maximum(u, v) / soft))
    small = inside.astype(np.float32)
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


# ----------------------------------------------------------------------------- sets


def synthesize(image: UInt8Image, species: str, rng: np.random.Generator) -> UInt8Image:
    """One capture of `image` presented as `species`: ``"bona_fide"``, ``"print"``, ``"replay"``.

    ``"bona_fide"`` is ``capture(image)``; an attack is ``capture(attack(image))``, so
    every class carries the same capture degradations.

    Raises:
        SynthesisError: unknown species (the message lists the valid names), bad image
            or rng.
    """
    if species == BONA_FIDE:
        return capture(image, rng)
    if species == "print":
        return capture(print_attack(image, rng), rng)
    if species == "replay":
        return capture(replay_attack(image, rng), rng)
    raise SynthesisError(
        f"unknown species {species!r}; valid names: {', '.join((BONA_FIDE, *SPECIES))}"
    )


def synthetic_set(
    images: Sequence[np.ndarray], *, per_image: int = 1, seed: int = 0
) -> tuple[list[np.ndarray], list[str]]:
    """`per_image` samples of each class (bona fide, then each of :data:`SPECIES`) per image.

    Each input image gets its own random stream spawned from `seed`, so a sample depends
    only on the seed, the image and its position, and the whole set is reproducible.

    Returns:
        (images, labels): synthesised RGB uint8 images and their labels
        (``"bona_fide"``, ``"print"`` or ``"replay"``), grouped by input image.

    Raises:
        SynthesisError: `per_image` below 1, or a bad image (its index is named).
    """
    if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
        raise SynthesisError(f"per_image must be an integer >= 1, got {per_image!r}")
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise SynthesisError("images must be a sequence of images, got a single image array")
    streams = np.random.SeedSequence(seed).spawn(len(images))
    out: list[np.ndarray] = []
    labels: list[str] = []
    for index, (image, stream) in enumerate(zip(images, streams, strict=True)):
        try:
            _check_image(image)
        except SynthesisError as exc:
            raise SynthesisError(f"images[{index}]: {exc}") from exc
        rng = np.random.default_rng(stream)
        for species in (BONA_FIDE, *SPECIES):
            for _ in range(per_image):
                out.append(synthesize(image, species, rng))
                labels.append(species)
    return out, labels
