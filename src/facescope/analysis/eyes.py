"""Eye openness (eye aspect ratio), blinks over video, mouth openness, and gaze.

All measures are taken on the mesh aligned onto the canonical face
(:func:`facescope.analysis.geometry.to_canonical`), so head rotation and image
scale do not change them.

* Eye aspect ratio (Soukupova & Cech 2016): ``(|p2-p6| + |p3-p5|) / (2 |p1-p4|)``
  over the lid and corner points; about 0.25-0.35 open, under 0.1 closed.
* Mouth openness: the inner-lip gap over the mouth-corner distance (0 closed,
  about 0.5 wide open).
* Gaze: each iris centre's offset from the middle of its eye opening, in the
  head's frame, less the same offset on the canonical face (whose people mostly
  look at the camera), turned into eye-in-head angles on a 12 mm eyeball radius,
  then rotated by the head pose into the camera's frame. Angles use the head
  pose's signs: gaze yaw > 0 looks towards the image's right, pitch > 0 up. A
  geometric estimate from the mesh's iris points, not a trained gaze network:
  expect errors of several degrees.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry as g
from facescope.analysis.pose import HeadPose, rotation_from_euler

FloatArray = npt.NDArray[np.float64]

#: Eyeball radius used to turn iris offsets into angles (adult mean, millimetres).
EYEBALL_RADIUS_MM = 12.0


def eye_aspect_ratio(canonical_points: FloatArray, indices: tuple[int, ...]) -> float:
    """The eye aspect ratio of one eye (points as in :data:`geometry.EAR_RIGHT`)."""
    p1, p2, p3, p4, p5, p6 = (canonical_points[i] for i in indices)
    width = float(np.linalg.norm(p1 - p4))
    if width < 1e-9:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


def mouth_openness(canonical_points: FloatArray) -> float:
    """Inner-lip gap over mouth width (0 closed)."""
    gap = float(
        np.linalg.norm(canonical_points[g.LIP_INNER_TOP] - canonical_points[g.LIP_INNER_BOTTOM])
    )
    width = float(np.linalg.norm(canonical_points[g.MOUTH_RIGHT] - canonical_points[g.MOUTH_LEFT]))
    return gap / width if width > 1e-9 else 0.0


@dataclass(frozen=True)
class Gaze:
    """Where the eyes look.

    Attributes:
        yaw, pitch: gaze direction in the camera's frame, degrees (both eyes).
        eye_yaw, eye_pitch: the eyes' direction relative to the head, degrees.
        vector: (3,) unit gaze direction in camera coordinates (x right, y down,
            z away from the camera); a look into the lens is about (0, 0, -1).
        right, left: per-eye (yaw, pitch) in the camera frame, degrees.
    """

    yaw: float
    pitch: float
    eye_yaw: float
    eye_pitch: float
    vector: FloatArray
    right: tuple[float, float]
    left: tuple[float, float]


def _eye_in_head(
    canonical_points: FloatArray, corners: tuple[int, int], lids: tuple[int, int], iris: int
) -> tuple[float, float]:
    """Eye-in-head (yaw, pitch) in degrees of one eye, from canonical-frame points."""
    reference = g.face_geometry().canonical

    def offset(points: FloatArray) -> FloatArray:
        centre_x = (points[corners[0], 0] + points[corners[1], 0]) / 2.0
        centre_y = (points[lids[0], 1] + points[lids[1], 1]) / 2.0
        return np.array([points[iris, 0] - centre_x, points[iris, 1] - centre_y])

    dx, dy = offset(canonical_points) - offset(reference)
    yaw = math.degrees(math.asin(float(np.clip(dx / EYEBALL_RADIUS_MM, -1.0, 1.0))))
    pitch = math.degrees(math.asin(float(np.clip(-dy / EYEBALL_RADIUS_MM, -1.0, 1.0))))
    return yaw, pitch


def _direction(rotation: FloatArray) -> FloatArray:
    return np.asarray(rotation @ np.array([0.0, 0.0, -1.0]), np.float64)


def _angles(vector: FloatArray) -> tuple[float, float]:
    yaw = math.degrees(math.atan2(vector[0], -vector[2]))
    pitch = math.degrees(math.asin(float(np.clip(-vector[1], -1.0, 1.0))))
    return yaw, pitch


def gaze(canonical_points: FloatArray, pose: HeadPose) -> Gaze:
    """Gaze from the iris positions, combined with the head pose."""
    head = rotation_from_euler(pose.yaw, pose.pitch, pose.roll)
    per_eye = []
    for corners, lids, iris in (
        (
            (g.RIGHT_EYE_OUTER, g.RIGHT_EYE_INNER),
            (g.RIGHT_EYE_TOP, g.RIGHT_EYE_BOTTOM),
            g.RIGHT_IRIS,
        ),
        ((g.LEFT_EYE_INNER, g.LEFT_EYE_OUTER), (g.LEFT_EYE_TOP, g.LEFT_EYE_BOTTOM), g.LEFT_IRIS),
    ):
        eye_yaw, eye_pitch = _eye_in_head(canonical_points, corners, lids, iris)
        per_eye.append(
            (eye_yaw, eye_pitch, _direction(head @ rotation_from_euler(eye_yaw, eye_pitch, 0.0)))
        )
    vector = per_eye[0][2] + per_eye[1][2]
    vector /= max(float(np.linalg.norm(vector)), 1e-12)
    yaw, pitch = _angles(vector)
    eye_yaw = (per_eye[0][0] + per_eye[1][0]) / 2.0
    eye_pitch = (per_eye[0][1] + per_eye[1][1]) / 2.0
    return Gaze(
        yaw, pitch, eye_yaw, eye_pitch, vector, _angles(per_eye[0][2]), _angles(per_eye[1][2])
    )


@dataclass(frozen=True)
class Blink:
    """One blink: when the eyes closed and reopened (seconds), and the lowest openness."""

    start: float
    end: float
    min_ear: float

    @property
    def duration(self) -> float:
        """Seconds the eyes were closed."""
        return self.end - self.start


class BlinkDetector:
    """Blink events from a stream of eye aspect ratios with timestamps.

    A blink is a dip of the mean eye aspect ratio below ``closed_ratio`` times
    the person's open-eye level (the running 80th percentile over the last
    ``window_s`` seconds), lasting between ``min_s`` and ``max_s`` seconds;
    longer closures are not blinks (eyes shut, or the face lost).
    """

    def __init__(
        self,
        closed_ratio: float = 0.65,
        window_s: float = 10.0,
        min_s: float = 0.03,
        max_s: float = 0.7,
    ) -> None:
        self.closed_ratio = closed_ratio
        self.window_s = window_s
        self.min_s = min_s
        self.max_s = max_s
        self._history: deque[tuple[float, float]] = deque()
        self._closed_since: float | None = None
        self._min_ear = math.inf
        self.blinks_: list[Blink] = []

    def open_level(self) -> float:
        """The current open-eye level (nan before any sample)."""
        if not self._history:
            return math.nan
        return float(np.percentile([ear for _, ear in self._history], 80))

    def update(self, timestamp: float, ear: float | None) -> Blink | None:
        """Feed one frame (None: eyes not measured); returns the blink that just ended, if any."""
        if ear is None or not math.isfinite(ear):
            self._closed_since = None
            return None
        self._history.append((timestamp, ear))
        while self._history and self._history[0][0] < timestamp - self.window_s:
            self._history.popleft()
        level = self.open_level()
        closed = len(self._history) >= 3 and ear < self.closed_ratio * level
        if closed:
            if self._closed_since is None:
                self._closed_since, self._min_ear = timestamp, ear
            self._min_ear = min(self._min_ear, ear)
            return None
        if self._closed_since is None:
            return None
        blink = Blink(self._closed_since, timestamp, self._min_ear)
        self._closed_since = None
        if self.min_s <= blink.duration <= self.max_s:
            self.blinks_.append(blink)
            return blink
        return None


__all__ = [
    "Blink",
    "BlinkDetector",
    "Gaze",
    "eye_aspect_ratio",
    "gaze",
    "mouth_openness",
]
