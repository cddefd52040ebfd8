"""What :func:`facescope.analyze` returns: per-face results, per frame, and tidy tables.

One :class:`FaceAnalysis` per face holds every measure and, in ``missing``,
why any measure is absent (``{"mesh": "no mesh: profile or occluded face"}``):
a valid image never raises, it reports. :meth:`FrameAnalysis.to_frame` and
:meth:`VideoAnalysis.to_frame` give a pandas DataFrame with one row per face per
frame (py-feat's layout), ready for ``to_csv`` / ``to_parquet``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.types import Box

if TYPE_CHECKING:
    import pandas as pd

    from facescope.analysis.eyes import Blink, Gaze
    from facescope.analysis.pose import HeadPose
    from facescope.quality import FaceQuality

FloatArray = npt.NDArray[np.float32]

#: Quality components copied into tables (prefixed ``q_``).
QUALITY_COLUMNS = (
    "eye_distance",
    "sharpness",
    "brightness",
    "contrast",
    "border_cut",
    "occlusion",
)


@dataclass(frozen=True)
class FaceAnalysis:
    """Everything measured on one face. Absent measures are None, with a reason in `missing`.

    Attributes:
        face: the face's index in its image (face order: left to right, as
            :func:`facescope.detect` returns them).
        box: ``x1, y1, x2, y2`` in image pixels (4 floats, from the float32 boxes).
        detector_score: YuNet's confidence.
        landmarks5: (5, 2) detector landmarks (eyes, nose, mouth corners).
        mesh: (478, 3) MediaPipe mesh with iris, image pixels (z: relative depth).
        mesh_inside: share of the 468 face points inside the image.
        landmarks68: (68, 2) dlib points, when asked for.
        pose: head yaw, pitch, roll (degrees) from the mesh.
        gaze: gaze direction from the irises and the head pose.
        eye_openness: eye aspect ratio of the (right, left) eye, the person's own sides.
        mouth_openness: inner-lip gap over mouth width.
        expressions: probability of each of the 7 basic expressions.
        valence, arousal: derived from the expression probabilities (circumplex).
        action_units: geometric AU intensity estimates (not a trained AU detector).
        quality: recognition-quality components and overall score.
        missing: measure name -> why it is absent.
        track: the track id in a video (None for stills).
        frame, time: the frame index and timestamp (seconds) in a video.
    """

    face: int
    box: Box
    detector_score: float
    landmarks5: FloatArray
    mesh: FloatArray | None = None
    mesh_inside: float | None = None
    landmarks68: FloatArray | None = None
    pose: HeadPose | None = None
    gaze: Gaze | None = None
    eye_openness: tuple[float, float] | None = None
    mouth_openness: float | None = None
    expressions: dict[str, float] | None = None
    valence: float | None = None
    arousal: float | None = None
    action_units: dict[str, float] | None = None
    quality: FaceQuality | None = None
    missing: dict[str, str] = field(default_factory=dict)
    track: int | None = None
    frame: int | None = None
    time: float | None = None

    @property
    def expression(self) -> str | None:
        """The most probable expression."""
        probabilities = self.expressions
        return max(probabilities, key=probabilities.__getitem__) if probabilities else None

    def row(self, *, mesh_columns: bool = False) -> dict[str, Any]:
        """This face as one flat table row."""
        nan = math.nan
        x1, y1, x2, y2 = self.box
        out: dict[str, Any] = {
            "frame": self.frame,
            "time": self.time,
            "face": self.face,
            "track": self.track,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "detector_score": self.detector_score,
            "mesh_inside": nan if self.mesh_inside is None else self.mesh_inside,
            "yaw": self.pose.yaw if self.pose else nan,
            "pitch": self.pose.pitch if self.pose else nan,
            "roll": self.pose.roll if self.pose else nan,
            "gaze_yaw": self.gaze.yaw if self.gaze else nan,
            "gaze_pitch": self.gaze.pitch if self.gaze else nan,
            "ear_right": self.eye_openness[0] if self.eye_openness else nan,
            "ear_left": self.eye_openness[1] if self.eye_openness else nan,
            "mouth_open": nan if self.mouth_openness is None else self.mouth_openness,
        }
        for name in EXPRESSIONS:
            out[name] = self.expressions[name] if self.expressions else nan
        out["expression"] = self.expression
        out["valence"] = nan if self.valence is None else self.valence
        out["arousal"] = nan if self.arousal is None else self.arousal
        for name, value in (self.action_units or {}).items():
            out[name] = value
        if self.quality is not None:
            q = self.quality
            out["quality"] = q.score
            out["quality_reasons"] = "; ".join(q.reasons)
            for name in QUALITY_COLUMNS:
                out[f"q_{name}"] = getattr(q, name)
        out["missing"] = "; ".join(f"{k}: {v}" for k, v in self.missing.items())
        if mesh_columns and self.mesh is not None:
            for axis, column in zip("xyz", self.mesh.T, strict=True):
                out.update({f"{axis}_{i}": float(v) for i, v in enumerate(column)})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the mesh as a nested list when present)."""
        out = {k: v for k, v in self.row().items() if not _is_nan(v)}
        out["landmarks5"] = np.round(self.landmarks5, 2).tolist()
        if self.mesh is not None:
            out["mesh"] = np.round(self.mesh, 2).tolist()
        if self.landmarks68 is not None:
            out["landmarks68"] = np.round(self.landmarks68, 2).tolist()
        if self.expressions is not None:
            out["expressions"] = {k: round(v, 4) for k, v in self.expressions.items()}
        if self.action_units is not None:
            out["action_units"] = {k: round(v, 4) for k, v in self.action_units.items()}
        if self.missing:
            out["missing"] = dict(self.missing)
        return out


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _dataframe(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FrameAnalysis:
    """The faces of one image or video frame."""

    width: int
    height: int
    faces: list[FaceAnalysis]
    frame: int | None = None
    time: float | None = None
    source: str | None = None

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self) -> Iterator[FaceAnalysis]:
        return iter(self.faces)

    def __getitem__(self, index: int) -> FaceAnalysis:
        return self.faces[index]

    def to_frame(self, *, mesh_columns: bool = False) -> pd.DataFrame:
        """One row per face (see :meth:`FaceAnalysis.row`)."""
        return _dataframe([f.row(mesh_columns=mesh_columns) for f in self.faces])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "frame": self.frame,
            "time": self.time,
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass(frozen=True)
class VideoAnalysis:
    """Per-frame results of a video, with blink events per track."""

    frames: list[FrameAnalysis]
    fps: float | None
    blinks: dict[int, list[Blink]]
    source: str | None = None
    ended_early: str | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def to_frame(self, *, mesh_columns: bool = False) -> pd.DataFrame:
        """One row per face per analysed frame, with timestamps."""
        return _dataframe(
            [face.row(mesh_columns=mesh_columns) for frame in self.frames for face in frame.faces]
        )

    def blink_table(self) -> pd.DataFrame:
        """One row per blink: track, start, end, duration (seconds), lowest eye aspect ratio."""
        rows = [
            {
                "track": track,
                "start": b.start,
                "end": b.end,
                "duration": b.duration,
                "min_ear": b.min_ear,
            }
            for track, events in sorted(self.blinks.items())
            for b in events
        ]
        return _dataframe(rows)

    def blink_rate(self) -> dict[int, float]:
        """Blinks per minute per track, over the track's time on screen."""
        rates: dict[int, float] = {}
        for track in self.blinks:
            times = [f.time for fr in self.frames for f in fr.faces if f.track == track]
            span = (max(times) - min(times)) if len(times) > 1 else 0.0  # type: ignore[type-var,operator]
            rates[track] = 60.0 * len(self.blinks[track]) / span if span > 0 else math.nan
        return rates

    def save(self, path: str | Path) -> Path:
        """Write the per-face table: ``.csv``, ``.parquet`` or ``.json`` by suffix."""
        return save_table(self.to_frame(), path)


def save_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table by suffix (``.csv``, ``.parquet``, ``.json``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        table.to_csv(target, index=False)
    elif suffix == ".parquet":
        table.to_parquet(target, index=False)
    elif suffix == ".json":
        table.to_json(target, orient="records", indent=1)
    else:
        raise ValueError(f"unknown table format {suffix!r}: use .csv, .parquet or .json")
    return target
