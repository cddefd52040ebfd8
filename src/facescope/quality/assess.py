"""Face quality: how reliable a face is for recognition, and why it is not.

:func:`assess_quality` measures, for each face, cheap components from the five
landmarks and the aligned 112x112 crop (a few ms per face, no mesh needed):

* **size**: distance between the eyes in image pixels (SFace's crop has 35 px);
* **sharpness**: variance of the Laplacian over the crop's face region
  (grey levels squared; blur and upsampled tiny faces drive it down);
* **exposure**: mean brightness, fraction of clipped (<= 5 or >= 250) pixels and
  contrast (grey standard deviation) of the face region;
* **pose**: yaw, pitch and roll in degrees, estimated from the 5 landmarks with a
  mean-face model (nose tip 0.6 eye distances in front of the eye plane), or the
  mesh's head pose when the caller passes it;
* **partial face**: share of the crop's face region that lies outside the image
  (a face cut by the border), or ``1 - mesh_inside`` when the caller has the mesh;
* **occlusion**: share of the face region's 8x8 blocks with no texture (solid
  occluders, blown-out or black patches) and the left/right asymmetry of the crop;
* the detector's **confidence**.

The overall ``score`` in [0, 1] is not hand-weighted: it is a logistic head
(:class:`~facescope.heads.LogisticHead`) on these components, fitted
(``scripts/fit_quality.py``) to predict whether the face's genuine comparisons
pass the SFace threshold at FMR = 1e-3; its coefficients and their provenance
are in ``quality_model.json``.
``reasons`` names each component that is poor by a documented limit
(:class:`QualityLimits`), e.g. ``"face too small: 14 px between the eyes, need 20"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.align.template import (
    ARCFACE_TEMPLATE_112,
    CROP_SIZE,
    similarity_transform,
    warp_to_template,
)
from facescope.heads import HeadError, LogisticHead
from facescope.types import Faces

#: Head pose in degrees: (yaw, pitch, roll).
Pose = tuple[float, float, float]

#: Default overall score below which :class:`facescope.gallery.Gallery` refuses an
#: enrolment photo (see ``quality_model.json`` for how it was chosen).
DEFAULT_MIN_QUALITY = 0.5

#: The bundled score head (package data).
MODEL_FILE = "quality_model.json"

#: Names of the model's inputs, in order (see :func:`_features`), and the sign
#: each coefficient is constrained to when fitting (+1: more is better), so the
#: score is monotone in every component (blur or darkness never raise it).
SIGNS: dict[str, int] = {
    "log_eye_distance": 1,
    "log_sharpness": 1,
    "under_exposure": -1,
    "over_exposure": -1,
    "clipped": -1,
    "contrast": 1,
    "abs_yaw": -1,
    "abs_pitch": -1,
    "abs_roll": -1,
    "border_cut": -1,
    "occlusion": -1,
    "asymmetry": -1,
    "confidence": 1,
}
FEATURES: tuple[str, ...] = (
    "log_eye_distance",
    "log_sharpness",
    "under_exposure",
    "over_exposure",
    "clipped",
    "contrast",
    "abs_yaw",
    "abs_pitch",
    "abs_roll",
    "border_cut",
    "occlusion",
    "asymmetry",
    "confidence",
)

# Face region of the aligned crop (rows, columns): brows to chin, cheek to cheek.
_REGION = (slice(28, 108), slice(16, 96))
_BLOCK = 8
_FLAT_STD = 3.0
# Mean-face geometry in eye distances: nose tip depth in front of the eye plane;
# for a frontal face, the nose's height between the eye and mouth lines and the
# eye-to-mouth height (medians of YuNet's landmarks on the calibration set, whose
# convention puts the mouth corners higher than the ArcFace template's).
_NOSE_DEPTH = 0.6
_FRONTAL_NOSE_HEIGHT = 0.58
_FRONTAL_MOUTH_HEIGHT = 1.0


@dataclass(frozen=True)
class QualityLimits:
    """Limits past which a component is reported as a reason (the score is separate).

    Chosen on the degraded calibration set (``benchmarks/bench_quality.py``): past
    each limit a probe's genuine comparisons pass at FMR 1e-3 clearly less often
    than those of degraded probes with no reason (the shares are in the README,
    "Face quality"). Darkening alone barely hurts SFace, so the dark and contrast
    limits sit at the extremes where the pixels hold no face left.
    """

    min_eye_distance: float = 20.0
    min_sharpness: float = 15.0
    min_brightness: float = 20.0
    max_brightness: float = 215.0
    max_clipped: float = 0.35
    min_contrast: float = 5.0
    max_yaw: float = 40.0
    max_pitch: float = 30.0
    max_border_cut: float = 0.08
    min_mesh_inside: float = 0.9
    max_occlusion: float = 0.25
    min_confidence: float = 0.6


@dataclass(frozen=True)
class FaceQuality:
    """Quality of one face for recognition.

    Attributes:
        score: fitted probability in [0, 1] that the face's genuine comparisons
            pass the calibrated threshold (FMR 1e-3).
        reasons: one sentence per poor component (empty when none is poor).
        eye_distance: pixels between the eye centres in the image.
        size: the face's scale as a frontal eye distance, pixels: the larger of
            the eye distance and the eye-to-mouth height (which yaw does not
            shorten) over its frontal ratio; "too small" is judged on it.
        face_size: shorter side of the detector's box, pixels.
        sharpness: Laplacian variance of the aligned crop's face region.
        brightness: mean grey level (0-255) of the face region.
        clipped: fraction of face-region pixels at <= 5 or >= 250.
        contrast: grey standard deviation of the face region.
        yaw, pitch, roll: head pose in degrees (positive yaw: the face turns to
            the image's right; positive pitch: looking up).
        pose_source: ``"landmarks"`` (5-point estimate), ``"mesh"`` (given by the
            caller) or ``"aligned"`` (a pre-aligned crop: taken as frontal).
        border_cut: share of the face region outside the image (0: whole face).
        mesh_inside: share of the mesh points inside the image, when given.
        occlusion: share of the face region's 8x8 blocks without texture.
        asymmetry: mean absolute left/right difference of the crop (grey / 255).
        confidence: detector confidence (1 for pre-aligned crops).
    """

    score: float
    reasons: tuple[str, ...]
    eye_distance: float
    size: float
    face_size: float
    sharpness: float
    brightness: float
    clipped: float
    contrast: float
    yaw: float
    pitch: float
    roll: float
    pose_source: str
    border_cut: float
    mesh_inside: float | None
    occlusion: float
    asymmetry: float
    confidence: float

    @property
    def ok(self) -> bool:
        """True when no component is poor."""
        return not self.reasons

    def features(self) -> npt.NDArray[np.float64]:
        """The model's input vector (order of :data:`FEATURES`)."""
        return _features(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output (floats rounded)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, float):
                out[key] = round(value, 4)
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


#: The score head's classes: the score is p(success).
CLASSES = ("failure", "success")


@lru_cache(maxsize=1)
def load_quality_model() -> LogisticHead:
    """The bundled score head (``facescope/quality/quality_model.json``, ``facescope-head/1``).

    A binary :class:`~facescope.heads.LogisticHead` over :data:`FEATURES` whose
    p(``"success"``) is the overall score; refitted by ``scripts/fit_quality.py``.
    """
    text = resources.files("facescope.quality").joinpath(MODEL_FILE).read_text("utf-8")
    head = LogisticHead.from_json(json.loads(text), MODEL_FILE)
    if head.feature_names_in_ != FEATURES or head.classes_ != CLASSES:
        raise HeadError(
            f"{MODEL_FILE} scores features {list(head.feature_names_in_)} as "
            f"{list(head.classes_)}, not {list(FEATURES)} as {list(CLASSES)}; "
            "refit it with scripts/fit_quality.py"
        )
    return head


# ---- components -------------------------------------------------------------------


def landmark_pose(landmarks5: npt.ArrayLike) -> Pose:
    """Yaw, pitch and roll (degrees) from the 5 landmarks, with a mean-face model.

    Roll is the eye line's angle. In the roll-corrected frame, a nose tip
    ``d = 0.6`` eye distances in front of the eye plane moves sideways by
    ``d sin(yaw)`` while the eyes close up to ``cos(yaw)``, so
    ``yaw = atan(offset / d)`` with the offset measured from the midline of the
    eyes and mouth corners in observed eye distances; pitch likewise from the
    nose's height between the eye and mouth lines. Rough (+-10 degrees), but
    monotone and cheap; a mesh pose is better when available.
    """
    points = np.asarray(landmarks5, np.float64).reshape(5, 2)
    right_eye, left_eye = points[0], points[1]
    delta = left_eye - right_eye
    roll = math.degrees(math.atan2(delta[1], delta[0]))
    cos_r, sin_r = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rotation = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    local = (points - points[[0, 1, 3, 4]].mean(axis=0)) @ rotation.T
    eye_distance = float(np.linalg.norm(delta))
    if eye_distance < 1e-6:
        return 90.0, 0.0, roll
    midline = local[[0, 1, 3, 4], 0].mean()
    offset = (local[2, 0] - midline) / eye_distance
    yaw = math.degrees(math.atan2(offset, _NOSE_DEPTH))
    eye_y, mouth_y = local[:2, 1].mean(), local[3:, 1].mean()
    height = mouth_y - eye_y
    if abs(height) < 1e-6:
        return yaw, 90.0, roll
    relative = (local[2, 1] - eye_y) / height
    # Projected nose height: (h cos p - d sin p) / (H cos p) = t - (d/H) tan p.
    tan_pitch = (_FRONTAL_NOSE_HEIGHT - relative) * _FRONTAL_MOUTH_HEIGHT / _NOSE_DEPTH
    pitch = math.degrees(math.atan(tan_pitch))
    return yaw, pitch, roll


def _outside_fraction(
    landmarks5: npt.NDArray[np.floating], image_shape: tuple[int, ...] | None
) -> float:
    """Share of the crop's face region that maps outside the image."""
    if image_shape is None:
        return 0.0
    height, width = image_shape[:2]
    forward = np.vstack([similarity_transform(landmarks5, ARCFACE_TEMPLATE_112), [0, 0, 1]])
    inverse = np.linalg.inv(forward)[:2]
    rows = np.arange(_REGION[0].start, _REGION[0].stop, 4, dtype=np.float64) + 0.5
    cols = np.arange(_REGION[1].start, _REGION[1].stop, 4, dtype=np.float64) + 0.5
    grid_x, grid_y = np.meshgrid(cols, rows)
    points = np.stack([grid_x.ravel(), grid_y.ravel(), np.ones(grid_x.size)])
    x, y = inverse @ points
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return float(1.0 - inside.mean())


def quality_from_crop(
    crop: npt.NDArray[np.uint8],
    landmarks5: npt.ArrayLike,
    box: npt.ArrayLike,
    confidence: float,
    *,
    image_shape: tuple[int, ...] | None = None,
    pose: Pose | None = None,
    mesh_inside: float | None = None,
    aligned: bool = False,
    limits: QualityLimits | None = None,
    model: LogisticHead | None = None,
) -> FaceQuality:
    """Quality of one face from its aligned 112x112 RGB crop and detection.

    Args:
        crop: the face warped to the ArcFace template (:func:`warp_to_template`).
        landmarks5: (5, 2) landmarks in image pixels.
        box: ``x1, y1, x2, y2`` in image pixels.
        confidence: detector confidence.
        image_shape: the image's shape; without it the border cut is not measured.
        pose: (yaw, pitch, roll) degrees from a head-pose model (the mesh); None
            estimates it from the landmarks.
        mesh_inside: share of the face mesh's points inside the image, if known.
        aligned: the image was a pre-aligned crop (its landmarks are the template).
        limits: reason limits (defaults: :class:`QualityLimits`).
        model: score head (default: :func:`load_quality_model`).
    """
    limits = limits or QualityLimits()
    points = np.asarray(landmarks5, np.float64).reshape(5, 2)
    corners = np.asarray(box, np.float64).reshape(4)
    grey = np.asarray(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY), np.float64)
    if grey.shape != (CROP_SIZE, CROP_SIZE):
        grey = np.asarray(cv2.resize(grey, (CROP_SIZE, CROP_SIZE)), np.float64)
    region = grey[_REGION]
    sharpness = float(cv2.Laplacian(region, cv2.CV_64F).var())
    brightness = float(region.mean())
    clipped = float(((region <= 5) | (region >= 250)).mean())
    contrast = float(region.std())
    blocks = region.reshape(
        region.shape[0] // _BLOCK, _BLOCK, region.shape[1] // _BLOCK, _BLOCK
    ).std(axis=(1, 3))
    occlusion = float((blocks < _FLAT_STD).mean())
    asymmetry = float(np.abs(region - region[:, ::-1]).mean() / 255.0)

    eye_distance = float(np.linalg.norm(points[1] - points[0]))
    eye_mouth = float(np.linalg.norm(points[3:].mean(axis=0) - points[:2].mean(axis=0)))
    size = max(eye_distance, eye_mouth / _FRONTAL_MOUTH_HEIGHT)
    face_size = float(max(0.0, min(corners[2] - corners[0], corners[3] - corners[1])))
    if pose is not None:
        yaw, pitch, roll = (float(v) for v in pose)
        source = "mesh"
    elif aligned:
        yaw = pitch = roll = 0.0
        source = "aligned"
    else:
        yaw, pitch, roll = landmark_pose(points)
        source = "landmarks"
    border_cut = 0.0 if aligned else _outside_fraction(points, image_shape)

    partial = border_cut if mesh_inside is None else max(border_cut, 1.0 - float(mesh_inside))
    values = {
        "eye_distance": eye_distance,
        "size": size,
        "sharpness": sharpness,
        "brightness": brightness,
        "clipped": clipped,
        "contrast": contrast,
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll,
        "border_cut": partial,
        "occlusion": occlusion,
        "asymmetry": asymmetry,
        "confidence": float(np.clip(confidence, 0.0, 1.0)),
    }
    reasons = _reasons(values, border_cut, mesh_inside, limits)
    fitted = model or load_quality_model()
    score = float(fitted.predict_proba(_feature_row(values))[0, fitted.classes_.index("success")])
    return FaceQuality(
        score=float(np.clip(score, 0.0, 1.0)),
        reasons=tuple(reasons),
        eye_distance=eye_distance,
        size=size,
        face_size=face_size,
        sharpness=sharpness,
        brightness=brightness,
        clipped=clipped,
        contrast=contrast,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        pose_source=source,
        border_cut=border_cut,
        mesh_inside=None if mesh_inside is None else float(mesh_inside),
        occlusion=occlusion,
        asymmetry=asymmetry,
        confidence=values["confidence"],
    )


def _feature_row(values: dict[str, float]) -> npt.NDArray[np.float64]:
    brightness = values["brightness"]
    return np.array(
        [
            math.log(max(values["eye_distance"], 1.0)),
            math.log1p(max(values["sharpness"], 0.0)),
            max(0.0, 100.0 - brightness) / 100.0,
            max(0.0, brightness - 150.0) / 105.0,
            values["clipped"],
            values["contrast"] / 64.0,
            min(abs(values["yaw"]), 90.0) / 45.0,
            min(abs(values["pitch"]), 90.0) / 45.0,
            min(abs(values["roll"]), 180.0) / 45.0,
            values["border_cut"],
            values["occlusion"],
            values["asymmetry"],
            values["confidence"],
        ],
        np.float64,
    )


def _features(quality: FaceQuality) -> npt.NDArray[np.float64]:
    partial = quality.border_cut
    if quality.mesh_inside is not None:
        partial = max(partial, 1.0 - quality.mesh_inside)
    return _feature_row(
        {
            "eye_distance": quality.eye_distance,
            "size": quality.size,
            "sharpness": quality.sharpness,
            "brightness": quality.brightness,
            "clipped": quality.clipped,
            "contrast": quality.contrast,
            "yaw": quality.yaw,
            "pitch": quality.pitch,
            "roll": quality.roll,
            "border_cut": partial,
            "occlusion": quality.occlusion,
            "asymmetry": quality.asymmetry,
            "confidence": quality.confidence,
        }
    )


def _reasons(
    values: dict[str, float],
    border_cut: float,
    mesh_inside: float | None,
    limits: QualityLimits,
) -> list[str]:
    reasons = []
    if values["size"] < limits.min_eye_distance:
        reasons.append(
            f"face too small: {values['size']:.0f} px between the eyes, "
            f"need {limits.min_eye_distance:.0f}"
        )
    if border_cut > limits.max_border_cut:
        reasons.append(
            f"face cut by the image border: {100 * border_cut:.0f}% of the face is outside "
            "the image"
        )
    if mesh_inside is not None and mesh_inside < limits.min_mesh_inside:
        reasons.append(
            f"partial face: only {100 * mesh_inside:.0f}% of the face mesh is inside the image"
        )
    if abs(values["yaw"]) > limits.max_yaw:
        reasons.append(f"face turned aside: yaw {abs(values['yaw']):.0f}° > {limits.max_yaw:.0f}°")
    if abs(values["pitch"]) > limits.max_pitch:
        reasons.append(
            f"head tilted up or down: pitch {abs(values['pitch']):.0f}° > {limits.max_pitch:.0f}°"
        )
    if values["sharpness"] < limits.min_sharpness:
        reasons.append(
            f"too blurred: sharpness {values['sharpness']:.1f} < {limits.min_sharpness:.0f}"
        )
    if values["brightness"] < limits.min_brightness:
        reasons.append(
            f"too dark: mean brightness {values['brightness']:.0f} < {limits.min_brightness:.0f}"
        )
    elif values["brightness"] > limits.max_brightness:
        reasons.append(
            f"too bright: mean brightness {values['brightness']:.0f} > {limits.max_brightness:.0f}"
        )
    if values["clipped"] > limits.max_clipped:
        reasons.append(
            f"badly exposed: {100 * values['clipped']:.0f}% of the face is black or white"
        )
    if values["contrast"] < limits.min_contrast:
        reasons.append(f"low contrast: {values['contrast']:.1f} < {limits.min_contrast:.0f}")
    if values["occlusion"] > limits.max_occlusion:
        reasons.append(
            f"face partly covered: {100 * values['occlusion']:.0f}% of the face has no detail"
        )
    if values["confidence"] < limits.min_confidence:
        reasons.append(
            f"unclear face: detector confidence {values['confidence']:.2f} < "
            f"{limits.min_confidence:.2f}"
        )
    return reasons


# ---- public entry points ----------------------------------------------------------


def assess_quality(
    rgb: npt.NDArray[np.uint8],
    faces: Faces,
    *,
    pose: Pose | Sequence[Pose | None] | None = None,
    mesh_inside: float | Sequence[float | None] | None = None,
    crops: Sequence[npt.NDArray[np.uint8]] | None = None,
    limits: QualityLimits | None = None,
) -> list[FaceQuality]:
    """Quality of every face in `faces` (found in `rgb`), in order.

    Never raises for a valid image: faces cut by the border, tiny or profile
    faces get a low score and a reason.

    Args:
        rgb: the (H, W, 3) uint8 RGB image the faces were found in.
        faces: detections (or one face, ``faces[i]``), possibly ``aligned``.
        pose: head pose (yaw, pitch, roll degrees) from the mesh, one per face
            (a single tuple for a single face); None entries use the landmarks.
        mesh_inside: share of each face's mesh points inside the image (a float
            for a single face); None where unknown.
        crops: the faces' aligned 112x112 crops when the caller has them already.
        limits: reason limits (defaults: :class:`QualityLimits`).
    """
    count = len(faces)
    poses = _per_face(pose, count, "pose")
    insides = _per_face(mesh_inside, count, "mesh_inside")
    if crops is not None and len(crops) != count:
        raise ValueError(f"{len(crops)} crops given for {count} faces")
    model = load_quality_model()
    out = []
    for index in range(count):
        landmarks = faces.landmarks5[index]
        if crops is not None:
            crop = crops[index]
        elif faces.aligned and rgb.shape[:2] == (CROP_SIZE, CROP_SIZE):
            crop = rgb
        else:
            crop = warp_to_template(rgb, landmarks)
        face_pose = poses[index]
        out.append(
            quality_from_crop(
                crop,
                landmarks,
                faces.boxes[index],
                float(faces.scores[index]),
                image_shape=rgb.shape,
                pose=None if face_pose is None else _as_pose(face_pose),
                mesh_inside=None if insides[index] is None else float(insides[index]),
                aligned=faces.aligned,
                limits=limits,
                model=model,
            )
        )
    return out


def assess_face(
    rgb: npt.NDArray[np.uint8],
    faces: Faces,
    index: int = 0,
    *,
    pose: Pose | None = None,
    mesh_inside: float | None = None,
    limits: QualityLimits | None = None,
) -> FaceQuality:
    """Quality of one face, ``faces[index]``."""
    return assess_quality(rgb, faces[index], pose=pose, mesh_inside=mesh_inside, limits=limits)[0]


def _as_pose(value: Any) -> Pose:
    yaw, pitch, roll = (float(v) for v in value)
    return yaw, pitch, roll


def _per_face(value: Any, count: int, name: str) -> list[Any]:
    if value is None:
        return [None] * count
    if isinstance(value, int | float | np.floating):
        single: Any = float(value)
    elif (
        name == "pose"
        and len(value) == 3
        and all(isinstance(v, int | float | np.floating) for v in value)
    ):
        single = value
    else:
        items = list(value)
        if len(items) != count:
            raise ValueError(f"{len(items)} {name} values given for {count} faces")
        return items
    if count != 1:
        raise ValueError(f"one {name} given for {count} faces; pass one per face")
    return [single]


def error_versus_discard(
    genuine_scores: npt.ArrayLike,
    pair_quality: npt.ArrayLike,
    threshold: float,
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3),
) -> list[float]:
    """FNMR of genuine comparisons after discarding the lowest-quality ones.

    The "error versus discard characteristic" of ISO/IEC 29794-1: for each
    fraction ``f``, the ``f`` share of comparisons with the lowest
    `pair_quality` (usually the smaller quality of the two faces) is dropped
    and the false non-match rate at `threshold` is measured on the rest.
    Ties are broken by input order (stable sort).
    """
    scores = np.asarray(genuine_scores, np.float64).reshape(-1)
    quality = np.asarray(pair_quality, np.float64).reshape(-1)
    if scores.shape != quality.shape:
        raise ValueError("genuine_scores and pair_quality differ in length")
    if len(scores) == 0:
        raise ValueError("no genuine comparisons")
    order = np.argsort(quality, kind="stable")
    failed = (scores < threshold)[order]
    out = []
    for fraction in fractions:
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"discard fractions must be in [0, 1), got {fraction}")
        start = min(round(fraction * len(scores)), len(scores) - 1)
        out.append(float(failed[start:].mean()))
    return out
