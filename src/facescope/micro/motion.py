"""Facial motion with head motion removed: dense optical flow sampled at mesh points.

For each tracked face and each pair of consecutive frames, :class:`MotionExtractor`
warps the previous frame onto the current one by the affine map between the two
meshes' rigid points (:data:`facescope.analysis.geometry.RIGID`; head motion out),
computes dense optical flow (OpenCV's DIS, or Farneback) on a crop around the face,
smooths it over a small window, and samples it at the mesh points of the measured
patches. What the stabilisation got wrong (the meshes' jitter) is removed by fitting
a 2D affine motion to the flow at the rigid points and subtracting it everywhere:
what remains is how each patch moved against the rest of the face, in pixels.

The mesh only *places* the measurements: MediaPipe's static-mode mesh jitters by
about half a pixel from frame to frame (its second difference on the brows, in
canonical millimetres, is as large as a 1-px movement), so mesh point positions
are never differenced; the flow is. A point's position error of a pixel moves
where the flow is read, not what it says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry
from facescope.micro.result import MicroError

FloatArray = npt.NDArray[np.float32]
_cv: Any = cv2  # OpenCV's stubs miss DIS and are strict about array dtypes
FlowMethod = Literal["dis", "farneback"]

#: Patches measured: name -> (region of :data:`facescope.analysis.geometry.REGIONS`, mesh
#: points). A patch moves as one piece (its points' mean motion), so noise averages out;
#: a region is split where its parts move apart (brow inner/outer, lip corners); the lip
#: corners' patches stay off the inner lip line, where the flow breaks when the mouth
#: opens. Eyes are
#: left out: blinks are fast, short eyelid movements that are not micro-expressions.
PATCHES: dict[str, tuple[str, tuple[int, ...]]] = {
    "left_brow_inner": ("left_brow", (336, 296, 334, 285, 295, 282)),
    "left_brow_outer": ("left_brow", (300, 293, 276, 283, 334, 282)),
    "right_brow_inner": ("right_brow", (107, 66, 105, 55, 65, 52)),
    "right_brow_outer": ("right_brow", (70, 63, 46, 53, 105, 52)),
    "lips_left_corner": ("lips", (291, 409, 375, 287)),
    "lips_right_corner": ("lips", (61, 185, 146, 57)),
    "lips_upper": ("lips", (0, 37, 267, 13, 82, 312, 39, 269)),
    "lips_lower": ("lips", (17, 14, 84, 314, 87, 317, 181, 405)),
}
#: Smoothing window of the flow (box filter side), as a share of the eye-corner distance.
FLOW_WINDOW_EYES = 0.10
#: The crop around the face is resized so the eye-corner distance is at most this (pixels).
MAX_EYES_PX = 160.0
#: Margin of the crop around the mesh, as a share of the eye-corner distance.
MARGIN_EYES = 0.25


@dataclass
class TrackMotion:
    """One track's motion, frame by frame (rows follow :attr:`frames`).

    Attributes:
        track: the track id.
        patches: names of the patches measured (columns of :attr:`velocity`).
        frames, times: frame index and time of each row.
        velocity: (rows, patches, 2) each patch's mean motion since the previous row
            against the rigid face, in video pixels; zero where :attr:`valid` is False.
        valid: whether the row's motion was measured (the previous frame had this
            face's mesh too).
        eyes: eye-corner distance (pixels) per row, the face's scale.
        head: head motion since the previous row (pixels, at the rigid points).
    """

    track: int
    patches: tuple[str, ...]
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    velocity: list[FloatArray] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)
    eyes: list[float] = field(default_factory=list)
    head: list[float] = field(default_factory=list)

    def arrays(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], FloatArray, npt.NDArray[np.bool_]]:
        """(frames, times, velocity (rows, patches, 2), valid) as arrays."""
        n = len(self.patches)
        velocity = (
            np.stack(self.velocity).astype(np.float32)
            if self.velocity
            else np.zeros((0, n, 2), np.float32)
        )
        return (
            np.asarray(self.frames, np.int64),
            np.asarray(self.times, np.float64),
            velocity,
            np.asarray(self.valid, bool),
        )


def _flow_engine(method: FlowMethod) -> Any:
    if method == "dis":
        engine = _cv.DISOpticalFlow_create(_cv.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return engine
    if method == "farneback":
        return None
    raise MicroError(f"unknown flow method {method!r}; use 'dis' or 'farneback'")


def fit_affine(
    xy: npt.NDArray[np.float64], flow: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Least-squares 2D affine motion (3, 2) with ``flow ~ [x, y, 1] @ A``; one outlier pass."""
    design = np.column_stack([xy, np.ones(len(xy))])
    keep = np.ones(len(xy), bool)
    coef = np.zeros((3, 2))
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], flow[keep], rcond=None)[0].astype(np.float64)
        residual = np.linalg.norm(design @ coef - flow, axis=1)
        limit = 3.0 * max(float(np.median(residual)), 0.05)
        new = residual <= limit
        if new.sum() < 6 or np.array_equal(new, keep):
            break
        keep = new
    return np.asarray(coef, np.float64)


class MotionExtractor:
    """Per-track facial motion from frames and their tracked face meshes (streaming).

    Call :meth:`update` once per frame with the grey frame and, per face, its track
    id and mesh; :attr:`tracks` then holds each track's :class:`TrackMotion`.
    """

    def __init__(
        self,
        patches: dict[str, tuple[str, tuple[int, ...]]] | None = None,
        method: FlowMethod = "dis",
        window_eyes: float = FLOW_WINDOW_EYES,
        max_eyes_px: float = MAX_EYES_PX,
    ) -> None:
        self.patches = dict(PATCHES if patches is None else patches)
        if not self.patches:
            raise MicroError("no patches to measure")
        points: list[int] = []
        mix = []
        for _, idx in self.patches.values():
            for i in idx:
                if i not in points:
                    points.append(i)
        for _, idx in self.patches.values():
            row = np.zeros(len(points))
            row[[points.index(i) for i in idx]] = 1.0 / len(idx)
            mix.append(row)
        self.points = tuple(points)
        #: (patches, points): a patch's motion is the mean of its points'
        self.mix = np.asarray(mix, np.float64)
        self.rigid = tuple(dict.fromkeys(geometry.RIGID))
        self.method: FlowMethod = method
        self.window_eyes = float(window_eyes)
        self.max_eyes_px = float(max_eyes_px)
        self._engine = _flow_engine(method)
        self._previous: npt.NDArray[np.uint8] | None = None
        self._previous_meshes: dict[int, FloatArray] = {}
        self.tracks: dict[int, TrackMotion] = {}

    def _flow(self, a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> FloatArray:
        if self.method == "dis":
            flow = self._engine.calc(a, b, None)
        else:
            flow = _cv.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return np.asarray(flow, np.float32)

    def update(
        self,
        grey: npt.NDArray[np.uint8],
        faces: list[tuple[int, FloatArray | None]],
        frame: int,
        time: float,
    ) -> None:
        """Add one frame: its grey pixels and ``(track id, mesh or None)`` per face."""
        previous, self._previous = self._previous, grey
        meshes: dict[int, FloatArray] = {}
        for track, mesh in faces:
            if track < 0:
                continue
            state = self.tracks.get(track)
            if state is None:
                state = self.tracks[track] = TrackMotion(track, tuple(self.patches))
            before = self._previous_meshes.get(track)
            velocity, head, eyes = None, 0.0, float("nan")
            if mesh is not None:
                meshes[track] = mesh
                eyes = float(
                    np.linalg.norm(
                        mesh[geometry.RIGHT_EYE_OUTER, :2] - mesh[geometry.LEFT_EYE_OUTER, :2]
                    )
                )
                if before is not None and previous is not None:
                    velocity, head = self._relative_motion(previous, grey, before, mesh)
            state.frames.append(frame)
            state.times.append(time)
            state.eyes.append(eyes)
            state.head.append(head)
            state.valid.append(velocity is not None)
            state.velocity.append(
                velocity if velocity is not None else np.zeros((len(self.patches), 2), np.float32)
            )
        self._previous_meshes = meshes

    def _relative_motion(
        self,
        previous: npt.NDArray[np.uint8],
        grey: npt.NDArray[np.uint8],
        before: FloatArray,
        mesh: FloatArray,
    ) -> tuple[FloatArray | None, float]:
        """Flow at the region points minus the rigid face's motion (pixels).

        The previous frame is first warped onto this one by the affine map between the
        two meshes' rigid points (stabilised), so the flow only has to find the small
        motion left: the face's own movements and the meshes' jitter. An affine fit of
        that flow at the rigid points then takes out the jitter.
        """
        h, w = grey.shape[:2]
        eyes = float(
            np.linalg.norm(mesh[geometry.RIGHT_EYE_OUTER, :2] - mesh[geometry.LEFT_EYE_OUTER, :2])
        )
        if not np.isfinite(eyes) or eyes < 8:
            return None, 0.0
        rigid = list(self.rigid)
        here = mesh[rigid, :2].astype(np.float64)
        there = before[rigid, :2].astype(np.float64)
        # where each pixel of this frame was in the previous one (rigid head motion)
        back = np.linalg.lstsq(np.column_stack([here, np.ones(len(here))]), there, rcond=None)[0]
        head = float(np.median(np.linalg.norm(here - there, axis=1)))
        margin = MARGIN_EYES * eyes
        face = mesh[:468, :2]
        x0 = int(max(np.floor(face[:, 0].min() - margin), 0))
        y0 = int(max(np.floor(face[:, 1].min() - margin), 0))
        x1 = int(min(np.ceil(face[:, 0].max() + margin), w))
        y1 = int(min(np.ceil(face[:, 1].max() + margin), h))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None, head
        scale = min(1.0, self.max_eyes_px / eyes)
        size = (max(round((x1 - x0) * scale), 16), max(round((y1 - y0) * scale), 16))
        # crop pixel (u, v) <- this frame's (x0 + u / scale, y0 + v / scale)
        to_frame = np.array([[1 / scale, 0, x0], [0, 1 / scale, y0], [0, 0, 1]], np.float64)
        crop_now = np.asarray(to_frame[:2], np.float64)
        crop_before = (np.column_stack([back.T[:, :2], back.T[:, 2]]) @ to_frame)[:2]
        flags = _cv.INTER_LINEAR | _cv.WARP_INVERSE_MAP
        a = _cv.warpAffine(
            previous, crop_before, size, flags=flags, borderMode=_cv.BORDER_REPLICATE
        )
        b = _cv.warpAffine(grey, crop_now, size, flags=flags, borderMode=_cv.BORDER_REPLICATE)
        flow = self._flow(np.ascontiguousarray(a), np.ascontiguousarray(b))
        side = max(round(self.window_eyes * eyes * scale) | 1, 3)
        flow = _cv.blur(flow, (side, side))
        fh, fw = flow.shape[:2]

        def sample(idx: tuple[int, ...]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
            xy = (mesh[list(idx), :2].astype(np.float64) - (x0, y0)) * scale
            col = np.clip(np.rint(xy[:, 0]).astype(int), 0, fw - 1)
            row = np.clip(np.rint(xy[:, 1]).astype(int), 0, fh - 1)
            return xy, flow[row, col].astype(np.float64)

        rigid_xy, rigid_flow = sample(self.rigid)
        coef = fit_affine(rigid_xy, rigid_flow)
        xy, moved = sample(self.points)
        relative = self.mix @ (moved - np.column_stack([xy, np.ones(len(xy))]) @ coef) / scale
        return relative.astype(np.float32), head
