"""Illumination normalisation that narrows the VIS-NIR gap: DoG and Tan-Triggs.

Tan & Triggs, "Enhanced local texture feature sets for face recognition under difficult
lighting conditions", IEEE TIP 19(6), 2010: gamma correction, difference-of-Gaussians
filtering and a two-stage contrast equalisation with a final tanh compression. What is
left is mid-frequency structure (edges of eyes, nose, mouth) that both spectra share,
without the low-frequency shading and skin-reflectance differences that they do not.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np

from facescope.spectral._checks import FloatArray, UInt8Array, grey_image, rgb_image
from facescope.spectral.errors import SpectralError

Method = Literal["tan-triggs", "dog"]


def to_grey(image: Any) -> FloatArray:
    """Luma (ITU-R BT.601) of an RGB uint8 (H, W, 3) image, float64 in 0..255."""
    rgb = rgb_image(image).astype(np.float64)
    return np.asarray(rgb @ np.array([0.299, 0.587, 0.114]), dtype=np.float64)


def _blur(grey: FloatArray, sigma: float) -> FloatArray:
    blurred = cv2.GaussianBlur(
        grey, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
    )
    return np.asarray(blurred, dtype=np.float64)


def difference_of_gaussians(grey: Any, sigma0: float = 1.0, sigma1: float = 2.0) -> FloatArray:
    """Band-pass ``G(sigma0) * I - G(sigma1) * I`` of a 2-D greyscale image (float64).

    `sigma0` < `sigma1`, both > 0 (pixels). Removes shading (low frequencies) and
    aliasing/noise (the highest ones).
    """
    image = grey_image(grey, "grey")
    if not (0 < sigma0 < sigma1):
        raise SpectralError(f"need 0 < sigma0 < sigma1, got sigma0={sigma0}, sigma1={sigma1}")
    return _blur(image, sigma0) - _blur(image, sigma1)


def tan_triggs(
    grey: Any,
    *,
    gamma: float = 0.2,
    sigma0: float = 1.0,
    sigma1: float = 2.0,
    alpha: float = 0.1,
    tau: float = 10.0,
) -> FloatArray:
    """Tan-Triggs illumination normalisation of a 2-D greyscale image (float64 output).

    1. gamma correction ``I ** gamma`` (intensities taken in 0..255, negatives clipped);
    2. :func:`difference_of_gaussians` with `sigma0`, `sigma1`;
    3. contrast equalisation ``I / mean(|I| ** alpha) ** (1/alpha)``, then
       ``I / mean(min(tau, |I|) ** alpha) ** (1/alpha)``;
    4. ``tau * tanh(I / tau)``, so the output lies in (-tau, tau).

    Defaults are the paper's. A flat image (no contrast) gives all zeros.
    """
    image = grey_image(grey, "grey")
    if not 0 < gamma <= 1:
        raise SpectralError(f"gamma must be in (0, 1], got {gamma}")
    if alpha <= 0 or tau <= 0:
        raise SpectralError(f"alpha and tau must be > 0, got alpha={alpha}, tau={tau}")
    x = np.power(np.maximum(image, 0.0), gamma)
    x = difference_of_gaussians(x, sigma0, sigma1)
    level = np.mean(np.abs(x) ** alpha) ** (1.0 / alpha)
    if level < 1e-12:
        return np.zeros_like(x)
    x = x / level
    x = x / np.mean(np.minimum(tau, np.abs(x)) ** alpha) ** (1.0 / alpha)
    return np.asarray(tau * np.tanh(x / tau), dtype=np.float64)


def to_uint8(values: Any) -> UInt8Array:
    """A float image min-max stretched to 0..255 uint8 (a constant image becomes 128)."""
    x = grey_image(values, "values")
    low, high = float(x.min()), float(x.max())
    if high - low < 1e-12:
        return np.full(x.shape, 128, np.uint8)
    return np.round((x - low) / (high - low) * 255.0).astype(np.uint8)


def normalise_crop(image: Any, method: Method = "tan-triggs") -> UInt8Array:
    """Illumination-normalise an aligned RGB uint8 crop for an embedder.

    The crop is turned to grey, filtered with `method` (``"tan-triggs"`` with the
    paper's parameters, or ``"dog"``, sigma 1 and 2), stretched to 0..255 and
    replicated to three channels: an (H, W, 3) uint8 image that SFace or dlib accept.
    Apply the same method to both sides of a comparison.
    """
    grey = to_grey(image)
    if method == "tan-triggs":
        filtered = tan_triggs(grey)
    elif method == "dog":
        filtered = difference_of_gaussians(grey)
    else:
        raise SpectralError(f"unknown method {method!r}; choose 'tan-triggs' or 'dog'")
    out = to_uint8(filtered)
    return np.repeat(out[..., None], 3, axis=2)
