"""Ground truth for spotting: subtle, short, localised facial movements warped into real video.

:func:`inject_micro` moves the pixels around a few mesh points (the brows, a lip
corner) by a smooth displacement field that rises and falls over `duration`
frames: a Gaussian bump around each control point, ``amplitude_px`` pixels at
the apex, a ``sin^2`` time profile (so the movement starts and ends at rest),
in the face's own frame (up is from the chin towards the forehead, outward is
away from the face's midline). The rest of the face and the background are
untouched, so real talking heads with an injected movement are realistic
positives and the same videos unmodified are realistic (hard) negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry
from facescope.micro.result import MicroError

#: Control points (mesh indices) and direction of each injectable movement.
#: Directions: "up" (chin to forehead), "corner" (outward and up, a lip-corner pull).
MOVEMENTS: dict[str, tuple[tuple[int, ...], str]] = {
    "left_brow": (geometry.REGIONS["left_brow"], "up"),
    "right_brow": (geometry.REGIONS["right_brow"], "up"),
    "brows": (geometry.REGIONS["left_brow"] + geometry.REGIONS["right_brow"], "up"),
    "left_lip_corner": ((geometry.MOUTH_LEFT, 409, 375), "corner"),
    "right_lip_corner": ((geometry.MOUTH_RIGHT, 185, 146), "corner"),
    "lip_corners": ((geometry.MOUTH_LEFT, 409, 375, geometry.MOUTH_RIGHT, 185, 146), "corner"),
}
#: Which spotting region (:data:`facescope.analysis.geometry.REGIONS` name) each movement is in.
MOVEMENT_REGIONS: dict[str, tuple[str, ...]] = {
    "left_brow": ("left_brow",),
    "right_brow": ("right_brow",),
    "brows": ("left_brow", "right_brow"),
    "left_lip_corner": ("lips",),
    "right_lip_corner": ("lips",),
    "lip_corners": ("lips",),
}
#: Width (Gaussian sigma) of the displaced area, as a share of the outer eye-corner distance.
SIGMA_EYES = 0.12


@dataclass(frozen=True)
class Injection:
    """One injected movement: the ground-truth interval (frame indices, inclusive).

    Attributes:
        region: the movement's name (a key of :data:`MOVEMENTS`).
        onset: first displaced frame.
        apex: frame of the largest displacement.
        offset: last displaced frame.
        amplitude_px: displacement at the apex, in video pixels.
    """

    region: str
    onset: int
    apex: int
    offset: int
    amplitude_px: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "amplitude_px": self.amplitude_px,
        }


def profile(duration: int) -> npt.NDArray[np.float64]:
    """The time course of a movement `duration` frames long: ``sin^2``, every value > 0."""
    k = np.arange(1, duration + 1, dtype=np.float64)
    return np.asarray(np.sin(np.pi * k / (duration + 1)) ** 2, np.float64)


def _directions(points: npt.NDArray[np.float64], kind: str, idx: Sequence[int]) -> Any:
    """Unit displacement direction per control point, in image coordinates (n, 2)."""
    up = points[geometry.FOREHEAD, :2] - points[geometry.CHIN, :2]
    up /= max(float(np.linalg.norm(up)), 1e-9)
    out = np.repeat(up[None], len(idx), axis=0)
    if kind == "corner":
        centre = (points[geometry.MOUTH_LEFT, :2] + points[geometry.MOUTH_RIGHT, :2]) / 2
        side = points[list(idx), :2] - centre
        across = np.array([up[1], -up[0]])  # perpendicular to up
        sign = np.sign(side @ across)
        sign[sign == 0] = 1.0
        out = (across[None] * sign[:, None] + up[None]) / np.sqrt(2.0)
    return out


def warp_frame(
    rgb: npt.NDArray[np.uint8],
    points: npt.ArrayLike,
    region: str,
    amplitude_px: float,
) -> npt.NDArray[np.uint8]:
    """One frame with the pixels around `region`'s control points moved by `amplitude_px`."""
    if region not in MOVEMENTS:
        raise MicroError(f"unknown movement {region!r}; choose from {', '.join(MOVEMENTS)}")
    mesh = np.asarray(points, np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468 or mesh.shape[1] < 2:
        raise MicroError(f"expected a (478, 3) face mesh, got shape {mesh.shape}")
    if amplitude_px == 0:
        return rgb
    idx, kind = MOVEMENTS[region]
    centres = mesh[list(idx), :2]
    dirs = _directions(mesh, kind, idx)
    eyes = float(
        np.linalg.norm(mesh[geometry.RIGHT_EYE_OUTER, :2] - mesh[geometry.LEFT_EYE_OUTER, :2])
    )
    sigma = max(SIGMA_EYES * eyes, 2.0)
    h, w = rgb.shape[:2]
    reach = 3.5 * sigma + abs(amplitude_px)
    x0 = int(max(np.floor(centres[:, 0].min() - reach), 0))
    x1 = int(min(np.ceil(centres[:, 0].max() + reach), w))
    y0 = int(max(np.floor(centres[:, 1].min() - reach), 0))
    y1 = int(min(np.ceil(centres[:, 1].max() + reach), h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return rgb
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    # the strongest control point's bump wins: a region moves as one piece
    d2 = (xs[..., None] - centres[:, 0]) ** 2 + (ys[..., None] - centres[:, 1]) ** 2
    weight = np.exp(-d2 / (2 * sigma**2))
    nearest = np.argmax(weight, axis=-1)
    strength = np.take_along_axis(weight, nearest[..., None], axis=-1)[..., 0]
    dx = amplitude_px * strength * dirs[nearest, 0]
    dy = amplitude_px * strength * dirs[nearest, 1]
    # backward map: the pixel shown at x came from x - d (exact to first order)
    map_x = (xs - dx).astype(np.float32)
    map_y = (ys - dy).astype(np.float32)
    out = rgb.copy()
    out[y0:y1, x0:x1] = cv2.remap(
        rgb, map_x, map_y, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    return out


def inject_micro(
    frames: Sequence[npt.NDArray[np.uint8]],
    meshes: Sequence[npt.ArrayLike | None],
    region: str,
    onset: int,
    duration: int,
    amplitude_px: float,
) -> tuple[list[npt.NDArray[np.uint8]], Injection]:
    """Warp a micro-movement into `frames` (RGB) at frames ``onset .. onset + duration - 1``.

    Args:
        frames: the video's RGB frames (not changed; untouched frames are shared).
        meshes: each frame's (478, 3) face mesh in image pixels (None: no face there).
        region: a key of :data:`MOVEMENTS` (brows up, lip corners out and up).
        onset: index of the first displaced frame.
        duration: frames displaced (>= 1); ``sin^2`` rise and fall, apex in the middle.
        amplitude_px: displacement at the apex, in pixels.

    Returns:
        The new frame list and the :class:`Injection` (the ground-truth interval).

    Raises:
        MicroError: bad region, duration, onset, or a displaced frame without a mesh.
    """
    if region not in MOVEMENTS:
        raise MicroError(f"unknown movement {region!r}; choose from {', '.join(MOVEMENTS)}")
    if len(meshes) != len(frames):
        raise MicroError(f"{len(frames)} frames but {len(meshes)} meshes")
    if duration < 1:
        raise MicroError(f"duration must be >= 1 frame, got {duration}")
    if onset < 0 or onset + duration > len(frames):
        raise MicroError(
            f"frames {onset}..{onset + duration - 1} are outside the video's {len(frames)} frames"
        )
    if not np.isfinite(amplitude_px):
        raise MicroError(f"amplitude_px must be finite, got {amplitude_px}")
    weights = profile(duration)
    out = list(frames)
    for k, weight in enumerate(weights):
        t = onset + k
        mesh = meshes[t]
        if mesh is None:
            raise MicroError(f"frame {t} has no face mesh to place the movement on")
        out[t] = warp_frame(frames[t], mesh, region, float(amplitude_px * weight))
    apex = onset + int(np.argmax(weights))
    return out, Injection(region, onset, apex, onset + duration - 1, float(amplitude_px))
