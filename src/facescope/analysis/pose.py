"""Head pose (yaw, pitch, roll in degrees) from the mesh, by a PnP solve.

The mesh's rigid points (eye corners, nose, forehead, cheekbones; not the mouth
or jaw) are matched to the same points of the canonical 3D face
(:mod:`facescope.analysis.geometry`), and ``cv2.solvePnP`` (SQPnP, then a
Levenberg-Marquardt refinement) finds the head's rotation for a pinhole camera
with its focal length equal to the image's larger side and its centre in the
middle of the image (about a 53° field of view: a webcam or phone).

Angles, in degrees, for a camera looking at the person:

* yaw > 0: the face turns towards the image's right (the person's left);
* pitch > 0: the face looks up;
* roll > 0: the head tilts clockwise in the image.

The angles are relative to the line of sight from the camera to the head, not
to the camera's optical axis, so a face looking into the lens reads (0, 0, 0)
wherever it sits in the frame. They decompose that relative rotation as
``R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)`` (x right, y down, z forward). A mirrored
image negates yaw and roll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis.geometry import RIGID, face_geometry

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class HeadPose:
    """A head's orientation and position relative to the camera.

    Attributes:
        yaw, pitch, roll: degrees (see the module docs for the signs).
        rotation: (3, 3) head-to-camera rotation matrix (in the camera frame).
        translation: (3,) head origin (between the outer eye corners) in camera
            coordinates, millimetres, for the assumed focal length.
        reprojection_error: mean distance (pixels over the outer-eye distance)
            between the mesh's rigid points and the solved canonical face's.
    """

    yaw: float
    pitch: float
    roll: float
    rotation: FloatArray
    translation: FloatArray
    reprojection_error: float


def camera_matrix(width: int, height: int) -> FloatArray:
    """The assumed pinhole camera: focal length the larger image side, centred."""
    focal = float(max(width, height))
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def euler_from_rotation(rotation: FloatArray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a head-to-camera rotation."""
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    yaw = math.atan2(forward[0], -forward[2])
    pitch = math.asin(float(np.clip(-forward[1], -1.0, 1.0)))
    no_roll = rotation_from_euler(math.degrees(yaw), math.degrees(pitch), 0.0)
    rest = no_roll.T @ rotation
    roll = math.atan2(rest[1, 0], rest[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> FloatArray:
    """Head-to-camera rotation for angles in degrees (inverse of :func:`euler_from_rotation`)."""
    a, b, c = (math.radians(v) for v in (-yaw, -pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return np.asarray(ry @ rx @ rz, np.float64)


def line_of_sight(position: FloatArray) -> FloatArray:
    """The smallest rotation taking the optical axis (0, 0, 1) onto the ray to `position`."""
    ray = np.asarray(position, np.float64)
    ray = ray / max(float(np.linalg.norm(ray)), 1e-12)
    axis = np.cross([0.0, 0.0, 1.0], ray)
    sine, cosine = float(np.linalg.norm(axis)), float(ray[2])
    if sine < 1e-12:
        return np.eye(3)
    rvec = axis / sine * math.atan2(sine, cosine)
    matrix, _ = cv2.Rodrigues(rvec)
    return np.asarray(matrix, np.float64)


def head_pose(points: npt.ArrayLike, image_size: tuple[int, int]) -> HeadPose | None:
    """Solve the head pose of one mesh.

    Args:
        points: (478, 3) or (468+, 2+) mesh points in image pixels.
        image_size: ``(width, height)`` of the image the points are in.

    Returns:
        The pose, or None when the solve fails (degenerate points).
    """
    mesh = np.asarray(points, np.float64)
    rigid = list(RIGID)
    image_points = np.ascontiguousarray(mesh[rigid, :2])
    if not np.isfinite(image_points).all():
        return None
    model_points = np.ascontiguousarray(face_geometry().canonical[rigid])
    width, height = image_size
    camera = camera_matrix(width, height)
    ok, rvec, tvec = cv2.solvePnP(
        model_points, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP
    )
    if not ok:
        return None
    rvec, tvec = cv2.solvePnPRefineLM(model_points, image_points, camera, None, rvec, tvec)
    rotation, _ = cv2.Rodrigues(rvec)
    relative = line_of_sight(np.asarray(tvec, np.float64).reshape(3)).T @ rotation
    projected, _ = cv2.projectPoints(model_points, rvec, tvec, camera, None)
    eye_distance = float(np.linalg.norm(mesh[33, :2] - mesh[263, :2])) or 1.0
    error = float(np.linalg.norm(projected.reshape(-1, 2) - image_points, axis=1).mean())
    yaw, pitch, roll = euler_from_rotation(relative)
    return HeadPose(
        yaw,
        pitch,
        roll,
        np.asarray(rotation, np.float64),
        np.asarray(tvec, np.float64).reshape(3),
        error / eye_distance,
    )
