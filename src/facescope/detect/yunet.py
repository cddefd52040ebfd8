"""YuNet face detector (OpenCV ``FaceDetectorYN``), one of the networks behind
:func:`facescope.detect.faces.detect_faces` (``DetectOptions(detector="yunet")``).

YuNet sees faces of roughly 10-300 px; the scale handling around it lives in
:mod:`facescope.detect.faces`. The names that lived here before that module existed
(``detect_faces``, ``DetectOptions``, ...) are still importable from here.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.models.registry import verified_path

#: Names that moved to :mod:`facescope.detect.faces`, still importable from here.
_MOVED = frozenset(
    {"DETECTORS", "DETECTOR_ENV", "DetectOptions", "DetectorName", "detect_faces", "detector_name"}
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from facescope.detect import faces

        return getattr(faces, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class YuNetDetector:
    """Thread-safe wrapper around one `cv2.FaceDetectorYN` instance."""

    def __init__(self) -> None:
        path = verified_path("yunet")
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.5, 0.3, 5000)
        self._lock = threading.Lock()

    def raw(self, bgr: npt.NDArray[np.uint8], score_threshold: float) -> npt.NDArray[np.float32]:
        """Run YuNet on one BGR image; return (n, 15) rows as OpenCV gives them."""
        height, width = bgr.shape[:2]
        with self._lock:
            self._net.setInputSize((width, height))
            self._net.setScoreThreshold(float(score_threshold))
            _, found = self._net.detect(bgr)
        if found is None:
            return np.zeros((0, 15), np.float32)
        return np.asarray(found, dtype=np.float32).reshape(-1, 15)
