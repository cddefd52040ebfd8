"""Face image quality for recognition: is this face good enough to enrol or to trust?

:func:`assess_quality` scores each detected face in [0, 1] from size, sharpness,
exposure, pose and how much of it is in the frame, with a fitted logistic head
(``quality_model.json``; refit with ``scripts/fit_quality.py``). It needs only
the aligned crop and five landmarks, so the gallery, video and PAD can gate on
it without loading the facial-analysis models.
"""

from __future__ import annotations

from facescope.quality.assess import (
    DEFAULT_MIN_QUALITY,
    FEATURES,
    SIGNS,
    FaceQuality,
    Pose,
    QualityLimits,
    assess_face,
    assess_quality,
    error_versus_discard,
    landmark_pose,
    load_quality_model,
    quality_from_crop,
)

__all__ = [
    "DEFAULT_MIN_QUALITY",
    "FEATURES",
    "SIGNS",
    "FaceQuality",
    "Pose",
    "QualityLimits",
    "assess_face",
    "assess_quality",
    "error_versus_discard",
    "landmark_pose",
    "load_quality_model",
    "quality_from_crop",
]
