"""Silent videos made from talking ones: negatives for visual voice-activity detection.

Each function takes and returns lists of ``(H, W, 3)`` uint8 RGB frames:

* :func:`frozen`: one frame repeated (nothing moves);
* :func:`still_mouth`: the first frame's mouth region pasted into every frame,
  moved with the head (the head and eyes move, the mouth does not);
* :func:`smiling`: a still frame whose mouth corners are warped outwards and
  upwards into a smile, held, and relaxed (a wide, static mouth with onsets);
* :func:`nodding`: a still frame moved up and down and tilted (head motion only);
  applied to the frame whose mouth is most open, a mouth held open while the
  head moves;
* :func:`side_by_side`: two videos in one frame (who is speaking?).

:func:`as_frames` wraps frames with an index and a time at a frame rate, as
:func:`facescope.lips.extract.extract_frames` takes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis import geometry
from facescope.io.video import Frame
from facescope.lips.errors import LipsError
from facescope.lips.mouth import LIP_POINTS

Image = npt.NDArray[np.uint8]


def as_frames(images: Sequence[Image], fps: float) -> list[Frame]:
    """Frames with ``index`` and ``time = index / fps``."""
    if not (math.isfinite(fps) and fps > 0):
        raise LipsError(f"fps must be > 0, got {fps!r}")
    return [Frame(i, i / fps, np.ascontiguousarray(im)) for i, im in enumerate(images)]


def frozen(images: Sequence[Image], index: int = 0) -> list[Image]:
    """Frame `index` repeated ``len(images)`` times."""
    return [images[index].copy() for _ in images]


def _mouth_box(points: npt.ArrayLike, margin: float) -> tuple[float, float, float, float]:
    lips = np.asarray(points, np.float64)[list(LIP_POINTS), :2]
    (x1, y1), (x2, y2) = lips.min(0), lips.max(0)
    width = x2 - x1
    return x1 - margin * width, y1 - margin * width, x2 + margin * width, y2 + margin * width


def still_mouth(
    images: Sequence[Image],
    meshes: Sequence[npt.ArrayLike | None],
    margin: float = 0.6,
) -> list[Image]:
    """The first frame's mouth pasted into every frame, following the head.

    `meshes` are each frame's mesh (None where there is none: the last one is
    used). The region is an ellipse around the first frame's lips, `margin`
    mouth widths larger on each side, feathered; it is moved into each frame by
    the similarity between the two frames' rigid mesh points, so the head and
    eyes move while the mouth (and chin) do not.
    """
    if len(meshes) != len(images) or meshes[0] is None:
        raise LipsError("still_mouth needs one mesh per frame and one for the first")
    first = images[0]
    reference = np.asarray(meshes[0], np.float64)
    x1, y1, x2, y2 = _mouth_box(reference, margin)
    height, width = first.shape[:2]
    mask = np.zeros((height, width), np.float32)
    centre = (round((x1 + x2) / 2), round((y1 + y2) / 2))
    axes = (round((x2 - x1) / 2), round((y2 - y1) / 2))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    feather = max(3, int(0.15 * (x2 - x1)) | 1)
    mask = np.asarray(cv2.GaussianBlur(mask, (feather, feather), 0), np.float32)
    rigid = list(geometry.RIGID)
    out = []
    current = reference
    for image, mesh in zip(images, meshes, strict=True):
        if mesh is not None:
            current = np.asarray(mesh, np.float64)
        rotation, scale, shift = geometry.similarity_fit(reference[rigid, :2], current[rigid, :2])
        matrix = np.hstack([scale * rotation.T, shift[:, None]])
        patch = cv2.warpAffine(first, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(mask, matrix, (width, height))[..., None]
        blended = patch.astype(np.float32) * alpha + image.astype(np.float32) * (1 - alpha)
        out.append(np.clip(blended, 0, 255).astype(np.uint8))
    return out


def meshes_of(images: Sequence[Image]) -> list[npt.NDArray[np.float64] | None]:
    """The largest face's mesh (478, 3) in each image, or None."""
    from facescope.analysis.mesh import shared_mesher
    from facescope.pipeline import find_faces

    out: list[npt.NDArray[np.float64] | None] = []
    for image in images:
        faces = find_faces(image, max_faces=1, assume_aligned=False)
        mesh = shared_mesher().mesh(image, faces.boxes[0]) if len(faces) else None
        out.append(None if mesh is None else mesh.points.astype(np.float64))
    return out


def _envelope(t: float, rise: float = 0.4, hold: float = 1.5, rest: float = 0.6) -> float:
    """0 -> 1 (smooth, `rise` s), held `hold` s, back to 0, rest `rest` s; repeating."""
    period = 2 * rise + hold + rest
    u = t % period
    if u < rise:
        return 0.5 - 0.5 * math.cos(math.pi * u / rise)
    if u < rise + hold:
        return 1.0
    if u < 2 * rise + hold:
        return 0.5 + 0.5 * math.cos(math.pi * (u - rise - hold) / rise)
    return 0.0


def smiling(
    image: Image, points: npt.ArrayLike, count: int, fps: float, strength: float = 0.15
) -> list[Image]:
    """`count` frames of `image` whose mouth smiles (corners out and up), holds, relaxes.

    The warp is a smooth displacement field around the mouth corners of the mesh
    `points` of `image`; at full smile each corner moves `strength` mouth widths
    outwards and half that upwards.
    """
    mesh = np.asarray(points, np.float64)
    right, left = mesh[geometry.MOUTH_RIGHT, :2], mesh[geometry.MOUTH_LEFT, :2]
    mouth = float(np.linalg.norm(left - right))
    if mouth < 2:
        raise LipsError("the mouth is too small to warp")
    axis = (left - right) / mouth
    up = np.array([axis[1], -axis[0]])  # image up, perpendicular to the mouth line
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    sigma = 0.35 * mouth
    field_x = np.zeros((height, width), np.float32)
    field_y = np.zeros((height, width), np.float32)
    for corner, outward in ((right, -axis), (left, axis)):
        weight = np.exp(-((xs - corner[0]) ** 2 + (ys - corner[1]) ** 2) / (2 * sigma**2))
        move = strength * mouth * (outward + 0.5 * up)
        field_x += weight * float(move[0])
        field_y += weight * float(move[1])
    out = []
    for k in range(count):
        s = _envelope(k / fps)
        # backward map: the output pixel p shows the input at p - displacement
        warped = cv2.remap(
            image, xs - s * field_x, ys - s * field_y, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        out.append(np.asarray(warped, np.uint8))
    return out


def nodding(
    image: Image, count: int, fps: float, amplitude: float = 0.04, period_s: float = 1.2
) -> list[Image]:
    """`count` frames of `image` moved up and down (`amplitude` x its height), tilted 4 deg."""
    height, width = image.shape[:2]
    out = []
    for k in range(count):
        phase = 2 * math.pi * k / fps / period_s
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 4.0 * math.sin(phase / 2), 1.0)
        matrix[1, 2] += amplitude * height * math.sin(phase)
        warped = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
        out.append(np.asarray(warped, np.uint8))
    return out


def side_by_side(left: Sequence[Image], right: Sequence[Image]) -> list[Image]:
    """Frames of `left` and `right` next to each other (the shorter video sets the length)."""
    out = []
    for a, b in zip(left, right, strict=False):
        if a.shape[0] != b.shape[0]:
            size = (round(b.shape[1] * a.shape[0] / b.shape[0]), a.shape[0])
            b = np.asarray(cv2.resize(b, size), np.uint8)
        out.append(np.ascontiguousarray(np.hstack([a, b])))
    return out
