"""Patch-level attack localisation over the aligned face crop.

The 112x112 crop is cut into a 6x6 grid of overlapping 32x32 patches (stride
16); each patch is described by its LBP histograms (Y, Cb, Cr, H, S at radius
1, computed once over the crop) and its log Laplacian energy, and the patch
model (:class:`~facescope.pad.model.PADModel` ``.patch``) gives its attack
probability. The grid is the heatmap; :func:`overlay` paints it on the crop.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from facescope.pad.cues import CROP, check_crop
from facescope.pad.lbp import uniform_lbp

PATCH = 32
STRIDE = 16
GRID = (CROP - PATCH) // STRIDE + 1  # 6
_BINS = 10


def patch_features(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """(GRID*GRID, d) features, row-major over the grid."""
    crop = check_crop(crop)
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    channels = [ycc[..., 0], ycc[..., 2], ycc[..., 1], hsv[..., 0], hsv[..., 1]]
    codes = [uniform_lbp(c, 8, 1).astype(np.int64) for c in channels]
    lap = np.abs(
        cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F)
    )
    rows = []
    for i in range(GRID):
        for j in range(GRID):
            window = np.s_[i * STRIDE : i * STRIDE + PATCH, j * STRIDE : j * STRIDE + PATCH]
            parts = [
                np.bincount(c[window].ravel(), minlength=_BINS)[:_BINS] / PATCH**2 for c in codes
            ]
            parts.append(np.array([np.log1p(float(np.mean(lap[window] ** 2)))]))
            rows.append(np.concatenate(parts))
    return np.asarray(rows, np.float64)


def overlay(
    crop: npt.NDArray[np.uint8], heat: npt.NDArray[np.float64], size: int = 224
) -> npt.NDArray[np.uint8]:
    """The crop enlarged to `size`, attack probability painted over it (red = attack)."""
    crop = check_crop(crop)
    base = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
    cover = np.zeros((CROP, CROP), np.float64)
    count = np.zeros((CROP, CROP), np.float64)
    for i in range(GRID):
        for j in range(GRID):
            window = np.s_[i * STRIDE : i * STRIDE + PATCH, j * STRIDE : j * STRIDE + PATCH]
            cover[window] += heat[i, j]
            count[window] += 1
    smooth = cv2.resize(cover / np.maximum(count, 1), (size, size), interpolation=cv2.INTER_CUBIC)
    colours = cv2.applyColorMap(np.clip(smooth * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB)
    return np.asarray(cv2.addWeighted(base, 0.6, colours, 0.4, 0), np.uint8)


__all__ = ["GRID", "PATCH", "STRIDE", "overlay", "patch_features"]
