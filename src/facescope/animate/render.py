"""A small software rasteriser of the stylized head (painter's algorithm, Lambert shading)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facescope.analysis.pose import rotation_from_euler
from facescope.animate.character import Character, default_character

UInt8Array = npt.NDArray[np.uint8]

#: Light direction (towards the light, view space: x right, y up, z to the viewer).
LIGHT = np.array([0.35, 0.45, 1.0]) / np.linalg.norm([0.35, 0.45, 1.0])


def render_head(
    weights: npt.ArrayLike,
    head: tuple[float, float, float] = (0.0, 0.0, 0.0),
    size: int = 256,
    character: Character | None = None,
    background: tuple[int, int, int] = (40, 44, 52),
) -> UInt8Array:
    """RGB (size, size, 3) image of the head under (52,) morph weights and (yaw, pitch, roll).

    Angles follow :mod:`facescope.analysis.pose` (yaw > 0 turns towards the image's right,
    pitch > 0 looks up, roll > 0 tilts clockwise).
    """
    import cv2

    model = character or default_character()
    points = model.deformed(weights).astype(np.float64)
    yaw, pitch, roll = head
    # pose.py's rotation lives in camera space (x right, y down, z away); ours is y up, z out
    flip = np.diag([1.0, -1.0, -1.0])
    rotation = flip @ rotation_from_euler(yaw, pitch, roll) @ flip
    view = points @ rotation.T
    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    scale = size * 0.42
    px = np.stack([size / 2 + scale * view[:, 0], size * 0.5 - scale * view[:, 1]], 1)
    tri = model.triangles.astype(np.int64)
    a, b, c = view[tri[:, 0]], view[tri[:, 1]], view[tri[:, 2]]
    normal = np.cross(b - a, c - a)
    length = np.linalg.norm(normal, axis=1)
    # the head is culled; the flat feature layers are two-sided
    visible = ((normal[:, 2] > 0) | (model.layers > 0)) & (length > 1e-12)
    normal = normal / np.maximum(length, 1e-12)[:, None]
    normal[normal[:, 2] < 0] *= -1.0
    shade = 0.35 + 0.65 * np.clip(normal @ LIGHT, 0.0, 1.0)
    depth = (a[:, 2] + b[:, 2] + c[:, 2]) / 3.0 + 0.03 * model.layers
    colour = model.colors[tri].mean(1) * shade[:, None] * 255.0
    fixed = np.round(px * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    order = np.argsort(depth)
    for k in order[visible[order]]:
        cv2.fillConvexPoly(
            image, fixed[tri[k]], tuple(float(v) for v in colour[k]), cv2.LINE_AA, shift=4
        )
    return image


def render_aligned(
    weights: npt.ArrayLike,
    head: tuple[float, float, float] = (0.0, 0.0, 0.0),
    character: Character | None = None,
) -> UInt8Array:
    """A 112x112 crop of the head warped onto the ArcFace template (eyes and mouth corners).

    For recognisers that take aligned faces (``assume_aligned=True``): the head's eye
    centres and mouth corners (at rest, frontal) are mapped onto the template's.
    """
    import cv2

    from facescope.align.template import ARCFACE_TEMPLATE_112

    size = 256
    image = render_head(weights, head, size=size, character=character)
    s = size * 0.42
    c = size / 2
    source = np.array(
        [[c - 0.32 * s, c - 0.18 * s], [c + 0.32 * s, c - 0.18 * s],
         [c - 0.30 * s, c + 0.48 * s], [c + 0.30 * s, c + 0.48 * s]], np.float32,
    )  # fmt: skip
    target = np.asarray(ARCFACE_TEMPLATE_112, np.float32)[[0, 1, 3, 4]]
    matrix, _ = cv2.estimateAffinePartial2D(source, target)
    return np.asarray(cv2.warpAffine(image, matrix, (112, 112), borderValue=(40, 44, 52)), np.uint8)
