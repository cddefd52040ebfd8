"""Per-sample preprocessing shared by training and inference (numpy, no torch).

A word sample is ``crops`` (T, S, S) uint8 grey mouth crops and ``lips`` (T, K, 2|3)
pose-normalised landmarks (what ``facescope lips VIDEO --out DIR`` writes to
``track_<id>.npz``). For the network both are resampled uniformly to a fixed number of
frames, the crops resized to the network's side when they differ, frames without
landmarks (NaN) filled from the nearest frame with them, and the landmarks re-centred
and scaled per sample (mean over frames and points at 0, RMS radius 1) so that the
network sees the shape and its motion, not where the mouth lay or how big it was.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from facescope.lips.read.errors import LipReadingError


def check_arrays(
    crops: npt.ArrayLike, lips: npt.ArrayLike
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Validated (T, S, S) uint8 crops and (T, K, 2) float32 landmarks (x, y only)."""
    c = np.asarray(crops)
    p = np.asarray(lips)
    if c.ndim == 4 and c.shape[-1] == 1:
        c = c[..., 0]
    if c.ndim != 3 or c.shape[1] != c.shape[2] or c.shape[0] < 1:
        raise LipReadingError(f"crops must be (T, S, S) grey images, got shape {c.shape}")
    if c.dtype != np.uint8:
        raise LipReadingError(f"crops must be uint8, got {c.dtype}")
    if p.ndim != 3 or p.shape[2] not in (2, 3) or p.shape[1] < 3:
        raise LipReadingError(f"lips must be (T, K>=3, 2 or 3) landmarks, got shape {p.shape}")
    if len(p) != len(c):
        raise LipReadingError(f"crops have {len(c)} frames but lips {len(p)}")
    if not np.issubdtype(p.dtype, np.floating) and not np.issubdtype(p.dtype, np.integer):
        raise LipReadingError(f"lips must be numbers, got {p.dtype}")
    return c, p[..., :2].astype(np.float32)


def fill_missing(lips: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Frames with any NaN/inf point take the nearest frame with all points known."""
    known = np.isfinite(lips).all(axis=(1, 2))
    if not known.any():
        raise LipReadingError("no frame of the sample has its lip landmarks")
    if known.all():
        return lips
    good = np.flatnonzero(known)
    nearest = good[np.abs(np.arange(len(lips))[:, None] - good[None]).argmin(1)]
    out: npt.NDArray[np.float32] = lips[nearest]
    return out


def normalise_lips(lips: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Centre on the mean point of the sample and scale to unit RMS radius."""
    p = np.asarray(lips, np.float64)
    centred = p - p.reshape(-1, p.shape[-1]).mean(0)
    radius = float(np.sqrt((centred**2).sum(-1).mean()))
    out: npt.NDArray[np.float32] = (centred / max(radius, 1e-6)).astype(np.float32)
    return out


def resample_indices(count: int, frames: int) -> npt.NDArray[np.int64]:
    """`frames` indices spread uniformly over `count` frames (repeating when fewer)."""
    return np.round(np.linspace(0, count - 1, frames)).astype(np.int64)


def prepare_sample(
    crops: npt.ArrayLike, lips: npt.ArrayLike, *, frames: int, size: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """(frames, size, size) uint8 crops and (frames, K, 2) normalised landmarks."""
    c, p = check_arrays(crops, lips)
    p = fill_missing(p)
    idx = resample_indices(len(c), frames)
    c, p = c[idx], p[idx]
    if c.shape[1] != size:
        c = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in c])
    return np.ascontiguousarray(c), normalise_lips(p)


__all__ = ["check_arrays", "fill_missing", "normalise_lips", "prepare_sample", "resample_indices"]
