"""``analyze()``: every facial measure for every face in an image, a frame or a video.

Data flows one way: detect (YuNet) -> mesh (MediaPipe, per face) -> geometry
(pose, gaze, eye and mouth openness, action units) and appearance (expression
models, quality) -> :class:`~facescope.analysis.result.FaceAnalysis`. Stills use
a population-neutral reference for action units; videos track each face, smooth
its mesh with a One-Euro filter, learn that person's own neutral face, and count
blinks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facescope._deprecation import renamed_argument, renamed_attribute
from facescope.analysis import geometry
from facescope.analysis.eyes import BlinkDetector, eye_aspect_ratio, gaze, mouth_openness
from facescope.analysis.mesh import FaceMesh, shared_mesher
from facescope.analysis.pose import head_pose
from facescope.analysis.result import FaceAnalysis, FrameAnalysis, VideoAnalysis
from facescope.analysis.smoothing import OneEuroFilter
from facescope.io.image import ImageInput, load_image
from facescope.pipeline import aligned_faces, find_faces
from facescope.types import Faces, as_box

FloatArray = npt.NDArray[np.float32]

#: In auto mode (``assume_aligned=None``) a small, roughly square, not flat image in which
#: the detector finds no face is taken as a tight face crop (a 48x48 FER-style photo: too
#: little context around the face for the detector). Sides in pixels, inclusive.
TINY_CROP_SIDES: tuple[int, int] = (24, 128)
#: Largest long/short side ratio, and smallest grey-level spread, of such a crop.
TINY_CROP_MAX_ASPECT = 1.5
TINY_CROP_MIN_STD = 8.0
#: The ``missing["face"]`` note of a face taken that way.
TINY_CROP_NOTE = (
    "no face detected in this small image: the whole image was taken as a tight face crop"
)


def is_tiny_face_crop(rgb: npt.NDArray[np.uint8]) -> bool:
    """Whether an image may be taken as a tight face crop when no face is detected in it."""
    height, width = rgb.shape[:2]
    low, high = TINY_CROP_SIDES
    if min(height, width) < low or max(height, width) > high:
        return False
    if max(height, width) > TINY_CROP_MAX_ASPECT * min(height, width):
        return False
    return float(np.std(rgb)) >= TINY_CROP_MIN_STD


def tiny_crop_faces(rgb: npt.NDArray[np.uint8]) -> Faces:
    """The whole image as one face (ArcFace template landmarks), with detector score 0."""
    faces = aligned_faces(rgb)
    return Faces(faces.boxes, np.zeros(1, np.float32), faces.landmarks5, aligned=True)


@dataclass(frozen=True, init=False)
class AnalyzeOptions:
    """What to measure (MediaPipe-style options object).

    Attributes:
        expressions: run the expression ensemble (the slowest stage).
        action_units: geometric action-unit estimates.
        quality: recognition-quality score.
        landmarks68: also dlib's 68 points (iBUG 300-W layout; non-commercial data terms).
        max_faces: analyse at most this many faces (the largest; kept left to right).
        min_size: smallest face side to report, in pixels, as in
            :func:`facescope.detect` (``min_face`` is its deprecated old name).
        assume_aligned: as in :func:`facescope.detect` (None: 112x112 crops are aligned,
            and a small image with no face found is taken as a tight face crop,
            :func:`is_tiny_face_crop`; False: detected faces only).
    """

    expressions: bool = True
    action_units: bool = True
    quality: bool = True
    landmarks68: bool = False
    max_faces: int | None = None
    min_size: float | None = None
    assume_aligned: bool | None = None

    def __init__(
        self,
        expressions: bool = True,
        action_units: bool = True,
        quality: bool = True,
        landmarks68: bool = False,
        max_faces: int | None = None,
        min_size: float | None = None,
        assume_aligned: bool | None = None,
        *,
        min_face: float | None = None,
    ) -> None:
        # written out (not generated) to take the deprecated min_face= for one release
        min_size = renamed_argument("AnalyzeOptions", "min_face", min_face, "min_size", min_size)
        for name, value in (
            ("expressions", expressions),
            ("action_units", action_units),
            ("quality", quality),
            ("landmarks68", landmarks68),
            ("max_faces", max_faces),
            ("min_size", min_size),
            ("assume_aligned", assume_aligned),
        ):
            object.__setattr__(self, name, value)

    @property
    def min_face(self) -> float | None:
        """Deprecated name of :attr:`min_size`."""
        renamed_attribute("AnalyzeOptions", "min_face", "min_size")
        return self.min_size


class _Frame(Protocol):
    index: int
    time: float
    rgb: npt.NDArray[np.uint8]


@dataclass
class _TrackState:
    """Per-person state in a video: smoothing, neutral reference, blinks."""

    smoother: OneEuroFilter
    blinks: BlinkDetector
    neutral: Any = None
    last_time: float = -math.inf


@dataclass
class Analyzer:
    """Runs the analysis; keeps models loaded across calls (create once, call often)."""

    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)

    # -- stills -------------------------------------------------------------------------
    def analyze(self, image: ImageInput | _Frame) -> FrameAnalysis:
        """Analyse every face of one image or video frame."""
        frame_index = getattr(image, "index", None) if hasattr(image, "rgb") else None
        time = getattr(image, "time", None) if hasattr(image, "rgb") else None
        rgb = image.rgb if hasattr(image, "rgb") else load_image(image)
        faces = self._detect(rgb)
        meshes = [shared_mesher().mesh(rgb, faces.boxes[i]) for i in range(len(faces))]
        results = self._measure(rgb, faces, meshes, [None] * len(faces))
        if frame_index is not None:
            results = [replace(r, frame=frame_index, time=time) for r in results]
        source = str(image) if isinstance(image, str | os.PathLike) else None
        return FrameAnalysis(rgb.shape[1], rgb.shape[0], results, frame_index, time, source)

    def _detect(self, rgb: npt.NDArray[np.uint8]) -> Faces:
        faces = find_faces(
            rgb,
            min_size=self.options.min_size,
            max_faces=self.options.max_faces,
            assume_aligned=self.options.assume_aligned,
        )
        # tiny face crops (48x48 photos) give the detector too little context: in auto mode
        # such an image is taken as the face itself (flagged: score 0, missing["face"])
        if len(faces) == 0 and self.options.assume_aligned is None and is_tiny_face_crop(rgb):
            min_size = self.options.min_size
            if min_size is None or min(rgb.shape[:2]) >= min_size:
                return tiny_crop_faces(rgb)
        return faces

    # -- the measures -------------------------------------------------------------------
    def _measure(
        self,
        rgb: npt.NDArray[np.uint8],
        faces: Faces,
        meshes: list[FaceMesh | None],
        states: list[_TrackState | None],
        tracks: list[int | None] | None = None,
        time: float | None = None,
    ) -> list[FaceAnalysis]:
        n = len(faces)
        if n == 0:
            return []
        size = (rgb.shape[1], rgb.shape[0])
        expressions, expression_note = self._expressions(rgb, faces, meshes)
        out: list[FaceAnalysis] = []
        poses = []
        for i in range(n):
            missing: dict[str, str] = {}
            if faces.aligned and float(faces.scores[i]) == 0.0:
                missing["face"] = TINY_CROP_NOTE
            mesh = meshes[i]
            values: dict[str, Any] = {}
            if mesh is None:
                reason = "no mesh: profile, occluded or too small a face"
                for name in ("mesh", "pose", "gaze", "eye_openness", "mouth_openness"):
                    missing[name] = reason
                if self.options.action_units:
                    missing["action_units"] = reason
            else:
                values["mesh"] = mesh.points
                values["mesh_inside"] = mesh.inside
                if mesh.inside < 1.0:
                    missing["partial"] = (
                        f"face cut by the image border: {100 * (1 - mesh.inside):.0f}% of the"
                        " mesh lies outside the image (its points there are guesses)"
                    )
                pose = head_pose(mesh.points, size)
                canonical = geometry.to_canonical(mesh.points)
                values["eye_openness"] = (
                    eye_aspect_ratio(canonical, geometry.EAR_RIGHT),
                    eye_aspect_ratio(canonical, geometry.EAR_LEFT),
                )
                values["mouth_openness"] = mouth_openness(canonical)
                if pose is None:
                    missing["pose"] = missing["gaze"] = "head-pose solve failed"
                else:
                    values["pose"] = pose
                    values["gaze"] = gaze(canonical, pose)
                if self.options.action_units:
                    values["action_units"] = _action_units(mesh.points, states[i])
                state = states[i]
                if state is not None and time is not None:
                    ear = float(np.mean(values["eye_openness"]))
                    state.blinks.update(time, ear)
            poses.append(values.get("pose"))
            if self.options.landmarks68:
                values["landmarks68"] = _landmarks68(rgb, faces.landmarks5[i])
            if expressions is not None:
                probs = expressions[i]
                values["expressions"] = {
                    name: float(p) for name, p in zip(_expression_names(), probs, strict=True)
                }
                valence, arousal = _valence_arousal(probs)
                values["valence"], values["arousal"] = valence, arousal
            elif self.options.expressions:
                missing["expressions"] = expression_note or "expression models unavailable"
            out.append(
                FaceAnalysis(
                    face=i,
                    box=as_box(faces.boxes[i]),
                    detector_score=float(faces.scores[i]),
                    landmarks5=faces.landmarks5[i],
                    missing=missing,
                    track=None if tracks is None else tracks[i],
                    **values,
                )
            )
        if self.options.quality:
            out = self._quality(rgb, faces, out, poses)
        return out

    def _expressions(
        self, rgb: npt.NDArray[np.uint8], faces: Faces, meshes: list[FaceMesh | None]
    ) -> tuple[FloatArray | None, str | None]:
        """(n, 7) ensemble probabilities; the geometric AU head joins where a face has a mesh."""
        if not self.options.expressions:
            return None, None
        from facescope.analysis.expression.au_head import default_head
        from facescope.analysis.expression.ensemble import default_ensemble
        from facescope.errors import ModelNotAvailableError

        ensemble = default_ensemble()
        probs = np.zeros((len(faces), 7), np.float32)
        with_mesh = [i for i, m in enumerate(meshes) if m is not None]
        without = [i for i, m in enumerate(meshes) if m is None]
        try:
            if with_mesh:
                points = np.stack([meshes[i].points for i in with_mesh])  # type: ignore[union-attr]
                head = default_head().predict_mesh(points)
                subset = faces[np.array(with_mesh)]
                probs[with_mesh] = ensemble.predict_proba(rgb, subset, extra={"au_head": head})
            if without:
                probs[without] = ensemble.predict_proba(rgb, faces[np.array(without)])
        except ModelNotAvailableError as exc:
            return None, str(exc)
        return probs, None

    def _quality(
        self,
        rgb: npt.NDArray[np.uint8],
        faces: Faces,
        results: list[FaceAnalysis],
        poses: list[Any],
    ) -> list[FaceAnalysis]:
        from facescope.quality import assess_quality

        pose_angles = [None if p is None else (p.yaw, p.pitch, p.roll) for p in poses]
        qualities = assess_quality(
            rgb, faces, pose=pose_angles, mesh_inside=[r.mesh_inside for r in results]
        )
        return [replace(r, quality=q) for r, q in zip(results, qualities, strict=True)]

    # -- video --------------------------------------------------------------------------
    def analyze_video(
        self,
        frames: Iterable[_Frame],
        *,
        fps: float | None = None,
        every: int = 1,
        smooth: bool = True,
        on_frame: Callable[[FrameAnalysis], None] | None = None,
    ) -> VideoAnalysis:
        """Analyse a stream of frames (from :func:`facescope.video.open_video`).

        Faces are tracked across frames; each track's mesh is smoothed with a
        One-Euro filter (`smooth`), its action units are relative to that
        person's own neutral face once enough frames are seen, and its blinks
        are counted. `every` analyses one frame in N.
        """
        from facescope.tracking.tracker import FaceTracker

        if every < 1:
            raise ValueError("every must be >= 1")
        tracker = FaceTracker(min_hits=1)
        states: dict[int, _TrackState] = {}
        results: list[FrameAnalysis] = []
        for count, frame in enumerate(frames):
            if count % every:
                continue
            rgb = frame.rgb
            faces = self._detect(rgb)
            ids = tracker.update(faces, frame.time)
            meshes: list[FaceMesh | None] = []
            frame_states: list[_TrackState | None] = []
            for i in range(len(faces)):
                mesh = shared_mesher().mesh(rgb, faces.boxes[i])
                track = int(ids[i])
                state = None
                if track >= 0:
                    state = states.get(track)
                    if state is None:
                        state = states[track] = _TrackState(OneEuroFilter(), BlinkDetector())
                    if frame.time - state.last_time > 0.5:
                        state.smoother.reset()
                    state.last_time = frame.time
                    if mesh is not None and smooth:
                        mesh = FaceMesh(
                            state.smoother(mesh.points, frame.time).astype(np.float32),
                            mesh.inside,
                        )
                meshes.append(mesh)
                frame_states.append(state)
            tracks = [int(t) if t >= 0 else None for t in ids]
            measured = self._measure(rgb, faces, meshes, frame_states, tracks, frame.time)
            measured = [replace(r, frame=frame.index, time=frame.time) for r in measured]
            analysis = FrameAnalysis(rgb.shape[1], rgb.shape[0], measured, frame.index, frame.time)
            results.append(analysis)
            if on_frame is not None:
                on_frame(analysis)
        blinks = {track: list(state.blinks.blinks_) for track, state in states.items()}
        return VideoAnalysis(results, fps, blinks)


def _expression_names() -> tuple[str, ...]:
    from facescope.analysis.expression.labels import EXPRESSIONS

    return EXPRESSIONS


def _valence_arousal(probs: npt.NDArray[np.float32]) -> tuple[float, float]:
    from facescope.analysis.expression.circumplex import valence_arousal

    va = valence_arousal(probs[None])[0]
    return float(va[0]), float(va[1])


def _action_units(points: npt.NDArray[np.float32], state: _TrackState | None) -> dict[str, float]:
    """Stills: relative to the population neutral; video: to the person's own neutral."""
    from facescope.analysis import au

    if state is None:
        return au.action_units(points)
    if state.neutral is None:
        state.neutral = au.PersonalNeutral()
    neutral: au.PersonalNeutral = state.neutral
    return neutral.action_units(points)


def _landmarks68(rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]) -> FloatArray:
    from facescope.analysis.landmarks68 import landmarks68

    return landmarks68(rgb, landmarks5)


def analyze(
    image: ImageInput | _Frame, options: AnalyzeOptions | None = None, **kwargs: Any
) -> FrameAnalysis:
    """Analyse every face in an image or video frame.

    Args:
        image: a path, bytes, RGB array, PIL image, or a video frame.
        options: what to measure; keyword arguments (``expressions=False``, ...)
            override single fields.

    Returns:
        One :class:`~facescope.analysis.result.FaceAnalysis` per face, in a
        :class:`~facescope.analysis.result.FrameAnalysis`.
    """
    if "min_face" in kwargs:  # deprecated name of min_size: warn about the caller's line
        kwargs["min_size"] = renamed_argument(
            "analyze", "min_face", kwargs.pop("min_face"), "min_size", kwargs.get("min_size")
        )
    # models are process-wide (loaded once); an Analyzer is only its options
    return Analyzer(replace(options or AnalyzeOptions(), **kwargs)).analyze(image)
