"""Photometric normalisation of aligned face crops: brighten faces that are too dark.

Recognisers trained on web photos see few underexposed faces and few faces lit
from the side or from below, where most of the face is in shadow. Two steps,
each applied only when needed, keep the order of grey levels:

1. exposure: a crop whose brightest pixels (99th percentile) stay below
   :data:`EXPOSED_HIGHLIGHT` is scaled linearly until they reach
   :data:`STRETCH_TO` (an underexposed photo);
2. shadows: a gamma curve chosen per crop lifts the mean luminance of the
   central face region (cheeks, eyes, nose, mouth) to :data:`TARGET_LUMINANCE`
   (the usual first step of illumination normalisation before face
   recognition, e.g. Tan & Triggs 2010).

A well-exposed crop whose central region is bright enough passes through
unchanged, so well-lit faces give exactly the features they gave before.

The constants were chosen on Extended Yale B (hard lighting) with a split by
person and checked on in-the-wild celebrity crops, where they change nothing
measurable; ``benchmarks/bench_detectors.py`` reports both.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

#: Names this normalisation in cache keys: embeddings made without it are not reused.
PHOTOMETRIC_VERSION = "photometric-v1"
#: Mean luminance (0-1) of the central face region that a dark crop is lifted to.
TARGET_LUMINANCE = 0.45
#: The strongest correction: gamma never goes below this (0.3 lifts 0.01 to 0.25).
MIN_GAMMA = 0.3

#: A crop whose 99th-percentile grey level is below this is underexposed ...
EXPOSED_HIGHLIGHT = 200
#: ... and is scaled linearly so that this percentile reaches this level.
STRETCH_TO = 230
#: The central face region of a 112x112 ArcFace crop (x1, y1, x2, y2), as fractions of
#: the crop side: from the outer eye corners to the mouth, without hair or background.
CENTRAL_REGION = (16 / 112, 24 / 112, 96 / 112, 104 / 112)
#: The same region on dlib's 150x150 face chips (padding 0.25), which frame the face wider.
DLIB_CHIP_REGION = (25 / 150, 35 / 150, 125 / 150, 115 / 150)

Region = tuple[float, float, float, float]


def illumination_gamma(crop: npt.NDArray[np.uint8], region: Region = CENTRAL_REGION) -> float:
    """The gamma that brings `crop`'s central luminance up to the target (1.0: unchanged).

    `region`: the central face region as fractions (x1, y1, x2, y2) of the crop.
    """
    height, width = crop.shape[:2]
    x1, y1, x2, y2 = region
    centre = crop[round(y1 * height) : round(y2 * height), round(x1 * width) : round(x2 * width)]
    if centre.size == 0:
        return 1.0
    grey = cv2.cvtColor(centre, cv2.COLOR_RGB2GRAY) if centre.ndim == 3 else centre
    mean = float(np.mean(grey)) / 255.0
    if mean >= TARGET_LUMINANCE:
        return 1.0
    mean = min(max(mean, 1e-3), 0.999)
    return float(max(MIN_GAMMA, math.log(TARGET_LUMINANCE) / math.log(mean)))


def normalise_illumination(
    crop: npt.NDArray[np.uint8], region: Region = CENTRAL_REGION
) -> npt.NDArray[np.uint8]:
    """`crop` (H, W, 3 RGB uint8, aligned) with exposure and shadows corrected when dark.

    Returns the input object itself when the face is exposed and lit well enough.
    """
    out = crop
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    highlight = float(np.percentile(grey, 99)) if grey.size else 255.0
    if highlight < EXPOSED_HIGHLIGHT:
        gain = STRETCH_TO / max(highlight, 1.0)
        out = np.asarray(cv2.convertScaleAbs(np.ascontiguousarray(crop), alpha=gain), np.uint8)
    gamma = illumination_gamma(out, region)
    if gamma >= 1.0:
        return out
    table = np.round(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    return np.asarray(cv2.LUT(np.ascontiguousarray(out), table), dtype=np.uint8)


def normalise_crops(
    crops: npt.NDArray[np.uint8], region: Region = CENTRAL_REGION
) -> npt.NDArray[np.uint8]:
    """:func:`normalise_illumination` over a (n, H, W, 3) batch; the input when none is dark."""
    out = None
    for index, crop in enumerate(crops):
        fixed = normalise_illumination(crop, region)
        if fixed is not crop:
            if out is None:
                out = np.array(crops, copy=True)
            out[index] = fixed
    return crops if out is None else out
