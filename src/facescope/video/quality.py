"""How good one video face is for recognition: the measured quality score.

Kept for callers of the former heuristic (``face_quality``); the score is now
:mod:`facescope.analysis.quality`'s fitted model (the probability that the
face's genuine comparisons pass the FMR 1e-3 threshold), in [0, 1].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facescope.analysis.quality import FaceQuality, assess_quality, quality_from_crop

__all__ = ["FaceQuality", "assess_quality", "face_quality"]


def face_quality(
    crop: npt.NDArray[np.uint8],
    landmarks5: npt.NDArray[np.floating],
    box: npt.NDArray[np.floating],
    score: float,
    image_shape: tuple[int, ...] | None = None,
) -> float:
    """Quality score in [0, 1] of one face from its aligned crop and detection.

    `image_shape` (the frame's shape) lets the score see faces cut by the border.
    """
    return quality_from_crop(crop, landmarks5, box, score, image_shape=image_shape).score
