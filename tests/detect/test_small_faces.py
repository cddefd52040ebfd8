"""Small faces: `min_size` below what the detector resolves in one pass makes it tile."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facescope.detect.faces import SMALLEST_RESOLVED, DetectOptions, detect_faces


def _small_astronaut(face_height: int) -> np.ndarray:
    """The astronaut's face, `face_height` px high, on a plain 640x480 canvas."""
    rgb = skdata.astronaut()
    x1, y1, x2, y2 = detect_faces(rgb).boxes[0].astype(int)
    margin = (x2 - x1) // 2
    face = rgb[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin]
    scale = face_height / (y2 - y1)
    size = (round(face.shape[1] * scale), round(face.shape[0] * scale))
    small = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[200 : 200 + size[1], 300 : 300 + size[0]] = small
    return canvas


@pytest.mark.parametrize("height", [22, 26])
def test_retinaface_finds_a_small_face_when_asked(height: int) -> None:
    image = _small_astronaut(height)
    options = DetectOptions(detector="retinaface")
    assert len(detect_faces(image, options=options)) == 0  # one pass misses it
    found = detect_faces(image, min_size=16, options=options)
    assert len(found) == 1
    x1, y1, x2, y2 = found.boxes[0]
    assert 290 <= (x1 + x2) / 2 <= 300 + 2 * height and 190 <= (y1 + y2) / 2 <= 200 + 2 * height


def test_each_detector_declares_what_it_resolves() -> None:
    assert set(SMALLEST_RESOLVED) == {"retinaface", "yunet", "scrfd"}
    assert SMALLEST_RESOLVED["retinaface"] > SMALLEST_RESOLVED["yunet"]
