"""Video liveness cues for presentation-attack detection: pulse, blinks, non-planar motion.

:func:`video_cues` reads a video (a path, or a list of RGB frames with their
frame rate), follows the largest face with the project's analysis pipeline
(YuNet detection, tracking, the 478-point MediaPipe mesh, eye aspect ratio and
head pose: :meth:`facescope.analysis.analyzer.Analyzer.analyze_video`) and
turns what it measures into three groups of cues:

* **pulse** (rPPG, :mod:`facescope.pad.rppg`): the mean colour of the cheeks
  and forehead over time, through POS and CHROM, gives a heart rate and an SNR;
* **blinks**: :class:`facescope.analysis.eyes.BlinkDetector` on the mean eye
  aspect ratio; count and rate per minute;
* **planar motion**: between frames about :data:`PAIR_LAG_S` apart, the mesh's
  2D points are fitted with a homography (``cv2.findHomography``, RANSAC), an
  affine map and a similarity; and so is the face's own skin texture, tracked
  with Lucas-Kanade (:func:`texture_residual`). A flat photo moved or tilted
  before the camera moves as a plane: a homography explains it. A real head
  shows parallax (nose against cheeks) and expression, which no homography
  explains. Residuals are the mean point error over the inter-ocular distance
  (eye centres). When the head hardly moves beyond a similarity, a small
  residual says nothing: the cue then reads "not enough motion to judge".

What the cues can and cannot tell (measured on the shared live/replay pair,
three live talking heads and moving photos synthesised from their frames; see
``evidence()``): a replay shows the recorded person's own pulse colour, blinks
and 3D head motion, so none of these cues separates a *video replay* from a
live face. The texture residual does separate moved flat *photos* from live faces
(:data:`MEASURED_TEXTURE`); the mesh residual does not, because MediaPipe
fits the mesh with a 3D face prior, so even a photo's mesh moves non-planarly.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry
from facescope.analysis.eyes import Blink, BlinkDetector
from facescope.io.video import Frame, open_video
from facescope.pad.cues import PADError
from facescope.pad.rppg import MIN_SECONDS, PulseEstimate, estimate_pulse

FloatArray = npt.NDArray[np.float64]
RGBFrame = npt.NDArray[np.uint8]

#: Seconds between the two frames of a motion pair.
PAIR_LAG_S = 0.5
#: Seconds of video :func:`video_cues` reads by default.
DEFAULT_MAX_SECONDS = 60.0
#: Number of 2D mesh points used by the motion fits (the face, not the irises).
N_FACE_POINTS = 468
#: RANSAC inlier threshold of the homography, in inter-ocular distances.
RANSAC_THRESHOLD_IOD = 0.1
#: Fewest tracked corners a texture fit is made from.
MIN_TEXTURE_POINTS = 20
#: Pixels darker or brighter than this (any channel) are left out of the skin mean.
_DARK, _BRIGHT = 15, 250

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "MIN_MOTION_IOD",
    "PAIR_LAG_S",
    "PLANAR_TEXTURE_MAX",
    "FaceTrack",
    "MotionFit",
    "PADError",
    "VideoCueInput",
    "VideoLivenessCues",
    "fit_residuals",
    "measure_face_track",
    "measure_video",
    "motion_pairs",
    "skin_regions",
    "texture_residual",
    "track_cues",
    "track_motion",
    "video_cues",
    "windowed_cues",
]


# --------------------------------------------------------------------------- skin colour


@cache
def skin_regions() -> dict[str, tuple[int, ...]]:
    """Mesh points bounding the forehead and the two cheeks (from the canonical face).

    Canonical millimetres: x along the outer eye corners (90 mm apart), y from
    the eyes down. The forehead lies above the brows (y -56..-30, |x| < 32);
    each cheek below the eyes and beside the nose (y 12..45, 22 < |x| < 58).
    The mesh is sparse on the forehead: its 8 points span the brows to the mesh's top edge.
    """
    c = geometry.face_geometry().canonical[:N_FACE_POINTS]
    x, y = c[:, 0], c[:, 1]
    forehead = (y > -56) & (y < -30) & (np.abs(x) < 32)
    cheek = (y > 12) & (y < 45)
    right = cheek & (x < -22) & (x > -58)
    left = cheek & (x > 22) & (x < 58)
    return {
        name: tuple(int(i) for i in np.flatnonzero(mask))
        for name, mask in (("forehead", forehead), ("right_cheek", right), ("left_cheek", left))
    }


def _polygon_sum(rgb: RGBFrame, points: FloatArray) -> tuple[FloatArray, int]:
    """Sum and count of the usable pixels inside the convex hull of `points` (x, y)."""
    height, width = rgb.shape[:2]
    x0, y0 = np.floor(points.min(0)).astype(int)
    x1, y1 = np.ceil(points.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(3), 0
    hull = cv2.convexHull((points - [x0, y0]).astype(np.int32))
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    patch = rgb[y0:y1, x0:x1]
    usable = (mask > 0) & np.all((patch > _DARK) & (patch < _BRIGHT), axis=2)
    pixels = patch[usable].astype(np.float64)
    return pixels.sum(0), int(pixels.shape[0])


def skin_mean_rgb(rgb: RGBFrame, points: npt.ArrayLike) -> FloatArray:
    """Mean RGB of the forehead and cheek pixels of a mesh (NaN when none is visible)."""
    xy = np.asarray(points, np.float64)[:, :2]
    total, count = np.zeros(3), 0
    for indices in skin_regions().values():
        s, n = _polygon_sum(rgb, xy[list(indices)])
        total, count = total + s, count + n
    return total / count if count else np.full(3, np.nan)


def box_skin_mean_rgb(rgb: RGBFrame, box: Sequence[float]) -> FloatArray:
    """Mean RGB of a face box's inner region (when there is no mesh): middle half, upper 2/3."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    inner = np.array(
        [[x1 + 0.25 * w, y1 + 0.15 * h], [x2 - 0.25 * w, y1 + 0.15 * h],
         [x2 - 0.25 * w, y1 + 0.65 * h], [x1 + 0.25 * w, y1 + 0.65 * h]]
    )  # fmt: skip
    s, n = _polygon_sum(rgb, inner)
    return s / n if n else np.full(3, np.nan)


# --------------------------------------------------------------------------- per-frame track


@dataclass(frozen=True)
class FaceTrack:
    """Per-frame measurements of the largest face (NaN where it was not measured).

    Attributes:
        times: (n,) frame times, seconds.
        points: (n, 468, 2) mesh points in image pixels.
        skin_rgb: (n, 3) mean RGB of the skin regions.
        ear: (n,) mean eye aspect ratio of both eyes.
        pose: (n, 3) head yaw, pitch, roll in degrees.
        source: the input's name, for messages.
        texture: (n,) homography residual of the face's tracked skin texture
            between each frame and the frame :data:`PAIR_LAG_S` before it
            (:func:`texture_residual`); None when not measured.
    """

    times: FloatArray
    points: FloatArray
    skin_rgb: FloatArray
    ear: FloatArray
    pose: FloatArray
    source: str = "frames"
    texture: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def has_mesh(self) -> npt.NDArray[np.bool_]:
        """(n,) whether each frame has a mesh."""
        return np.asarray(np.all(np.isfinite(self.points[:, :, 0]), axis=1))

    def window(self, start: float, end: float) -> FaceTrack:
        """The frames with ``start <= time < end``."""
        keep = (self.times >= start) & (self.times < end)
        return FaceTrack(
            self.times[keep],
            self.points[keep],
            self.skin_rgb[keep],
            self.ear[keep],
            self.pose[keep],
            f"{self.source} [{start:.1f}-{end:.1f} s]",
            None if self.texture is None else self.texture[keep],
        )


@dataclass
class _Rows:
    times: list[float] = field(default_factory=list)
    points: list[FloatArray] = field(default_factory=list)
    skin: list[FloatArray] = field(default_factory=list)
    ear: list[float] = field(default_factory=list)
    pose: list[tuple[float, float, float]] = field(default_factory=list)
    texture: list[float] = field(default_factory=list)
    recent: deque[tuple[float, npt.NDArray[np.uint8], FloatArray]] = field(default_factory=deque)

    def add(self, rgb: RGBFrame, time: float, face: Any) -> None:
        nan_points = np.full((N_FACE_POINTS, 2), np.nan)
        self.times.append(time)
        if face is None:
            self.points.append(nan_points)
            self.skin.append(np.full(3, np.nan))
            self.ear.append(math.nan)
            self.pose.append((math.nan,) * 3)
            self.texture.append(math.nan)
            return
        mesh = face.mesh
        if mesh is None:
            self.points.append(nan_points)
            self.skin.append(box_skin_mean_rgb(rgb, face.box))
            self.texture.append(math.nan)
        else:
            points = np.asarray(mesh[:N_FACE_POINTS, :2], np.float64)
            self.points.append(points)
            self.skin.append(skin_mean_rgb(rgb, mesh))
            self.texture.append(self._texture(rgb, time, points))
        eyes = face.eye_openness
        self.ear.append(math.nan if eyes is None else float(np.mean(eyes)))
        pose = face.pose
        self.pose.append((math.nan,) * 3 if pose is None else (pose.yaw, pose.pitch, pose.roll))

    def _texture(self, rgb: RGBFrame, time: float, points: FloatArray) -> float:
        """Texture residual against the latest frame at least PAIR_LAG_S earlier."""
        grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)
        while self.recent and self.recent[0][0] < time - 2 * PAIR_LAG_S:
            self.recent.popleft()
        earlier = [entry for entry in self.recent if entry[0] <= time - PAIR_LAG_S]
        self.recent.append((time, grey, points))
        if not earlier:
            return math.nan
        _, before, before_points = earlier[-1]
        return texture_residual(before, grey, before_points)

    def track(self, source: str) -> FaceTrack:
        n = len(self.times)
        return FaceTrack(
            np.asarray(self.times, np.float64),
            np.stack(self.points) if n else np.zeros((0, N_FACE_POINTS, 2)),
            np.stack(self.skin) if n else np.zeros((0, 3)),
            np.asarray(self.ear, np.float64),
            np.asarray(self.pose, np.float64).reshape(n, 3),
            source,
            np.asarray(self.texture, np.float64),
        )


def measure_face_track(frames: Iterable[Frame], source: str = "frames") -> FaceTrack:
    """Run the analysis pipeline on `frames` and keep the largest face's measurements.

    Uses :class:`~facescope.analysis.analyzer.Analyzer` (detection, tracking,
    mesh, eye openness, head pose; no expressions, action units or quality),
    without mesh smoothing so that the motion fits see the raw mesh.
    """
    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer

    rows = _Rows()
    current: list[Frame] = []

    def remember(stream: Iterable[Frame]) -> Iterator[Frame]:
        for frame in stream:
            current[:] = [frame]
            yield frame

    def on_frame(analysis: Any) -> None:
        frame = current[0]
        faces = analysis.faces
        rows.add(frame.rgb, frame.time, faces[0] if faces else None)

    options = AnalyzeOptions(expressions=False, action_units=False, quality=False, max_faces=1)
    stream: Iterable[Any] = remember(frames)  # Frame is frozen; the protocol's fields are not
    Analyzer(options).analyze_video(stream, smooth=False, on_frame=on_frame)
    return rows.track(source)


# --------------------------------------------------------------------------- motion fits


@dataclass(frozen=True)
class MotionFit:
    """How well one 2D motion model maps a frame's mesh onto another's.

    Residuals are mean point errors in inter-ocular distances (eye centres).
    """

    homography: float
    affine: float
    similarity: float
    displacement: float


def _iod(points: FloatArray) -> float:
    right = (points[geometry.RIGHT_EYE_OUTER] + points[geometry.RIGHT_EYE_INNER]) / 2.0
    left = (points[geometry.LEFT_EYE_OUTER] + points[geometry.LEFT_EYE_INNER]) / 2.0
    return float(np.linalg.norm(right - left))


def _mean_error(mapped: FloatArray, target: FloatArray) -> float:
    return float(np.mean(np.linalg.norm(mapped - target, axis=1)))


def fit_residuals(source: npt.ArrayLike, target: npt.ArrayLike) -> MotionFit:
    """Homography, affine and similarity residuals of the map `source` -> `target`.

    Both are ``(n, 2)`` point sets (n >= 5) in the same order, e.g. the 468
    mesh points of two frames; when they are mesh points, the unit is the
    source's inter-ocular distance, else the RMS distance of the source from
    its centroid. ``displacement`` is the mean point motion in the same unit.
    """
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 5:
        raise PADError(f"expected two (n >= 5, 2) point sets, got {src.shape} and {dst.shape}")
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise PADError("point sets must be finite")
    if src.shape[0] == N_FACE_POINTS:
        unit = _iod(src)
    else:
        unit = float(np.sqrt(np.mean(np.sum((src - src.mean(0)) ** 2, axis=1))))
    if unit < 1e-9:
        raise PADError("degenerate point set (all points coincide)")
    h, _ = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_THRESHOLD_IOD * unit)
    if h is None:
        homography = math.nan
    else:
        mapped = cv2.perspectiveTransform(src[None], h)[0]
        homography = _mean_error(mapped, dst) / unit
    design = np.hstack([src, np.ones((src.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    affine = _mean_error(design @ coef, dst) / unit
    rotation, scale, shift = geometry.similarity_fit(src, dst)
    similarity = _mean_error(scale * src @ rotation + shift, dst) / unit
    displacement = _mean_error(src, dst) / unit
    return MotionFit(homography, affine, similarity, displacement)


def texture_residual(before: npt.ArrayLike, after: npt.ArrayLike, points: npt.ArrayLike) -> float:
    """Homography residual of the face's own texture from `before` to `after` (IOD units).

    Corners inside the face (the hull of `points`, the mesh of `before`) are
    tracked with pyramidal Lucas-Kanade, kept when the backward track returns
    within a pixel, and fitted with a RANSAC homography; the result is the mean
    point error over the inter-ocular distance. Unlike the mesh, which a face
    model regularises towards a 3D face shape, texture painted on a flat photo
    moves exactly as a plane. NaN with fewer than :data:`MIN_TEXTURE_POINTS`
    tracked corners. For point sets other than the 468 mesh points the unit
    is their horizontal extent.
    """
    xy = np.asarray(points, np.float64)[:, :2]
    before, after = np.asarray(before), np.asarray(after)
    if before.ndim != 2 or before.shape != after.shape or not np.all(np.isfinite(xy)):
        raise PADError("expected two greyscale frames of one size and finite mesh points")
    unit = _iod(xy) if xy.shape[0] == N_FACE_POINTS else float(np.ptp(xy[:, 0]))
    if unit < 1e-9:
        return math.nan
    mask = np.zeros(before.shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(xy.astype(np.int32)), 255)
    before = np.ascontiguousarray(before, np.uint8)
    after = np.ascontiguousarray(after, np.uint8)
    start = cv2.goodFeaturesToTrack(before, 200, 0.01, 3, mask=mask)
    if start is None or len(start) < MIN_TEXTURE_POINTS:
        return math.nan
    nothing = np.empty(0, np.float32)
    moved, ok, _ = cv2.calcOpticalFlowPyrLK(
        before, after, start, nothing, winSize=(21, 21), maxLevel=4
    )
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(
        after, before, moved, nothing, winSize=(21, 21), maxLevel=4
    )
    good = (ok[:, 0] == 1) & (ok_back[:, 0] == 1) & (np.linalg.norm(back - start, axis=2)[:, 0] < 1)
    a, b = start[good, 0].astype(np.float64), moved[good, 0].astype(np.float64)
    if a.shape[0] < MIN_TEXTURE_POINTS:
        return math.nan
    h, _ = cv2.findHomography(a, b, cv2.RANSAC, RANSAC_THRESHOLD_IOD * unit)
    if h is None:
        return math.nan
    return _mean_error(cv2.perspectiveTransform(a[None], h)[0], b) / unit


def motion_pairs(
    times: FloatArray, usable: npt.NDArray[np.bool_], lag: float = PAIR_LAG_S
) -> list[tuple[int, int]]:
    """Pairs (i, j) of usable frames, j the first at least `lag` s after i (and within 2 lag)."""
    idx = np.flatnonzero(usable)
    pairs = []
    for k, i in enumerate(idx):
        later = idx[k + 1 :][times[idx[k + 1 :]] >= times[i] + lag]
        if later.size and times[later[0]] <= times[i] + 2 * lag:
            pairs.append((int(i), int(later[0])))
    return pairs


def track_motion(track: FaceTrack, lag: float = PAIR_LAG_S) -> list[MotionFit]:
    """Motion fits of every pair of mesh frames `lag` seconds apart."""
    pairs = motion_pairs(track.times, track.has_mesh, lag)
    return [fit_residuals(track.points[i], track.points[j]) for i, j in pairs]


# --------------------------------------------------------------------------- the cues

#: Below this median similarity residual (inter-ocular distances) the head moved too
#: little for the planar test (above a still photo's mesh jitter; README, PAD).
MIN_MOTION_IOD = 0.015
#: Where the measurements behind ``evidence()`` come from (see the module docs).
MEASURED = (
    "measured on the shared samples (5-s windows, pairs 0.5 s apart): live webcam "
    "0.069-0.106, its phone replay 0.031-0.091, three live talking heads 0.026-0.043, "
    "a flat photo moved and tilted before the camera (synthesised) 0.017-0.028"
)
#: Below this texture residual (IOD), with enough head motion, the face moved as a flat
#: picture (between moved photos and live faces: :data:`MEASURED_TEXTURE`).
PLANAR_TEXTURE_MAX = 0.006
MEASURED_TEXTURE = (
    "moved flat photos (synthesised from real frames) measured 0.0013-0.0041, live faces "
    "0.0078-0.081, the phone replay 0.033-0.073"
)


@dataclass(frozen=True)
class VideoLivenessCues:
    """Liveness cues of one video (or one window of it).

    Attributes:
        source: the input's name.
        duration_s: time from the first to the last frame read, seconds.
        frames: frames read.
        frames_with_mesh: frames where the largest face got a mesh.
        pulse_pos, pulse_chrom: the rPPG estimates, or None (see ``pulse_reason``).
        pulse_reason: why there is no pulse estimate (too short, too few frames...).
        blinks: the blinks found.
        blink_rate_per_min: blinks per minute of video.
        homography_residual, affine_residual, similarity_residual: median over
            frame pairs of each model's mean point error, inter-ocular distances.
        texture_residual: median homography residual of the face's tracked skin
            texture over frame pairs :data:`PAIR_LAG_S` apart (IOD;
            :func:`texture_residual`); NaN when not measured.
        texture_pairs: number of frame pairs behind `texture_residual`.
        head_motion: median mean point displacement between paired frames (IOD).
        head_rotation_deg: the larger of the yaw and pitch ranges (5th-95th
            percentile), degrees.
        motion_pairs: number of frame pairs fitted.
        motion_reason: why the planar test cannot judge (None when it can).
    """

    source: str
    duration_s: float
    frames: int
    frames_with_mesh: int
    pulse_pos: PulseEstimate | None
    pulse_chrom: PulseEstimate | None
    pulse_reason: str | None
    blinks: tuple[Blink, ...]
    blink_rate_per_min: float
    homography_residual: float
    affine_residual: float
    similarity_residual: float
    texture_residual: float
    texture_pairs: int
    head_motion: float
    head_rotation_deg: float
    motion_pairs: int
    motion_reason: str | None

    @property
    def heart_rate_pos_bpm(self) -> float:
        """POS heart rate (NaN without an estimate)."""
        return self.pulse_pos.bpm if self.pulse_pos else math.nan

    @property
    def snr_pos_db(self) -> float:
        """POS SNR in dB (NaN without an estimate)."""
        return self.pulse_pos.snr_db if self.pulse_pos else math.nan

    @property
    def heart_rate_chrom_bpm(self) -> float:
        """CHROM heart rate (NaN without an estimate)."""
        return self.pulse_chrom.bpm if self.pulse_chrom else math.nan

    @property
    def snr_chrom_db(self) -> float:
        """CHROM SNR in dB (NaN without an estimate)."""
        return self.pulse_chrom.snr_db if self.pulse_chrom else math.nan

    @property
    def blink_count(self) -> int:
        """Number of blinks."""
        return len(self.blinks)

    def values(self) -> dict[str, float]:
        """Every cue as a number (NaN where not measured)."""
        return {
            "heart_rate_pos": self.heart_rate_pos_bpm,
            "snr_pos": self.snr_pos_db,
            "heart_rate_chrom": self.heart_rate_chrom_bpm,
            "snr_chrom": self.snr_chrom_db,
            "blink_count": float(self.blink_count),
            "blink_rate": self.blink_rate_per_min,
            "homography_residual": self.homography_residual,
            "affine_residual": self.affine_residual,
            "similarity_residual": self.similarity_residual,
            "texture_residual": self.texture_residual,
            "head_motion": self.head_motion,
            "head_rotation": self.head_rotation_deg,
        }

    def evidence(self) -> list[dict[str, Any]]:
        """Each cue as evidence: ``{"cue", "value", "unit", "indicates", "why"}``.

        On the shared live video and its phone replay no cue separated the
        two (a replay carries the recorded face's pulse colour, blinks and 3D
        motion), so no cue ever says ``"live"``. The one decisive reading is
        ``texture_residual`` below :data:`PLANAR_TEXTURE_MAX` while the head
        moves: ``"attack"`` (a flat photo; measured on moving photos
        synthesised from real frames). Everything else is ``"unclear"``, and
        ``why`` says what the value means and why it cannot decide.
        """
        return _pulse_evidence(self) + _blink_evidence(self) + _motion_evidence(self)


def _entry(
    cue: str, value: float, unit: str, why: str, indicates: str = "unclear"
) -> dict[str, Any]:
    return {"cue": cue, "value": float(value), "unit": unit, "indicates": indicates, "why": why}


def _texture_evidence(cues: VideoLivenessCues) -> dict[str, Any]:
    value, unit = cues.texture_residual, "inter-ocular distances"
    if cues.motion_reason is not None:
        return _entry("texture_residual", value, unit, f"cannot judge: {cues.motion_reason}")
    if not math.isfinite(value):
        why = "not measured: too few trackable skin-texture points between frames"
        return _entry("texture_residual", value, unit, why)
    if value < PLANAR_TEXTURE_MAX:
        why = (
            f"the face's skin texture moved as a flat picture does (residual {value:.4f} < "
            f"{PLANAR_TEXTURE_MAX}) although the head moved: a photo or a still image on a "
            f"screen; {MEASURED_TEXTURE}"
        )
        return _entry("texture_residual", value, unit, why, "attack")
    why = (
        f"the face moved unlike a flat picture (residual {value:.4f} >= {PLANAR_TEXTURE_MAX}), "
        "so it is not a moved photo; a video replay shows the recorded face's 3D motion too, "
        f"so this does not tell live from replay ({MEASURED_TEXTURE})"
    )
    return _entry("texture_residual", value, unit, why)


def _pulse_evidence(cues: VideoLivenessCues) -> list[dict[str, Any]]:
    out = []
    for name, estimate in (("pos", cues.pulse_pos), ("chrom", cues.pulse_chrom)):
        if estimate is None:
            why = f"no pulse estimate: {cues.pulse_reason}"
            out += [_entry(f"heart_rate_{name}", math.nan, "bpm", why)]
            out += [_entry(f"pulse_snr_{name}", math.nan, "dB", why)]
            continue
        out.append(
            _entry(
                f"heart_rate_{name}",
                estimate.bpm,
                "bpm",
                f"strongest skin-colour rhythm in 42-240 bpm ({name.upper()}); a replay shows "
                "the recorded person's pulse too, so a heart rate does not prove liveness",
            )
        )
        out.append(
            _entry(
                f"pulse_snr_{name}",
                estimate.snr_db,
                "dB",
                "strength of that rhythm against the rest of the band; on the shared samples it "
                "was low (-7 to +2 dB) for the live faces and the replay alike",
            )
        )
    return out


def _blink_evidence(cues: VideoLivenessCues) -> list[dict[str, Any]]:
    why = (
        "blinks seen in the video; a replay shows the recorded blinks (the shared replay had "
        "as many as its live original), so only their absence over a long video would hint "
        "at a still photo"
    )
    return [
        _entry("blink_count", cues.blink_count, "blinks", why),
        _entry("blink_rate", cues.blink_rate_per_min, "per minute", why),
    ]


def _motion_evidence(cues: VideoLivenessCues) -> list[dict[str, Any]]:
    if cues.motion_reason is not None:
        planar = f"cannot judge: {cues.motion_reason}"
    else:
        planar = (
            "how far the mesh's motion is from a flat picture's (0 = moves exactly as a plane); "
            f"{MEASURED}: the face mesh is fitted with a 3D face prior, so even a flat photo's "
            "mesh does not move as a plane, and this does not separate live faces from a "
            "replay or a moved photo (see texture_residual)"
        )
    unit = "inter-ocular distances"
    fit = "the same residual for {} fit, for comparison with the homography"
    motion = (
        "how much the head moved; the planar test needs motion beyond a similarity "
        f"(similarity residual >= {MIN_MOTION_IOD})"
    )
    return [
        _texture_evidence(cues),
        _entry("homography_residual", cues.homography_residual, unit, planar),
        _entry("affine_residual", cues.affine_residual, unit, fit.format("an affine")),
        _entry(
            "similarity_residual",
            cues.similarity_residual,
            "inter-ocular distances",
            fit.format("a similarity (shift, turn, zoom)"),
        ),
        _entry("head_motion", cues.head_motion, "inter-ocular distances", motion),
        _entry("head_rotation", cues.head_rotation_deg, "degrees", motion),
    ]


def _pulse(track: FaceTrack) -> tuple[PulseEstimate | None, PulseEstimate | None, str | None]:
    try:
        pos = estimate_pulse(track.times, track.skin_rgb, method="pos")
        chrom = estimate_pulse(track.times, track.skin_rgb, method="chrom")
    except PADError as exc:
        return None, None, str(exc)
    return pos, chrom, None


def _blinks(track: FaceTrack) -> tuple[Blink, ...]:
    detector = BlinkDetector()
    for time, ear in zip(track.times, track.ear, strict=True):
        detector.update(float(time), float(ear) if math.isfinite(ear) else None)
    return tuple(detector.blinks_)


def _finite(values: FloatArray | None) -> FloatArray:
    if values is None:
        return np.zeros(0)
    return np.asarray(values[np.isfinite(values)], np.float64)


def _rotation_range(pose: FloatArray) -> float:
    ranges = []
    for column in (0, 1):
        values = pose[:, column][np.isfinite(pose[:, column])]
        if values.size >= 2:
            low, high = np.percentile(values, [5, 95])
            ranges.append(float(high - low))
    return max(ranges) if ranges else math.nan


def _motion(track: FaceTrack, lag: float) -> tuple[list[MotionFit], str | None]:
    fits = track_motion(track, lag)
    if not fits:
        return fits, f"no two frames with a mesh {lag:g} s apart"
    similarity = float(np.median([f.similarity for f in fits]))
    if similarity < MIN_MOTION_IOD:
        return fits, (
            f"not enough motion to judge (similarity residual {similarity:.4f} < "
            f"{MIN_MOTION_IOD}: the head barely turned)"
        )
    return fits, None


def track_cues(track: FaceTrack, *, lag: float = PAIR_LAG_S) -> VideoLivenessCues:
    """The liveness cues of measured frames (see :func:`video_cues`)."""
    if len(track) == 0:
        raise PADError(f"{track.source}: no frames")
    duration = float(track.times[-1] - track.times[0])
    pos, chrom, reason = _pulse(track)
    blinks = _blinks(track)
    fits, motion_reason = _motion(track, lag)
    texture = _finite(track.texture)

    def median(name: str) -> float:
        return float(np.median([getattr(f, name) for f in fits])) if fits else math.nan

    return VideoLivenessCues(
        source=track.source,
        duration_s=duration,
        frames=len(track),
        frames_with_mesh=int(track.has_mesh.sum()),
        pulse_pos=pos,
        pulse_chrom=chrom,
        pulse_reason=reason,
        blinks=blinks,
        blink_rate_per_min=60.0 * len(blinks) / duration if duration > 0 else math.nan,
        homography_residual=median("homography"),
        affine_residual=median("affine"),
        similarity_residual=median("similarity"),
        texture_residual=float(np.median(texture)) if texture.size else math.nan,
        texture_pairs=int(texture.size),
        head_motion=median("displacement"),
        head_rotation_deg=_rotation_range(track.pose),
        motion_pairs=len(fits),
        motion_reason=motion_reason,
    )


# --------------------------------------------------------------------------- inputs

VideoCueInput: TypeAlias = str | os.PathLike[str] | Sequence[RGBFrame] | Sequence[Frame]


def _frames_from_list(
    frames: Sequence[Any], fps: float | None, times: Sequence[float] | None
) -> list[Frame]:
    if len(frames) == 0:
        raise PADError("no frames: the frame list is empty")
    if times is not None and len(times) != len(frames):
        raise PADError(f"{len(times)} timestamps for {len(frames)} frames")
    out = []
    for i, item in enumerate(frames):
        if isinstance(item, Frame):
            out.append(item)
            continue
        rgb = item
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
            kind = getattr(rgb, "dtype", type(rgb).__name__)
            raise PADError(f"frame {i}: expected an RGB uint8 array, got {kind}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 16:
            raise PADError(f"frame {i}: expected an (H, W, 3) RGB image, got shape {rgb.shape}")
        if times is None and (fps is None or not math.isfinite(fps) or fps <= 0):
            raise PADError("frames given as arrays need fps= (> 0) or times=")
        time = float(times[i]) if times is not None else i / float(fps)  # type: ignore[arg-type]
        out.append(Frame(i, time, np.ascontiguousarray(rgb)))
    stamps = np.array([f.time for f in out])
    if not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) < 0):
        raise PADError("frame times must be finite and must not decrease")
    return out


def _limited(
    frames: Iterable[Frame], max_frames: int | None, max_seconds: float | None
) -> Iterator[Frame]:
    start: float | None = None
    for count, frame in enumerate(frames):
        if max_frames is not None and count >= max_frames:
            return
        start = frame.time if start is None else start
        if max_seconds is not None and frame.time - start > max_seconds:
            return
        yield frame


def measure_video(
    source: VideoCueInput,
    *,
    fps: float | None = None,
    times: Sequence[float] | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
) -> FaceTrack:
    """Per-frame measurements of a video path or a list of frames (see :func:`video_cues`)."""
    if max_frames is not None and max_frames < 1:
        raise PADError(f"max_frames must be >= 1, got {max_frames}")
    if max_seconds is not None and not max_seconds > 0:
        raise PADError(f"max_seconds must be > 0, got {max_seconds}")
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        with open_video(source, max_frames=max_frames) as video:
            track = measure_face_track(_limited(video, max_frames, max_seconds), name)
    elif isinstance(source, Sequence):
        frames = _frames_from_list(source, fps, times)
        track = measure_face_track(_limited(frames, max_frames, max_seconds))
    else:
        raise PADError(f"expected a video path or a list of frames, got {type(source).__name__}")
    if len(track) == 0:
        raise PADError(f"{track.source}: no frames could be read")
    return track


def video_cues(
    source: VideoCueInput,
    *,
    fps: float | None = None,
    times: Sequence[float] | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    lag: float = PAIR_LAG_S,
) -> VideoLivenessCues:
    """Liveness cues (pulse, blinks, planar motion) of the largest face in a video.

    Args:
        source: a video file path (read with :func:`facescope.video.open_video`),
            or a list of RGB ``uint8`` frames (with `fps` or `times`), or of
            :class:`facescope.video.Frame` objects (their own times).
        fps: frame rate of a list of arrays.
        times: per-frame timestamps in seconds of a list of arrays (uneven rates welcome).
        max_frames: read at most this many frames.
        max_seconds: read at most this many seconds from the first frame (None: all).
        lag: seconds between the two frames of a motion pair.

    Raises:
        PADError: empty input, frames that are not RGB ``uint8``, a missing
            frame rate (:class:`facescope.errors.VideoError` for a file that
            cannot be read). A video too short for a pulse gives no pulse
            estimate, with the reason in ``pulse_reason``.
    """
    track = measure_video(
        source, fps=fps, times=times, max_frames=max_frames, max_seconds=max_seconds
    )
    return track_cues(track, lag=lag)


def windowed_cues(
    track: FaceTrack,
    *,
    window_s: float = 5.0,
    step_s: float | None = None,
    lag: float = PAIR_LAG_S,
) -> list[VideoLivenessCues]:
    """The cues of consecutive windows of a measured video (`step_s` default: `window_s`)."""
    step = window_s if step_s is None else step_s
    if not (window_s >= MIN_SECONDS and step > 0):
        raise PADError(f"window_s must be >= {MIN_SECONDS} s and step_s > 0")
    if len(track) == 0:
        raise PADError(f"{track.source}: no frames")
    first, last = float(track.times[0]), float(track.times[-1])
    # the last frame covers one frame interval: a 10-s video at 20 fps ends at 9.95 s
    frame_s = float(np.median(np.diff(track.times))) if len(track) > 1 else 0.0
    out = []
    start = first
    while start + window_s <= last + frame_s + 1e-9:
        out.append(track_cues(track.window(start, start + window_s), lag=lag))
        start += step
    return out
