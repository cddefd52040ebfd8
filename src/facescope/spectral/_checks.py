"""Input validation shared by the spectral modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.spectral.errors import SpectralError

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]


def rgb_image(image: Any, name: str = "image") -> UInt8Array:
    """`image` checked to be a non-empty (H, W, 3) uint8 numpy array."""
    if not isinstance(image, np.ndarray):
        raise SpectralError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise SpectralError(
            f"{name} must be uint8 RGB (0..255), got dtype {image.dtype}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise SpectralError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise SpectralError(f"{name} is empty or too small: shape {image.shape}")
    return image


def grey_image(image: Any, name: str = "image") -> FloatArray:
    """A 2-D greyscale image (any real dtype, finite, non-empty) as float64."""
    if not isinstance(image, np.ndarray):
        raise SpectralError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2:
        raise SpectralError(f"{name} must be a 2-D greyscale array, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise SpectralError(f"{name} is empty or too small: shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise SpectralError(f"{name} must be numeric, got dtype {image.dtype}")
    out = image.astype(np.float64)
    if not np.isfinite(out).all():
        raise SpectralError(f"{name} contains NaN or infinite values")
    return out


def embeddings(values: Any, name: str = "embeddings", *, dim: int | None = None) -> FloatArray:
    """`values` as a finite (n, d) float64 array (a 1-D vector becomes one row)."""
    if isinstance(values, (str, bytes)) or values is None:
        raise SpectralError(f"{name} must be an array of numbers, got {type(values).__name__}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpectralError(f"{name} must be an array of numbers: {exc}") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise SpectralError(f"{name} must be 1-D or 2-D (n, d), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise SpectralError(f"{name} is empty: shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise SpectralError(f"{name} must have {dim} columns, got {array.shape[1]}")
    if not np.isfinite(array).all():
        raise SpectralError(f"{name} contains NaN or infinite values")
    return array


def l2_normalise(x: FloatArray) -> FloatArray:
    """Rows scaled to unit length; an all-zero row raises."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms < 1e-12).any():
        raise SpectralError("an embedding has zero length and cannot be normalised")
    return np.asarray(x / norms, dtype=np.float64)
