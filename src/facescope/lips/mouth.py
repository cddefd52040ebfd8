"""Mouth crops and lip landmarks from the 478-point mesh.

:func:`mouth_crop` warps a frame to the layout lip-reading models use: an 88x88
greyscale crop in which the mouth is centred, level and at a fixed scale. The
warp is a 2D similarity: rotation and scale come from the mesh's rigid points
(eyes, nose, face outline) fitted onto the canonical face, so they follow the
head, not the lips; the centre is the frame's mouth (the midpoint of the mouth
corners, lowered by a fixed offset to the middle of the lips). At the default
:data:`PIXELS_PER_MM` the canonical mouth is 46 px wide.

:func:`lip_landmarks` gives the lip points (:data:`LIP_POINTS`, MediaPipe's
lips region) and the jaw line (:data:`JAW_POINTS`, the lower half of the face
oval, left to right in the image) aligned onto the canonical face with
:func:`facescope.analysis.geometry.to_canonical`: head rotation, position and
scale removed, millimetres with 90 mm between the outer eye corners.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry
from facescope.lips.errors import LipsError

FloatArray = npt.NDArray[np.float64]

#: Side of the square mouth crop (pixels).
CROP_SIZE = 88
#: Crop scale: pixels per canonical millimetre (the crop spans ~104 mm of face).
PIXELS_PER_MM = 0.85
#: Mesh indices of the lips (MediaPipe's lips region, 40 points).
LIP_POINTS: tuple[int, ...] = geometry.REGIONS["lips"]
#: Mesh indices of the jaw line: the face-oval points below the nose, image left to right.
JAW_POINTS: tuple[int, ...] = (
    132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361,
)  # fmt: skip
#: The points of :func:`lip_landmarks`, in its order (lips, then jaw).
LANDMARK_POINTS: tuple[int, ...] = LIP_POINTS + JAW_POINTS
#: Inner-lip pairs (upper, lower) whose distances make the lip aperture.
APERTURE_PAIRS: tuple[tuple[int, int], ...] = (
    (13, 14),
    (82, 87),
    (312, 317),
    (81, 178),
    (311, 402),
)


@dataclass(frozen=True)
class MouthWarp:
    """A similarity warp from image pixels to the mouth crop.

    Attributes:
        matrix: (2, 3) affine matrix, crop = matrix @ [x, y, 1].
        size: side of the crop in pixels.
    """

    matrix: FloatArray
    size: int = CROP_SIZE

    def apply(self, points: npt.ArrayLike) -> FloatArray:
        """Image points (n, 2+) mapped into the crop (n, 2)."""
        xy = np.asarray(points, np.float64)[..., :2]
        return np.asarray(xy @ self.matrix[:, :2].T + self.matrix[:, 2], np.float64)


@cache
def _canonical_reference() -> tuple[FloatArray, FloatArray]:
    """Canonical rigid points (x, y) and the canonical lip centre's offset below the corners."""
    canonical = geometry.face_geometry().canonical
    rigid = canonical[list(geometry.RIGID), :2]
    corners = (canonical[geometry.MOUTH_RIGHT, :2] + canonical[geometry.MOUTH_LEFT, :2]) / 2
    lips = canonical[list(LIP_POINTS), :2].mean(0)
    return rigid, lips - corners


def mouth_warp(
    points: npt.ArrayLike, size: int = CROP_SIZE, pixels_per_mm: float = PIXELS_PER_MM
) -> MouthWarp:
    """The similarity warp that centres, levels and scales the mouth of one mesh.

    Args:
        points: the face's mesh, (478, 2 or 3) image pixels.
        size: side of the crop (pixels).
        pixels_per_mm: crop pixels per canonical millimetre.
    """
    if size < 8 or not np.isfinite(pixels_per_mm) or pixels_per_mm <= 0:
        raise LipsError(f"bad crop parameters: size={size}, pixels_per_mm={pixels_per_mm}")
    mesh = np.asarray(points, np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468 or mesh.shape[1] < 2 or not np.isfinite(mesh).all():
        raise LipsError(f"expected a (478, 3) face mesh, got shape {mesh.shape}")
    rigid, offset = _canonical_reference()
    rotation, scale, shift = geometry.similarity_fit(mesh[list(geometry.RIGID), :2], rigid)
    corners = (mesh[geometry.MOUTH_RIGHT, :2] + mesh[geometry.MOUTH_LEFT, :2]) / 2
    centre = scale * corners @ rotation + shift + offset  # canonical mm
    linear = pixels_per_mm * scale * rotation.T
    translation = pixels_per_mm * (shift - centre) + size / 2.0
    return MouthWarp(np.hstack([linear, translation[:, None]]), size)


def mouth_crop(
    rgb: npt.NDArray[np.uint8],
    points: npt.ArrayLike,
    size: int = CROP_SIZE,
    pixels_per_mm: float = PIXELS_PER_MM,
) -> npt.NDArray[np.uint8]:
    """The (size, size) uint8 greyscale mouth crop of one face (see the module docs)."""
    warp = mouth_warp(points, size, pixels_per_mm)
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise LipsError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    crop = cv2.warpAffine(
        image,
        warp.matrix,
        (warp.size, warp.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), np.uint8)


def lip_landmarks(points: npt.ArrayLike) -> FloatArray:
    """Lip and jaw points (:data:`LANDMARK_POINTS`, (57, 3)) on the canonical face, in mm."""
    mesh = np.asarray(points, np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468 or mesh.shape[1] != 3:
        raise LipsError(f"expected a (478, 3) face mesh, got shape {mesh.shape}")
    return np.asarray(geometry.to_canonical(mesh)[list(LANDMARK_POINTS)], np.float64)


def lip_aperture(landmarks: npt.ArrayLike) -> FloatArray:
    """Inner-lip gap (mm, mean of :data:`APERTURE_PAIRS`) of (..., 57, d) landmarks."""
    marks = np.asarray(landmarks, np.float64)
    where = {index: k for k, index in enumerate(LANDMARK_POINTS)}
    top = marks[..., [where[a] for a, _ in APERTURE_PAIRS], :2]
    bottom = marks[..., [where[b] for _, b in APERTURE_PAIRS], :2]
    return np.asarray(np.linalg.norm(top - bottom, axis=-1).mean(-1), np.float64)
