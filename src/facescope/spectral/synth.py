"""Pseudo-NIR: a *synthetic* near-infrared look made from a visible-light photo.

No NIR data ships with facescope, so cross-spectral code is exercised on VIS images pushed
towards what an active-NIR face camera (850 nm LEDs next to the lens) records. This is a
crude physical caricature, not a validated NIR simulation; numbers measured on it say how
a method copes with a *shift like* VIS->NIR, never what it scores on real NIR captures
(use :func:`facescope.spectral.load_casia_nir_vis` for that).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.align.template import ARCFACE_TEMPLATE_112, CROP_SIZE
from facescope.spectral._checks import UInt8Array, rgb_image
from facescope.spectral.errors import SpectralError

#: Red, green, blue weights of the NIR-like channel mix (red light penetrates skin most,
#: like NIR; skin looks brighter and more uniform than in green/blue).
CHANNEL_WEIGHTS = (0.7, 0.2, 0.1)


def pseudo_nir(
    image: Any,
    rng: np.random.Generator | int | None = None,
    *,
    weights: tuple[float, float, float] = CHANNEL_WEIGHTS,
    smoothing: float = 1.0,
    skin_gain: float = 0.18,
    falloff: float = 0.5,
    noise: float = 2.0,
    eyes: npt.ArrayLike | None = None,
) -> UInt8Array:
    """Synthesise a pseudo-NIR version of an RGB uint8 (H, W, 3) photo.

    Steps, in order:

    1. greyscale from a red-dominant channel mix (`weights`, default 0.7R+0.2G+0.1B);
    2. skin (a YCbCr skin-colour mask) is brightened by `skin_gain` and its texture
       flattened with an edge-preserving bilateral filter (`smoothing` scales it; 0 off):
       NIR penetrates the epidermis, so pores, freckles, make-up and the lip/skin
       boundary fade;
    3. eyes: if `eyes` ((2, 2) pixel centres) is given, or the image is a 112x112
       ArcFace-aligned crop, pupils are darkened and irises lightened (melanin absorbs
       less at NIR, so iris/sclera contrast drops while the pupil stays black);
    4. active-illumination falloff: brightness times ``1 / (1 + falloff * r**2)``, r the
       distance from a (jittered) centre in half-diagonals, for a near-camera illuminator;
    5. sensor noise: signal-dependent (shot) plus read noise of about `noise` grey levels,
       and a random exposure gain of a few percent.

    `rng` (a Generator, a seed or None for fresh entropy) drives the jitter and the noise:
    the same seed gives the same image. Returns (H, W, 3) uint8 with three equal channels.
    """
    rgb = rgb_image(image).astype(np.float32) / 255.0
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (3,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise SpectralError(f"weights must be three non-negative numbers, got {weights!r}")
    for name, value in (("smoothing", smoothing), ("falloff", falloff), ("noise", noise)):
        if not np.isfinite(value) or value < 0:
            raise SpectralError(f"{name} must be a finite number >= 0, got {value!r}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    height, width = rgb.shape[:2]
    grey = (rgb @ (w / w.sum()).astype(np.float32)).astype(np.float32)

    skin = _skin_mask(rgb)
    if smoothing > 0:
        sigma_space = max(1.0, 0.02 * min(height, width)) * smoothing
        flat = cv2.bilateralFilter(grey, d=-1, sigmaColor=0.08 * smoothing, sigmaSpace=sigma_space)
        grey = skin * flat + (1 - skin) * cv2.GaussianBlur(grey, (0, 0), 0.4 * smoothing + 1e-3)
    grey = grey * (1 + skin_gain * skin)
    grey = _eyes(grey, eyes)

    centre = np.array([width / 2, height / 2]) + generator.normal(0, 0.04, 2) * [width, height]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    half_diag = 0.5 * float(np.hypot(width, height))
    r2 = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / half_diag**2
    strength = falloff * float(np.exp(generator.normal(0, 0.1)))
    grey = grey / (1 + strength * r2) * float(np.exp(generator.normal(0.05, 0.03)))

    signal = np.clip(grey, 0, None) * 255.0
    sigma = np.sqrt(noise**2 + 0.05 * noise * signal)
    signal = signal + generator.standard_normal(signal.shape).astype(np.float32) * sigma
    out = np.clip(np.round(signal), 0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def _skin_mask(rgb: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Soft (H, W) 0..1 mask of skin-coloured pixels (YCbCr box rule, smoothed)."""
    ycc = cv2.cvtColor((rgb * 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb).astype(np.float32)
    cr, cb = ycc[..., 1], ycc[..., 2]
    mask = ((cr > 133) & (cr < 180) & (cb > 77) & (cb < 135)).astype(np.float32)
    sigma = max(1.0, 0.015 * min(rgb.shape[:2]))
    return np.clip(cv2.GaussianBlur(mask, (0, 0), sigma), 0, 1)


def _eyes(grey: Any, eyes: npt.ArrayLike | None) -> Any:
    """Darker pupils, lighter irises around the given (or template) eye centres."""
    height, width = grey.shape
    if eyes is None:
        if (height, width) != (CROP_SIZE, CROP_SIZE):
            return grey
        centres = ARCFACE_TEMPLATE_112[:2].astype(np.float64)
    else:
        centres = np.asarray(eyes, dtype=np.float64)
        if centres.shape != (2, 2) or not np.isfinite(centres).all():
            raise SpectralError(f"eyes must be two (x, y) points (2, 2), got {centres.shape}")
    spacing = float(np.hypot(*(centres[1] - centres[0])))
    if spacing < 4:
        return grey
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = grey.copy()
    for x, y in centres:
        d = np.hypot(xx - x, yy - y) / spacing
        iris = np.exp(-((d / 0.13) ** 4)).astype(np.float32)
        pupil = np.exp(-((d / 0.05) ** 2)).astype(np.float32)
        local = float(out[d < 0.3].mean()) if (d < 0.3).any() else float(out.mean())
        # lift the iris towards the surrounding level, then sink the pupil
        out = out + 0.5 * iris * np.clip(local - out, 0, None)
        out = out * (1 - 0.6 * pupil)
    return out
