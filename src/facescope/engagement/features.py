"""Per-frame engagement records from facial analysis: one :class:`FrameRecord` per face per frame.

:class:`RecordBuilder` reads :class:`~facescope.analysis.result.FrameAnalysis`
results one at a time (so it runs on a live stream as well as on a finished
:class:`~facescope.analysis.result.VideoAnalysis`) and keeps per person only what
the next frame needs. Everything here is cheap: no model runs, only geometry on
measures the analyzer already made (the mesh, pose, gaze, eye and mouth
openness, expressions, action units).

**Gaze is relative to the camera's lens**, not to the screen: a face looking
into the lens has a gaze angle of 0. A screen (or any target) below, above or
beside the camera is configured with :class:`GazeTarget` (its centre's offset
from the lens in millimetres and its radius); angles are then measured to the
target's edge. The head position comes from the pose solve's assumed focal
length (see :mod:`facescope.analysis.pose`), so the offset is approximate.

**Persons.** The analyzer's tracker ends a track after 2 s without the face (it
has no appearance model here), so a person who leaves the picture for longer
comes back as a new track. With ``stitch=True`` a new track continues the most
recently seen person whose last box overlaps its first box and who is not in the
frame at the time (a video-call tile or a seat): that is the person id reported.
Two people taking turns at the same place are merged by this rule.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facescope.analysis.geometry import to_canonical
from facescope.analysis.pose import line_of_sight, rotation_from_euler
from facescope.analysis.result import FaceAnalysis, FrameAnalysis, VideoAnalysis
from facescope.engagement.errors import EngagementError

FloatArray = npt.NDArray[np.float64]

#: Seconds of mouth openness whose standard deviation measures mouth activity (speaking).
MOUTH_WINDOW_S = 0.5
#: Two frames further apart than this are not consecutive (no motion measured across).
MAX_STEP_S = 0.25
#: A new track continues an absent person whose last box overlaps its first by this much.
STITCH_IOU = 0.2
_NAN = math.nan
_FORWARD = np.array([0.0, 0.0, -1.0])


@dataclass(frozen=True)
class GazeTarget:
    """Where an attending person looks, relative to the camera's lens.

    Attributes:
        offset_mm: the target's centre in camera coordinates, millimetres, from
            the lens: x to the image's right, y down, z away from the camera
            (towards the person). ``(0, 0, 0)`` is the lens itself; a laptop
            screen's centre under its webcam is about ``(0, 120, 0)``.
        radius_mm: the target's radius (a screen: half its diagonal); looking
            anywhere inside counts as on target.
        tolerance_deg: degrees beyond the target's edge still counted as on
            target (the mesh-based gaze estimate errs by several degrees).
    """

    offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius_mm: float = 0.0
    tolerance_deg: float = 15.0

    def __post_init__(self) -> None:
        values = (*self.offset_mm, self.radius_mm, self.tolerance_deg)
        if len(self.offset_mm) != 3 or not all(math.isfinite(float(v)) for v in values):
            raise EngagementError(f"gaze target: need 3 finite offsets, got {self.offset_mm}")
        if self.radius_mm < 0 or not 0 < self.tolerance_deg < 90:
            raise EngagementError(
                "gaze target: radius_mm must be >= 0 and tolerance_deg in (0, 90)"
            )

    @property
    def is_lens(self) -> bool:
        """Whether the target is the lens itself (no offset, no extent)."""
        return not any(self.offset_mm) and self.radius_mm == 0

    def direction(self, head_mm: FloatArray | None) -> tuple[FloatArray, float]:
        """Unit direction from the head to the target, in the head's line-of-sight frame,
        and the target's angular radius (degrees) seen from the head."""
        if self.is_lens or head_mm is None or not np.isfinite(head_mm).all():
            return _FORWARD, 0.0
        head = np.asarray(head_mm, np.float64)
        towards = np.asarray(self.offset_mm, np.float64) - head
        distance = max(float(np.linalg.norm(towards)), 1e-6)
        local = line_of_sight(head).T @ (towards / distance)
        return local, math.degrees(math.atan2(self.radius_mm, distance))


@dataclass(frozen=True)
class FrameRecord:
    """What engagement needs from one face in one frame (NaN: not measured).

    Attributes:
        time: seconds from the start of the video.
        person: the person id (the first track id of the person; see the module docs).
        frame: the frame index.
        track: the analyzer's track id.
        yaw, pitch, roll: head pose, degrees.
        gaze_angle: degrees between the gaze and the target's edge (0: on it).
        facing_angle: degrees between the head's forward direction and the target's edge.
        eye_openness: mean eye aspect ratio of both eyes.
        mouth_openness: inner-lip gap over mouth width.
        mouth_activity: standard deviation of mouth openness over the last
            :data:`MOUTH_WINDOW_S` seconds (speaking moves the lips).
        motion: facial motion energy: mean speed of the mesh's 468 face points
            after alignment onto the canonical face (head movement removed), mm/s
            on a face with 90 mm between the outer eye corners.
        valence, arousal: derived from the expression probabilities (circumplex).
        expressions: the 7 expression probabilities (``EXPRESSIONS`` order).
        action_units: geometric AU estimates.
    """

    time: float
    person: int
    frame: int | None = None
    track: int | None = None
    yaw: float = _NAN
    pitch: float = _NAN
    roll: float = _NAN
    gaze_angle: float = _NAN
    facing_angle: float = _NAN
    eye_openness: float = _NAN
    mouth_openness: float = _NAN
    mouth_activity: float = _NAN
    motion: float = _NAN
    valence: float = _NAN
    arousal: float = _NAN
    expressions: tuple[float, ...] | None = None
    action_units: Mapping[str, float] | None = None


def _angle(a: FloatArray, b: FloatArray) -> float:
    cosine = float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Person:
    box: tuple[float, ...]
    last_time: float
    canonical: FloatArray | None = None
    canonical_time: float = -math.inf
    mouth: deque[tuple[float, float]] = field(default_factory=deque)


class RecordBuilder:
    """Turns analysed frames into :class:`FrameRecord` objects, one frame at a time.

    Args:
        target: where attending people look (default: the lens).
        stitch: join a new track to the absent person it continues (module docs).

    Feed frames in time order with :meth:`add`; :attr:`records` and
    :attr:`frame_times` hold everything seen; :meth:`person_of` maps track ids.
    """

    def __init__(self, target: GazeTarget | None = None, *, stitch: bool = True) -> None:
        self.target = target or GazeTarget()
        self.stitch = stitch
        self.records: list[FrameRecord] = []
        self.frame_times: list[float] = []
        self._people: dict[int, _Person] = {}
        self._track_person: dict[int, int] = {}
        self._untracked = -1

    def person_of(self, track: int) -> int:
        """The person id a track id was assigned to (the track id itself if never seen)."""
        return self._track_person.get(track, track)

    def add(self, frame: FrameAnalysis) -> list[FrameRecord]:
        """Record one analysed frame; returns its records (one per face)."""
        time = frame.time if frame.time is not None else float(len(self.frame_times))
        if self.frame_times and time < self.frame_times[-1]:
            raise EngagementError(
                f"frames must come in time order: {time:.3f} s after {self.frame_times[-1]:.3f} s"
            )
        self.frame_times.append(time)
        in_frame = {
            self._track_person[f.track]
            for f in frame.faces
            if f.track is not None and f.track in self._track_person
        }
        out = []
        for face in frame.faces:
            person = self._person(face, time, in_frame)
            in_frame.add(person)
            out.append(self._record(face, time, person))
        self.records.extend(out)
        return out

    def _person(self, face: FaceAnalysis, time: float, in_frame: set[int]) -> int:
        box = tuple(float(v) for v in face.box)
        if face.track is None:  # untracked faces are their own one-frame person
            self._untracked -= 1
            return self._untracked
        person = self._track_person.get(face.track)
        if person is None:
            person = face.track
            if self.stitch:
                candidates = [
                    (state.last_time, pid)
                    for pid, state in self._people.items()
                    if pid not in in_frame
                    and state.last_time < time
                    and _iou(state.box, box) >= STITCH_IOU
                ]
                if candidates:
                    person = max(candidates)[1]
            self._track_person[face.track] = person
        state = self._people.get(person)
        if state is None:
            state = self._people[person] = _Person(box, time)
        state.box, state.last_time = box, time
        return person

    def _record(self, face: FaceAnalysis, time: float, person: int) -> FrameRecord:
        state = self._people.get(person)
        values: dict[str, object] = {}
        pose = face.pose
        if pose is not None:
            values.update(yaw=pose.yaw, pitch=pose.pitch, roll=pose.roll)
            towards, radius = self.target.direction(pose.translation)
            head = rotation_from_euler(pose.yaw, pose.pitch, pose.roll) @ _FORWARD
            values["facing_angle"] = max(0.0, _angle(head, towards) - radius)
            if face.gaze is not None:
                values["gaze_angle"] = max(0.0, _angle(face.gaze.vector, towards) - radius)
        if face.eye_openness is not None:
            values["eye_openness"] = float(np.mean(face.eye_openness))
        if face.mouth_openness is not None and state is not None:
            mouth = float(face.mouth_openness)
            values["mouth_openness"] = mouth
            state.mouth.append((time, mouth))
            while state.mouth and state.mouth[0][0] < time - MOUTH_WINDOW_S:
                state.mouth.popleft()
            if len(state.mouth) >= 3:
                values["mouth_activity"] = float(np.std([m for _, m in state.mouth]))
        if face.mesh is not None and state is not None:
            canonical = to_canonical(face.mesh[:468])
            step = time - state.canonical_time
            if state.canonical is not None and 0 < step <= MAX_STEP_S:
                speed = np.linalg.norm(canonical - state.canonical, axis=1).mean() / step
                values["motion"] = float(speed)
            state.canonical, state.canonical_time = canonical, time
        if face.valence is not None and face.arousal is not None:
            values.update(valence=float(face.valence), arousal=float(face.arousal))
        if face.expressions:
            from facescope.analysis.expression.labels import EXPRESSIONS

            values["expressions"] = tuple(float(face.expressions[n]) for n in EXPRESSIONS)
        if face.action_units:
            values["action_units"] = dict(face.action_units)
        return FrameRecord(time, person, face.frame, face.track, **values)  # type: ignore[arg-type]


def frame_records(
    frames: VideoAnalysis | Iterable[FrameAnalysis],
    target: GazeTarget | None = None,
    *,
    stitch: bool = True,
) -> RecordBuilder:
    """Every frame of a video analysis through a :class:`RecordBuilder` (returned)."""
    builder = RecordBuilder(target, stitch=stitch)
    for frame in frames.frames if isinstance(frames, VideoAnalysis) else frames:
        builder.add(frame)
    return builder


__all__ = [
    "MAX_STEP_S",
    "MOUTH_WINDOW_S",
    "FrameRecord",
    "GazeTarget",
    "RecordBuilder",
    "frame_records",
]
