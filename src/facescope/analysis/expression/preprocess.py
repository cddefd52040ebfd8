"""The face crop the expression models see.

One square grey crop per detected face: rotated so the eyes (from the five
landmarks) lie level, centred on the detection box, with side
``max(box width, box height) * (1 + 2 * margin)``. Parts of the square outside
the image are filled by replicating the border, so faces cut by the image edge
still give a full-size crop. The crop keeps the face's own resolution (capped at
``max_side``; large faces are shrunk with area averaging first, small ones are
upscaled bicubically to ``min_side``); each model then resizes it straight to its input.

No histogram equalisation: it lowered the accuracy of all three models.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.models import as_grey
from facescope.types import Faces

#: Margin on each side, as a fraction of the box side (chosen on CK+ "fit"; see
#: benchmarks/bench_expression.py). The ensemble's weights.json may override it.
DEFAULT_MARGIN = 0.1
#: Crops are produced at the face's own resolution, within these bounds (pixels).
#: Small faces are upscaled (bicubic) to MIN_SIDE: a bilinear warp at their own size
#: blurs them and cost facex macro-F1 on the 48x48 CK+ crops (README, Expressions).
MIN_SIDE = 160
MAX_SIDE = 256


def eye_angle(landmarks5: npt.NDArray[np.floating]) -> float:
    """Angle (degrees) of the line from the image-left eye to the image-right eye.

    0 when the landmarks are degenerate (eyes at the same point or not finite).
    """
    pts = np.asarray(landmarks5, np.float64).reshape(5, 2)
    dx, dy = pts[1] - pts[0]
    if not (math.isfinite(dx) and math.isfinite(dy)) or math.hypot(dx, dy) < 1e-6:
        return 0.0
    return math.degrees(math.atan2(dy, dx))


def expression_crop(
    image: npt.NDArray[np.uint8],
    box: npt.NDArray[np.floating],
    landmarks5: npt.NDArray[np.floating] | None = None,
    *,
    margin: float = DEFAULT_MARGIN,
    level_eyes: bool = True,
    min_side: int = MIN_SIDE,
    max_side: int = MAX_SIDE,
) -> npt.NDArray[np.uint8]:
    """One square grey crop of a face, eyes levelled.

    Args:
        image: (H, W) grey or (H, W, 3) RGB uint8 image.
        box: ``x1, y1, x2, y2`` in image pixels.
        landmarks5: (5, 2) points (ArcFace/YuNet order) used to level the eyes;
            None (or ``level_eyes=False``) keeps the image upright.
        margin: extra border on each side, as a fraction of the box side.
        min_side, max_side: bounds on the crop's side in pixels.

    Returns:
        (s, s) uint8 grey crop, ``min_side <= s <= max_side``.
    """
    grey = as_grey(image)
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"face box is not finite: {box}")
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    side = max(abs(x2 - x1), abs(y2 - y1), 1.0) * (1.0 + 2.0 * max(float(margin), -0.45))
    out = round(min(max(side, min_side), max_side))

    # shrink a large face with area averaging first: the warp below only interpolates
    scale = out / side
    if scale < 0.5:
        grey = np.asarray(
            cv2.resize(grey, None, fx=scale * 1.5, fy=scale * 1.5, interpolation=cv2.INTER_AREA),
            np.uint8,
        )
        shrink = grey.shape[1] / image.shape[1], grey.shape[0] / image.shape[0]
        cx, cy = cx * shrink[0], cy * shrink[1]
        side *= shrink[0]
        scale = out / side

    angle = 0.0
    if level_eyes and landmarks5 is not None:
        angle = eye_angle(landmarks5)
    # rotate about the box centre by the eye angle, scale, then move the centre to the middle
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[0, 2] += out / 2.0 - cx
    matrix[1, 2] += out / 2.0 - cy
    interpolation = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(
        grey, matrix, (out, out), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(crop, np.uint8)


def expression_crops(
    image: npt.NDArray[np.uint8],
    faces: Faces,
    *,
    margin: float = DEFAULT_MARGIN,
    level_eyes: bool = True,
) -> list[npt.NDArray[np.uint8]]:
    """One grey crop (see :func:`expression_crop`) per face, in the order of ``faces``."""
    return [
        expression_crop(
            image, faces.boxes[i], faces.landmarks5[i], margin=margin, level_eyes=level_eyes
        )
        for i in range(len(faces))
    ]


def whole_image_crop(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The whole image as one grey crop (the fallback when no face is found)."""
    return as_grey(image)
