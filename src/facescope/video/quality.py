"""How good one video face is for recognition: sharpness, pose, size, confidence.

A plain, documented heuristic used to weight a track's embeddings and to pick its
thumbnail (the facial-analysis issue brings a measured quality score later):

* sharpness: variance of the Laplacian of the aligned 112x112 grey crop, mapped
  to [0, 1] by ``v / (v + 100)`` (motion blur and defocus drive it down);
* frontality: from the 5 landmarks, how far the nose sits from the eyes' midline
  relative to the eye distance (0 at a profile, 1 facing the camera);
* size: the face's box width over 80 px, capped at 1 (SFace sees 112 px crops);
* the detector's confidence.

The quality is their product, in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


def sharpness(crop: npt.NDArray[np.uint8]) -> float:
    """Laplacian variance of an RGB crop, mapped to [0, 1)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return variance / (variance + 100.0)


def frontality(landmarks5: npt.NDArray[np.floating]) -> float:
    """1 for a frontal face, falling to 0 as the nose moves out to an eye (yaw)."""
    points = np.asarray(landmarks5, np.float64)
    right_eye, left_eye, nose = points[0], points[1], points[2]
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    if eye_distance < 1e-6:
        return 0.0
    offset = abs(float(nose[0] - (right_eye[0] + left_eye[0]) / 2.0)) / eye_distance
    return float(np.clip(1.0 - 2.0 * offset, 0.0, 1.0))


def face_quality(
    crop: npt.NDArray[np.uint8],
    landmarks5: npt.NDArray[np.floating],
    box: npt.NDArray[np.floating],
    score: float,
) -> float:
    """Product of sharpness, frontality, size and detector confidence, in [0, 1]."""
    width = float(box[2] - box[0])
    size = min(1.0, max(0.0, width) / 80.0)
    return sharpness(crop) * frontality(landmarks5) * size * float(np.clip(score, 0.0, 1.0))
