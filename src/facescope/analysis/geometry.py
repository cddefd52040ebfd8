"""The canonical 3D face, the mesh's named regions, and alignment onto the canonical face.

``face_geometry.json`` (written by ``scripts/analysis/fit_face_geometry.py``)
holds the canonical face: the Procrustes mean of the MediaPipe mesh over 613
faces, upright (x along the outer eye corners towards the image's right, y from
the eyes towards the chin, z away from the camera), in millimetres with 90 mm
between the outer eye corners; and the map from dlib's 68 points to the mesh.

Mesh indices follow MediaPipe: the subject's right eye is on the image's left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

GEOMETRY_FILE = Path(__file__).with_name("face_geometry.json")

#: Named mesh points (MediaPipe indices).
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374
RIGHT_IRIS, LEFT_IRIS = 468, 473
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
LIP_INNER_TOP, LIP_INNER_BOTTOM = 13, 14

#: Eye-aspect-ratio points per eye, in Soukupova & Cech's order p1..p6
#: (outer corner, two upper-lid points, inner corner, two lower-lid points).
EAR_RIGHT = (33, 160, 158, 133, 153, 144)
EAR_LEFT = (263, 387, 385, 362, 380, 373)

#: Mesh regions (from MediaPipe's FACEMESH_* connection sets).
REGIONS: dict[str, tuple[int, ...]] = {
    "lips": (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
             185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402,
             405, 409, 415),
    "left_eye": (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466),
    "right_eye": (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246),
    "left_brow": (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    "right_brow": (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
    "face_oval": (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172,
                  176, 234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389,
                  397, 400, 454),
    "nose": (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294,
             326, 327, 344, 440),
    "left_iris": (473, 474, 475, 476, 477),
    "right_iris": (468, 469, 470, 471, 472),
}  # fmt: skip

#: Points that barely move with expression: used to solve head pose and to align.
RIGID: tuple[int, ...] = (
    33, 133, 362, 263, 1, 4, 5, 6, 168, 197, 195, 10, 151, 9, 8, 234, 454, 127, 356,
    93, 323, 116, 345, 50, 280, 98, 327, 168, 122, 351,
)  # fmt: skip

#: dlib's 68-point regions (iBUG 300-W indices).
DLIB68_REGIONS: dict[str, range] = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "lips": range(48, 68),
}


@dataclass(frozen=True)
class FaceGeometry:
    """The canonical face and the dlib-68 map."""

    canonical: FloatArray
    dlib68_to_mesh: tuple[int, ...]
    dlib68_residual: dict[str, float]


@cache
def face_geometry() -> FaceGeometry:
    """Load ``face_geometry.json`` (once)."""
    payload = json.loads(GEOMETRY_FILE.read_text())
    canonical = np.asarray(payload["canonical_mm"], np.float64)
    return FaceGeometry(
        canonical,
        tuple(int(i) for i in payload["dlib68_to_mesh"]),
        {k: float(v) for k, v in payload["dlib68_residual_eye_units"].items()},
    )


def similarity_fit(source: FloatArray, target: FloatArray) -> tuple[FloatArray, float, FloatArray]:
    """Rotation R, scale s and translation t minimising ``|s * source @ R + t - target|``."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sv, vt = np.linalg.svd(a.T @ b)
    sign = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0] * (a.shape[1] - 1) + [sign])
    rotation = u @ fix @ vt
    scale = float((sv * np.diag(fix)).sum() / max((a**2).sum(), 1e-12))
    return rotation, scale, mu_t - scale * mu_s @ rotation


def to_canonical(points: npt.ArrayLike) -> FloatArray:
    """Mesh points (478, 3, image pixels) aligned onto the canonical face, in millimetres.

    A 3D similarity fit on the rigid points removes head rotation, position and
    scale, so distances in the result are comparable across faces, poses and
    image sizes (what expression and eye measures need).
    """
    mesh = np.asarray(points, np.float64)
    canonical = face_geometry().canonical
    rigid = list(RIGID)
    rotation, scale, shift = similarity_fit(mesh[rigid], canonical[rigid])
    return np.asarray(scale * mesh @ rotation + shift, np.float64)


def mesh_to_dlib68(points: npt.ArrayLike) -> FloatArray:
    """The mesh vertices nearest to dlib's 68 points, in dlib's order (68, dims)."""
    mesh = np.asarray(points, np.float64)
    return np.asarray(mesh[list(face_geometry().dlib68_to_mesh)], np.float64)
