"""Performance-driven animation: a video or a photo drives a stylized character.

Data flow, per frame: detect (YuNet, the largest face) -> mesh (MediaPipe) ->
head pose and the solver's raw measures. After the pass: the performer's neutral
(:meth:`NeutralCalibration.calmest` over the video's calmest frames, or the
population neutral for a photo) -> the 52 coefficients -> the per-shape One-Euro
filter -> the rig's controls -> the built-in head's morph weights -> the exports.
A photo is an emotion transfer (:func:`transfer_emotion`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.animate.errors import AnimateError
from facescope.animate.filter import ShapeFilter
from facescope.animate.rig import Rig
from facescope.animate.shapes import INDEX, SHAPES, UNOBSERVED
from facescope.animate.solver import (
    MEASURE_NAMES,
    NeutralCalibration,
    eye_angles,
    mesh_measures,
    solve_measures,
)

FloatArray = npt.NDArray[np.float64]
Progress = Callable[..., None]

#: Frames with a face needed before the neutral is learnt from the video itself.
MIN_CALIBRATION_FRAMES = 10

#: ARKit poses of the basic expressions (emotion transfer); unnamed shapes are 0.
EXPRESSION_POSES: dict[str, dict[str, float]] = {
    "happiness": {"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "cheekSquintLeft": 0.6,
                  "cheekSquintRight": 0.6, "eyeSquintLeft": 0.3, "eyeSquintRight": 0.3,
                  "jawOpen": 0.15},
    "sadness": {"mouthFrownLeft": 0.8, "mouthFrownRight": 0.8, "browInnerUp": 0.8,
                "mouthShrugLower": 0.4, "eyeLookDownLeft": 0.2, "eyeLookDownRight": 0.2},
    "surprise": {"jawOpen": 0.7, "browInnerUp": 0.9, "browOuterUpLeft": 0.9,
                 "browOuterUpRight": 0.9, "eyeWideLeft": 0.9, "eyeWideRight": 0.9},
    "fear": {"browInnerUp": 0.9, "eyeWideLeft": 0.8, "eyeWideRight": 0.8, "jawOpen": 0.3,
             "mouthStretchLeft": 0.7, "mouthStretchRight": 0.7},
    "anger": {"browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.5,
              "eyeSquintRight": 0.5, "mouthPressLeft": 0.5, "mouthPressRight": 0.5,
              "noseSneerLeft": 0.4, "noseSneerRight": 0.4},
    "disgust": {"noseSneerLeft": 0.9, "noseSneerRight": 0.9, "mouthUpperUpLeft": 0.7,
                "mouthUpperUpRight": 0.7, "browDownLeft": 0.4, "browDownRight": 0.4,
                "mouthFrownLeft": 0.3, "mouthFrownRight": 0.3},
    "neutral": {},
}  # fmt: skip


def expression_pose(expression: str) -> FloatArray:
    """(52,) ARKit pose of a basic expression (:data:`EXPRESSION_POSES`)."""
    if expression not in EXPRESSION_POSES:
        raise AnimateError(f"unknown expression {expression!r}")
    pose = np.zeros(len(SHAPES))
    for name, value in EXPRESSION_POSES[expression].items():
        pose[INDEX[name]] = value
    return pose


@dataclass(frozen=True)
class Performance:
    """A solved performance.

    Attributes:
        frames, times: frame indices and seconds of the frames with a face.
        weights: (n, 52) filtered coefficients (:data:`SHAPES` order).
        raw: (n, 52) unfiltered coefficients.
        head: (n, 3) filtered head yaw, pitch, roll (degrees).
        eyes: (n, 4) eye angles in the head (left yaw, pitch, right yaw, pitch; degrees).
        controls: (n, n_controls) rig controls; head_weights: (n, 52) built-in head.
        neutral: the calibration used.
        rig: the rig.
        fps: frames per second of the source.
        frames_read: frames decoded; missed: frames without a face.
        expression: for a photo, the recognised expression, its intensity and probabilities.
    """

    frames: list[int]
    times: FloatArray
    weights: FloatArray
    raw: FloatArray
    head: FloatArray
    eyes: FloatArray
    controls: FloatArray
    head_weights: FloatArray
    neutral: NeutralCalibration
    rig: Rig
    fps: float
    frames_read: int
    missed: int
    expression: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        mean = self.weights.mean(0) if len(self.weights) else np.zeros(len(SHAPES))
        return {
            "frames": len(self.frames),
            "frames_read": self.frames_read,
            "frames_without_face": self.missed,
            "fps": self.fps,
            "rig": self.rig.to_dict(),
            "neutral": {"source": self.neutral.source, "frames": self.neutral.frames},
            "mean_blendshapes": {n: round(float(v), 4) for n, v in zip(SHAPES, mean, strict=True)},
            "unobserved": sorted(UNOBSERVED),
            "expression": self.expression,
        }


@dataclass(frozen=True)
class AnimationResult:
    """What :func:`animate` did: the performance summary and the files written."""

    source: str
    performance: Performance
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, **self.performance.to_dict(), "files": self.files}


def _measure_frame(rgb: npt.NDArray[np.uint8]) -> tuple[FloatArray, FloatArray, Any] | None:
    """(measures, head angles, mesh points) of the largest face, or None."""
    from facescope.analysis.mesh import shared_mesher
    from facescope.analysis.pose import head_pose
    from facescope.pipeline import find_faces

    faces = find_faces(rgb, max_faces=1, assume_aligned=False)
    if len(faces) == 0:
        return None
    mesh = shared_mesher().mesh(rgb, faces.boxes[0])
    if mesh is None:
        return None
    pose = head_pose(mesh.points, (rgb.shape[1], rgb.shape[0]))
    angles = np.zeros(3) if pose is None else np.array([pose.yaw, pose.pitch, pose.roll])
    return mesh_measures(mesh.points), angles, mesh.points


def solve_performance(
    measures: npt.ArrayLike,
    times: npt.ArrayLike,
    head: npt.ArrayLike,
    *,
    rig: Rig | None = None,
    neutral: NeutralCalibration | None = None,
    smooth: bool = True,
    frames: list[int] | None = None,
    fps: float = 30.0,
) -> Performance:
    """Solve, filter and retarget per-frame measures (n, n_measures) taken at `times`."""
    m = np.atleast_2d(np.asarray(measures, np.float64))
    t = np.asarray(times, np.float64).reshape(-1)
    angles = np.asarray(head, np.float64).reshape(-1, 3)
    if m.shape[1] != len(MEASURE_NAMES) or len(t) != len(m) or len(angles) != len(m):
        raise AnimateError("measures, times and head angles must have one row per frame")
    if not (np.isfinite(t).all() and np.isfinite(angles).all()):
        raise AnimateError("times and head angles must be finite")
    rig = rig or Rig.identity()
    if neutral is None:
        if len(m) >= MIN_CALIBRATION_FRAMES:
            neutral = NeutralCalibration.calmest(m)
        else:
            neutral = NeutralCalibration.population()
    raw = np.asarray(solve_measures(m, neutral)).reshape(len(m), len(SHAPES))
    weights, smoothed_head = raw.copy(), angles.copy()
    if smooth:
        filt = ShapeFilter()
        for k in range(len(m)):
            if k and t[k] - t[k - 1] > 0.5:
                filt.reset()
            weights[k], smoothed_head[k] = filt(raw[k], angles[k], float(t[k]))
    controls = rig.evaluate(weights).reshape(len(m), -1)
    return Performance(
        frames=list(frames if frames is not None else range(len(m))),
        times=t,
        weights=weights,
        raw=raw,
        head=smoothed_head * rig.head_gain,
        eyes=np.asarray(eye_angles(m, neutral)).reshape(len(m), 4),
        controls=controls,
        head_weights=rig.head_weights(controls).reshape(len(m), len(SHAPES)),
        neutral=neutral,
        rig=rig,
        fps=fps,
        frames_read=len(m),
        missed=0,
    )


def transfer_emotion(
    photo: Any, rig: Rig | None = None
) -> tuple[Performance, npt.NDArray[np.uint8]]:
    """Emotion transfer from one photo: recognised expression + measured shapes -> a rig pose.

    The pose is ``clip(intensity * max(prototype, measured), 0, 1)`` where
    ``prototype`` is the top expression's ARKit pose (:data:`EXPRESSION_POSES`),
    ``measured`` the photo's solved coefficients (population neutral) and
    ``intensity = 1 - p(neutral)``; a neutral top expression gives the measured
    coefficients scaled by ``1 - p(neutral)`` over 0.5 (calm, not frozen).
    Returns the one-frame performance and the photo's RGB.
    """
    from facescope.analysis.expression.au_head import default_head
    from facescope.analysis.expression.ensemble import default_ensemble
    from facescope.analysis.expression.labels import EXPRESSIONS
    from facescope.analysis.mesh import shared_mesher
    from facescope.analysis.pose import head_pose
    from facescope.errors import InvalidImageError
    from facescope.io.image import load_image
    from facescope.pipeline import find_faces

    try:
        rgb = load_image(photo)
    except (InvalidImageError, OSError) as exc:
        raise AnimateError(f"cannot read the photo: {exc}") from exc
    faces = find_faces(rgb, max_faces=1)
    if len(faces) == 0:
        raise AnimateError("no face found in the photo")
    mesh = shared_mesher().mesh(rgb, faces.boxes[0])
    if mesh is None:
        raise AnimateError("the face in the photo has no mesh (profile or occluded)")
    measures = mesh_measures(mesh.points)
    head = default_head().predict_mesh(mesh.points)
    probs = default_ensemble().predict_proba(rgb, faces, extra={"au_head": head})[0]
    top = EXPRESSIONS[int(np.argmax(probs))]
    intensity = float(1.0 - probs[EXPRESSIONS.index("neutral")])
    measured = np.asarray(solve_measures(measures))
    if top == "neutral":
        pose = np.clip(measured * min(1.0, intensity / 0.5), 0.0, 1.0)
    else:
        pose = np.clip(intensity * np.maximum(expression_pose(top), measured), 0.0, 1.0)
    p = head_pose(mesh.points, (rgb.shape[1], rgb.shape[0]))
    angles = np.zeros(3) if p is None else np.array([p.yaw, p.pitch, p.roll])
    rig = rig or Rig.identity()
    controls = rig.evaluate(pose)[None]
    perf = Performance(
        frames=[0], times=np.zeros(1), weights=pose[None], raw=measured[None],
        head=angles[None] * rig.head_gain,
        eyes=np.asarray(eye_angles(measures)).reshape(1, 4), controls=controls,
        head_weights=rig.head_weights(controls), neutral=NeutralCalibration.population(),
        rig=rig, fps=1.0, frames_read=1, missed=0,
        expression={"label": top, "intensity": round(intensity, 4),
                    "probabilities": {e: round(float(v), 4)
                                      for e, v in zip(EXPRESSIONS, probs, strict=True)}},
    )  # fmt: skip
    return perf, rgb


def _panel(rgb: npt.NDArray[np.uint8], weights: FloatArray, head: FloatArray) -> Any:
    import cv2

    from facescope.animate.render import render_head

    side = 240
    h, w = rgb.shape[:2]
    scale = side / h
    source = cv2.resize(rgb, (max(1, round(w * scale)), side), interpolation=cv2.INTER_AREA)
    return np.hstack(
        [source, render_head(weights, (float(head[0]), float(head[1]), float(head[2])), size=side)]
    )


def animate(
    source: str | os.PathLike[str],
    *,
    rig: Rig | None = None,
    out: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    preview: bool = True,
    glb: bool = True,
    progress: Progress | None = None,
) -> AnimationResult:
    """Animate the built-in head (through `rig`) from a video or a photo; write the exports.

    Writes under `out`: ``blendshapes.csv``, ``livelink.csv``, ``frames.json``,
    ``performance.glb`` and ``preview.gif`` (source next to the character).
    """
    from facescope.io.files import IMAGE_EXTENSIONS

    path = Path(source)
    if not path.exists():
        raise AnimateError(f"file not found: {source}")
    if max_frames is not None and max_frames < 1:
        raise AnimateError("max_frames must be >= 1")
    rig = rig or Rig.identity()
    panels: list[Any] = []
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        perf, rgb = transfer_emotion(path, rig)
        if preview and out is not None:
            panels.append(_panel(rgb, perf.head_weights[0], perf.head[0]))
        if progress:
            progress(1, 1)
    else:
        perf = _video(path, rig, max_frames, progress, panels if preview and out else None)
    files: list[str] = []
    if out is not None:
        files = write_all(perf, out, panels, glb=glb)
    return AnimationResult(str(source), perf, files)


def _video(
    path: Path, rig: Rig, max_frames: int | None, progress: Progress | None,
    panels: list[Any] | None,
) -> Performance:  # fmt: skip
    from facescope.io.video import VideoError, open_video

    measures: list[FloatArray] = []
    times: list[float] = []
    head: list[FloatArray] = []
    frames: list[int] = []
    thumbs: list[npt.NDArray[np.uint8]] = []
    read = 0
    try:
        with open_video(path, max_frames=max_frames) as video:
            total = video.frame_count
            fps = float(video.fps or 30.0)
            for frame in video:
                read += 1
                found = _measure_frame(frame.rgb)
                if found is not None:
                    measures.append(found[0])
                    head.append(found[1])
                    times.append(frame.time)
                    frames.append(frame.index)
                    if panels is not None and len(thumbs) < 300:
                        thumbs.append(frame.rgb)
                if progress:
                    progress(read, total)
    except VideoError as exc:
        raise AnimateError(f"cannot read the video {path}: {exc}") from exc
    if not measures:
        raise AnimateError(f"no face found in {path} ({read} frames read)")
    perf = solve_performance(
        np.stack(measures), np.asarray(times), np.stack(head), rig=rig, frames=frames, fps=fps
    )
    if panels is not None:
        for k, rgb in enumerate(thumbs):
            panels.append(_panel(rgb, perf.head_weights[k], perf.head[k]))
    return Performance(**{**perf.__dict__, "frames_read": read, "missed": read - len(frames)})


def write_all(
    perf: Performance, out: str | os.PathLike[str], panels: list[Any], glb: bool = True
) -> list[str]:
    """Write every export of a performance under `out`; returns the paths."""
    from facescope.animate import export
    from facescope.animate.gltf import write_glb

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        export.write_blendshapes_csv(folder / "blendshapes.csv", perf.frames, perf.times,
                                     perf.weights, perf.head),
        export.write_livelink_csv(folder / "livelink.csv", perf.times, perf.weights, perf.head,
                                  perf.eyes, perf.fps),
        export.write_frames_json(folder / "frames.json", perf.frames, perf.times, perf.weights,
                                 perf.head, perf.controls, perf.rig.control_names),
    ]  # fmt: skip
    if glb:
        times = perf.times - perf.times[0]
        keep = np.concatenate([[True], np.diff(times) > 0]) if len(times) > 1 else np.ones(1, bool)
        files.append(
            write_glb(folder / "performance.glb", times[keep], perf.head_weights[keep],
                      perf.head[keep])
        )  # fmt: skip
    if panels:
        files.append(export.write_preview_gif(folder / "preview.gif", panels, perf.fps))
    return [str(f) for f in files]
