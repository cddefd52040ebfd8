"""dlib's 68 facial landmarks (the iBUG 300-W layout), seeded by our detections.

The predictor (``shape_predictor_68_face_landmarks.dat`` from
``face-recognition-models``, SHA-256 checked) is started from the face rectangle
dlib's own detector would give, derived from YuNet's 5 landmarks, so it needs no
second detector. The 68-point model was trained on iBUG 300-W, whose data terms
are non-commercial: it is only used when asked for (``landmarks68=True``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.embed.recognizers import dlib_face_rect
from facescope.models.registry import verified_path


class Landmarks68:
    """The dlib 68-point shape predictor."""

    def __init__(self) -> None:
        import dlib

        self._dlib: Any = dlib
        self._predictor: Any = dlib.shape_predictor(str(verified_path("dlib_shape68")))
        self._lock = threading.Lock()

    def predict(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """(68, 2) points in image pixels for the face with these 5 landmarks."""
        x1, y1, x2, y2 = dlib_face_rect(np.asarray(landmarks5, np.float32))
        rect = self._dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
        with self._lock:
            shape = self._predictor(np.ascontiguousarray(rgb), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


_PREDICTOR: Lazy[Landmarks68] = Lazy(Landmarks68)


def landmarks68(
    rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.floating]
) -> npt.NDArray[np.float32]:
    """(68, 2) dlib points for one face (the predictor loads on first use)."""
    return _PREDICTOR.get().predict(rgb, landmarks5)
