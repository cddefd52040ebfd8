"""What :func:`facescope.analyze` returns: per-face results, per frame, and tidy tables.

One :class:`FaceAnalysis` per face holds every measure and, in ``missing``,
why any measure is absent (``{"mesh": "no mesh: profile or occluded face"}``):
a valid image never raises, it reports. :meth:`FrameAnalysis.to_frame` and
:meth:`VideoAnalysis.to_frame` give a pandas DataFrame with one row per face per
frame, ready for ``to_csv`` / ``to_parquet``. The table uses py-feat's Fex column
names where py-feat has the measure (``input``, ``frame``, ``FaceRectX``...,
``FaceScore``, ``x_0``...``y_67``, ``Pitch``/``Roll``/``Yaw``, ``AU01``...,
``anger``...``neutral``) and facescope's own names for the rest; the schema, units
and angle signs are in ``docs/analysis-table.md``. The JSON (:meth:`FaceAnalysis.to_dict`)
keeps facescope's own names (``x1``..``y2``, ``yaw``, ``AU1``...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.au import ACTION_UNITS
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

#: py-feat's Fex face-box columns (pixels; x, y the top-left corner) and its pose columns.
FACEBOX_COLUMNS = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight", "FaceScore")
FACEPOSE_COLUMNS = ("Pitch", "Roll", "Yaw")
#: py-feat's (OpenFace's) 68-point landmark columns: ``x_0..x_67`` then ``y_0..y_67``.
LANDMARK_COLUMNS = tuple(f"{axis}_{i}" for axis in "xy" for i in range(68))
#: The 478 mesh points: ``mesh_x_0..mesh_x_477``, then y, then z.
MESH_COLUMNS = tuple(f"mesh_{axis}_{i}" for axis in "xyz" for i in range(478))


def fex_au_name(name: str) -> str:
    """A facescope AU key as py-feat's column name: ``"AU1"`` -> ``"AU01"``."""
    digits = name[2:] if name.startswith("AU") else ""
    return f"AU{int(digits):02d}" if digits.isdigit() else name


#: The action-unit columns, in order (``AU01``, ``AU02``, ``AU04``...).
AU_COLUMNS = tuple(fex_au_name(name) for name in ACTION_UNITS)


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

    def row(
        self,
        *,
        source: str | None = None,
        landmark_columns: bool | None = None,
        mesh_columns: bool = False,
    ) -> dict[str, Any]:
        """This face as one flat table row, in py-feat's Fex names where py-feat has them.

        Args:
            source: the ``input`` column (the image or video path).
            landmark_columns: add ``x_0..x_67, y_0..y_67`` (dlib's 68 points, pixels);
                None: only when this face has them. Asked for and absent: NaN.
            mesh_columns: add ``mesh_x_0..mesh_z_477`` (the mesh, pixels; z relative
                depth); NaN when the face has no mesh.
        """
        nan = math.nan
        x1, y1, x2, y2 = (float(v) for v in self.box)
        out: dict[str, Any] = {
            "input": source,
            "frame": 0 if self.frame is None else self.frame,
            "time": nan if self.time is None else self.time,
            "face": self.face,
            "track": self.track,
            "FaceRectX": x1,
            "FaceRectY": y1,
            "FaceRectWidth": x2 - x1,
            "FaceRectHeight": y2 - y1,
            "FaceScore": self.detector_score,
        }
        if landmark_columns or (landmark_columns is None and self.landmarks68 is not None):
            points = self.landmarks68
            values = (
                [nan] * len(LANDMARK_COLUMNS)
                if points is None
                else [float(v) for v in np.asarray(points, np.float64).T.reshape(-1)]
            )
            out.update(zip(LANDMARK_COLUMNS, values, strict=True))
        pose = self.pose
        out["Pitch"] = pose.pitch if pose else nan
        out["Roll"] = pose.roll if pose else nan
        out["Yaw"] = pose.yaw if pose else nan
        units = self.action_units or {}
        for name in ACTION_UNITS:
            out[fex_au_name(name)] = units.get(name, nan)
        for name, value in units.items():  # any AU outside the standard set
            out.setdefault(fex_au_name(name), value)
        for name in EXPRESSIONS:
            out[name] = self.expressions[name] if self.expressions else nan
        out["expression"] = self.expression
        out["valence"] = nan if self.valence is None else self.valence
        out["arousal"] = nan if self.arousal is None else self.arousal
        out["gaze_yaw"] = self.gaze.yaw if self.gaze else nan
        out["gaze_pitch"] = self.gaze.pitch if self.gaze else nan
        out["ear_right"] = self.eye_openness[0] if self.eye_openness else nan
        out["ear_left"] = self.eye_openness[1] if self.eye_openness else nan
        out["mouth_open"] = nan if self.mouth_openness is None else self.mouth_openness
        out["mesh_inside"] = nan if self.mesh_inside is None else self.mesh_inside
        out.update(self._quality_and_missing())
        if mesh_columns:
            mesh = self.mesh
            values = (
                [nan] * len(MESH_COLUMNS)
                if mesh is None
                else [float(v) for v in np.asarray(mesh, np.float64)[:478, :3].T.reshape(-1)]
            )
            out.update(zip(MESH_COLUMNS, values, strict=True))
        return out

    def _native(self) -> dict[str, Any]:
        """The flat measures under facescope's own names (the JSON's keys)."""
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
        out.update(self._quality_and_missing())
        return out

    def _quality_and_missing(self) -> dict[str, Any]:
        """The quality columns (when measured) and the ``missing`` column of a row."""
        out: dict[str, Any] = {}
        if self.quality is not None:
            q = self.quality
            out["quality"] = q.score
            out["quality_reasons"] = "; ".join(q.reasons)
            for name in QUALITY_COLUMNS:
                out[f"q_{name}"] = getattr(q, name)
        out["missing"] = "; ".join(f"{k}: {v}" for k, v in self.missing.items())
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the mesh as a nested list when present)."""
        out = {k: v for k, v in self._native().items() if not _is_nan(v)}
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


def _face_table(
    faces: list[tuple[FaceAnalysis, str | None]],
    landmark_columns: bool | None,
    mesh_columns: bool,
) -> pd.DataFrame:
    """One row per (face, input); landmark columns on every row or on none."""
    if landmark_columns is None:
        landmark_columns = any(face.landmarks68 is not None for face, _ in faces)
    rows = [
        face.row(source=source, landmark_columns=landmark_columns, mesh_columns=mesh_columns)
        for face, source in faces
    ]
    return _dataframe(rows)


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

    def to_frame(
        self, *, landmark_columns: bool | None = None, mesh_columns: bool = False
    ) -> pd.DataFrame:
        """One row per face (see :meth:`FaceAnalysis.row`); ``input`` is :attr:`source`.

        `landmark_columns` None: the ``x_0..y_67`` columns when any face has dlib's points.
        """
        return _face_table([(f, self.source) for f in self.faces], landmark_columns, mesh_columns)

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

    def to_frame(
        self, *, landmark_columns: bool | None = None, mesh_columns: bool = False
    ) -> pd.DataFrame:
        """One row per face per analysed frame, with timestamps; ``input`` is the video.

        See :meth:`FaceAnalysis.row` for the columns and :meth:`FrameAnalysis.to_frame`
        for `landmark_columns`.
        """
        faces = [(face, self.source) for frame in self.frames for face in frame.faces]
        return _face_table(faces, landmark_columns, mesh_columns)

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
