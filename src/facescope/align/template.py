"""The 5-point similarity alignment used by ArcFace-family recognisers."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

#: Landmark positions of the ArcFace 112x112 crop: eyes, nose tip, mouth corners
#: (image-left point first), the template InsightFace and SFace were trained on.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

CROP_SIZE = 112


def similarity_transform(
    source: npt.NDArray[np.floating], target: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, translation) source -> target.

    Umeyama's closed form; returns a 2x3 matrix for ``cv2.warpAffine``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    src_var = (src_c**2).sum() / len(src)
    scale = float((singular * np.diag(sign)).sum() / src_var) if src_var > 0 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def warp_to_template(
    image: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.floating]
) -> npt.NDArray[np.uint8]:
    """Warp one face to the 112x112 ArcFace crop given its 5 landmarks."""
    matrix = similarity_transform(landmarks5, ARCFACE_TEMPLATE_112)
    warped = cv2.warpAffine(
        image,
        matrix,
        (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(warped, dtype=np.uint8)


def warp_faces(
    image: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.floating]
) -> npt.NDArray[np.uint8]:
    """(n, 112, 112, 3) ArcFace crops of every face whose (n, 5, 2) landmarks are given."""
    if len(landmarks5) == 0:
        return np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return np.stack([warp_to_template(image, points) for points in landmarks5])
