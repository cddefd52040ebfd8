"""Per tracked face of a video: mouth crops, lip landmarks and who is speaking when.

The data flow joins :mod:`facescope.video` (pixels) and :mod:`facescope.analysis`
(the mesh) the way :meth:`facescope.analysis.Analyzer.analyze_video` does: each
frame's faces are detected (YuNet), tracked
(:class:`~facescope.tracking.tracker.FaceTracker`), meshed with the shared
MediaPipe mesher while the frame is still held, and each track's mesh smoothed
with a One-Euro filter. From the smoothed mesh come the 88x88 mouth crop
(:func:`~facescope.lips.mouth.mouth_crop`) and the canonical lip and jaw points
(:func:`~facescope.lips.mouth.lip_landmarks`); at the end each track's points
give its visual voice activity (:mod:`facescope.lips.vad`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facescope.analysis.geometry import MOUTH_LEFT, MOUTH_RIGHT
from facescope.lips.errors import LipsError, NoMouthError
from facescope.lips.mouth import LANDMARK_POINTS, lip_landmarks, mouth_crop
from facescope.lips.vad import VadOptions, detect_speech, speech_segments

#: A track gap longer than this (seconds) restarts its mesh smoothing.
SMOOTHING_RESET_S = 0.5


class _Frame(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def time(self) -> float: ...
    @property
    def rgb(self) -> npt.NDArray[np.uint8]: ...


@dataclass(frozen=True, eq=False)
class LipTrack:
    """One tracked face's visual-speech sequence (T frames where it had a mesh).

    Attributes:
        track: the tracker's id.
        time: (T,) float64 seconds, increasing.
        frames: (T,) int64 frame indices in the video.
        crops: (T, 88, 88) uint8 greyscale mouth crops.
        lips: (T, 57, 3) float32 lip then jaw points (:data:`LANDMARK_POINTS`) on the
            canonical face, millimetres.
        activity: (T,) float32 mouth activity (mm/s, :func:`~facescope.lips.vad.speech_activity`).
        speaking: (T,) bool visual voice activity.
        mouth: (T, 2) float32 image position (x, y pixels) of the mouth (corners' midpoint).
    """

    track: int
    time: npt.NDArray[np.float64]
    frames: npt.NDArray[np.int64]
    crops: npt.NDArray[np.uint8]
    lips: npt.NDArray[np.float32]
    activity: npt.NDArray[np.float32]
    speaking: npt.NDArray[np.bool_]
    mouth: npt.NDArray[np.float32]

    @property
    def speaking_fraction(self) -> float:
        """Share of the track's frames that are speaking."""
        return float(self.speaking.mean()) if len(self.speaking) else 0.0

    def segments(self) -> list[tuple[float, float]]:
        """(start, end) seconds of each speaking run."""
        return speech_segments(self.speaking, self.time)

    def to_dict(self) -> dict[str, Any]:
        """Summary (no arrays): frames, time span, speech ranges and speaking fraction."""
        return {
            "track": self.track,
            "frames": len(self.time),
            "start": float(self.time[0]) if len(self.time) else None,
            "end": float(self.time[-1]) if len(self.time) else None,
            "speaking_fraction": round(self.speaking_fraction, 4),
            "speech": [[round(a, 3), round(b, 3)] for a, b in self.segments()],
            "mean_activity": round(float(self.activity.mean()), 3) if len(self.time) else None,
            "mouth_xy": [round(float(v), 1) for v in self.mouth.mean(0)]
            if len(self.time)
            else None,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the arrays to `path` (.npz): crops, time, lips, speaking and the rest."""
        target = Path(path)
        np.savez_compressed(
            target,
            crops=self.crops,
            time=self.time,
            lips=self.lips,
            speaking=self.speaking,
            activity=self.activity,
            frames=self.frames,
            mouth=self.mouth,
            points=np.asarray(LANDMARK_POINTS, np.int64),
            track=np.int64(self.track),
        )
        return target


def load_track(path: str | os.PathLike[str]) -> LipTrack:
    """Read a :class:`LipTrack` written by :meth:`LipTrack.save`."""
    try:
        with np.load(path) as data:
            return LipTrack(
                int(data["track"]),
                np.asarray(data["time"], np.float64),
                np.asarray(data["frames"], np.int64),
                np.asarray(data["crops"], np.uint8),
                np.asarray(data["lips"], np.float32),
                np.asarray(data["activity"], np.float32),
                np.asarray(data["speaking"], bool),
                np.asarray(data["mouth"], np.float32),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise LipsError(f"{path}: not a lips track file ({exc})") from exc


@dataclass(frozen=True)
class LipsResult:
    """Every track's visual-speech sequence of one video.

    Attributes:
        source: the video's name.
        fps: frames per second announced by the video (None if unknown).
        frames: frames read.
        tracks: one :class:`LipTrack` per face track with a mesh, by track id.
        files: the .npz files written (by :meth:`save`).
        ended_early: why decoding stopped early (a damaged file), else None.
    """

    source: str
    fps: float | None
    frames: int
    tracks: list[LipTrack]
    files: list[str] = field(default_factory=list)
    ended_early: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope lips --json`` document."""
        return {
            "source": self.source,
            "fps": self.fps,
            "frames": self.frames,
            "tracks": [t.to_dict() for t in self.tracks],
            "files": list(self.files),
            "ended_early": self.ended_early,
        }

    def save(self, folder: str | os.PathLike[str]) -> LipsResult:
        """Write ``folder/track_<id>.npz`` per track; the result with :attr:`files` set."""
        from dataclasses import replace

        out = Path(folder)
        try:
            out.mkdir(parents=True, exist_ok=True)
            files = [str(t.save(out / f"track_{t.track}.npz")) for t in self.tracks]
        except OSError as exc:
            raise LipsError(f"cannot write to {out}: {exc.strerror or exc}") from exc
        return replace(self, files=files)


@dataclass
class _Gathered:
    smoother: Any
    last_time: float = -math.inf
    time: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    crops: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    lips: list[npt.NDArray[np.float64]] = field(default_factory=list)
    mouth: list[npt.NDArray[np.float64]] = field(default_factory=list)


class LipExtractor:
    """Runs detection, tracking, mesh, crops and lip points frame by frame.

    Feed frames with :meth:`add`; :meth:`finish` gives the tracks with their voice
    activity. `min_frames`: tracks with fewer meshed frames are dropped.
    """

    def __init__(
        self,
        *,
        vad: VadOptions | None = None,
        max_faces: int | None = None,
        min_size: float | None = None,
        smooth: bool = True,
        min_frames: int = 3,
    ) -> None:
        from facescope.tracking.tracker import FaceTracker

        if max_faces is not None and (isinstance(max_faces, bool) or max_faces < 1):
            raise LipsError(f"max_faces must be >= 1, got {max_faces!r}")
        if min_frames < 1:
            raise LipsError(f"min_frames must be >= 1, got {min_frames!r}")
        self.vad = vad or VadOptions()
        self.max_faces = max_faces
        self.min_size = min_size
        self.smooth = smooth
        self.min_frames = min_frames
        self._tracker = FaceTracker(min_hits=1)
        self._gathered: dict[int, _Gathered] = {}
        self.frames_read = 0
        #: seconds spent in the detector, the mesh, and the rest (crops, points), for benchmarks
        self.seconds = {"detect": 0.0, "mesh": 0.0, "lips": 0.0}

    def add(self, frame: _Frame) -> None:
        """Process one frame."""
        import time as clock

        from facescope.analysis.mesh import shared_mesher
        from facescope.analysis.smoothing import OneEuroFilter
        from facescope.pipeline import find_faces

        rgb = frame.rgb
        self.frames_read += 1
        start = clock.perf_counter()
        faces = find_faces(
            rgb, min_size=self.min_size, max_faces=self.max_faces, assume_aligned=False
        )
        ids = self._tracker.update(faces, frame.time)
        self.seconds["detect"] += clock.perf_counter() - start
        for i in range(len(faces)):
            track = int(ids[i])
            if track < 0:
                continue
            start = clock.perf_counter()
            mesh = shared_mesher().mesh(rgb, faces.boxes[i])
            middle = clock.perf_counter()
            self.seconds["mesh"] += middle - start
            if mesh is None:
                continue
            state = self._gathered.get(track)
            if state is None:
                state = self._gathered[track] = _Gathered(OneEuroFilter())
            if frame.time - state.last_time > SMOOTHING_RESET_S:
                state.smoother.reset()
            if state.time and frame.time <= state.time[-1]:
                continue  # a repeated timestamp: keep the track's time increasing
            state.last_time = frame.time
            points = mesh.points.astype(np.float64)
            if self.smooth:
                points = np.asarray(state.smoother(points, frame.time), np.float64)
            state.time.append(float(frame.time))
            state.frames.append(int(frame.index))
            state.crops.append(mouth_crop(rgb, points))
            state.lips.append(lip_landmarks(points))
            state.mouth.append((points[MOUTH_RIGHT, :2] + points[MOUTH_LEFT, :2]) / 2)
            self.seconds["lips"] += clock.perf_counter() - middle

    def finish(self) -> list[LipTrack]:
        """Each track (with at least `min_frames` meshed frames) with its voice activity."""
        tracks: list[LipTrack] = []
        for track, state in sorted(self._gathered.items()):
            if len(state.time) < self.min_frames:
                continue
            time = np.asarray(state.time, np.float64)
            lips = np.stack(state.lips)
            speaking, activity = detect_speech(lips, time, self.vad)
            tracks.append(
                LipTrack(
                    track,
                    time,
                    np.asarray(state.frames, np.int64),
                    np.stack(state.crops).astype(np.uint8),
                    lips.astype(np.float32),
                    activity.astype(np.float32),
                    speaking,
                    np.stack(state.mouth).astype(np.float32),
                )
            )
        return tracks


def extract_frames(
    frames: Iterable[_Frame],
    *,
    source: str = "frames",
    fps: float | None = None,
    vad: VadOptions | None = None,
    max_faces: int | None = None,
    smooth: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
) -> LipsResult:
    """:func:`extract_lips` on frames in memory (objects with ``index``, ``time``, ``rgb``)."""
    extractor = LipExtractor(vad=vad, max_faces=max_faces, smooth=smooth)
    for frame in frames:
        extractor.add(frame)
        if progress is not None:
            progress(extractor.frames_read, total)
    tracks = extractor.finish()
    if not tracks:
        raise NoMouthError(
            f"{source}: no face with a mouth mesh in {extractor.frames_read} frame(s)"
        )
    return LipsResult(source, fps, extractor.frames_read, tracks)


def extract_lips(
    source: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    vad: VadOptions | None = None,
    max_faces: int | None = None,
    smooth: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
) -> LipsResult:
    """Mouth crops, lip landmarks and voice activity per tracked face of a video.

    Args:
        source: a video file (or anything :func:`facescope.video.open_video` reads).
        out: write ``out/track_<id>.npz`` per track (see :meth:`LipTrack.save`).
        max_frames: stop after this many frames.
        vad: the voice-activity options.
        max_faces: follow at most this many faces per frame (the largest).
        smooth: One-Euro smoothing of each track's mesh.
        progress: called as ``progress(frames_done, total_or_None)``.

    Raises:
        VideoError: the video cannot be read (missing, empty, corrupt, not a video).
        NoMouthError: no face with a mesh in the video.
        LipsError: bad parameters, or `out` cannot be written.
    """
    from facescope.io.video import open_video

    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise LipsError(f"max_frames must be >= 1, got {max_frames!r}")
    with open_video(source, max_frames=max_frames) as video:
        total = video.frame_count
        if max_frames is not None and total is not None:
            total = min(total, max_frames)
        result = extract_frames(
            video,
            source=video.source_name,
            fps=video.fps,
            vad=vad,
            max_faces=max_faces,
            smooth=smooth,
            progress=progress,
            total=total,
        )
        ended = video.ended_early
    if ended:
        from dataclasses import replace

        result = replace(result, ended_early=ended)
    return result.save(out) if out is not None else result
