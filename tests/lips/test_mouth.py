"""Mouth crops and lip landmarks on a real portrait: centred, level, scale- and pose-free."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA

from facescope.analysis.geometry import MOUTH_LEFT, MOUTH_RIGHT
from facescope.lips import (
    CROP_SIZE,
    LANDMARK_POINTS,
    LIP_POINTS,
    LipsError,
    lip_aperture,
    lip_landmarks,
    mouth_crop,
    mouth_warp,
)


def _mesh(rgb: np.ndarray) -> np.ndarray:
    from facescope.analysis.mesh import shared_mesher
    from facescope.pipeline import find_faces

    faces = find_faces(rgb, max_faces=1, assume_aligned=False)
    assert len(faces) == 1
    mesh = shared_mesher().mesh(rgb, faces.boxes[0])
    assert mesh is not None
    return mesh.points.astype(np.float64)


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    from facescope.io.image import load_image

    rgb = load_image(DATA / "obama_1.jpg")
    return rgb, _mesh(rgb)


def _rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def _check_centred(rgb: np.ndarray, points: np.ndarray) -> None:
    crop = mouth_crop(rgb, points)
    assert crop.shape == (CROP_SIZE, CROP_SIZE) and crop.dtype == np.uint8
    # the mesh's mouth points, warped into the crop
    warp = mouth_warp(points)
    lips = warp.apply(points[list(LIP_POINTS)])
    right, left = warp.apply(points[[MOUTH_RIGHT, MOUTH_LEFT]])
    centre = lips.mean(0)
    assert np.all(np.abs(centre - CROP_SIZE / 2) < 4), centre  # centred
    assert abs(right[1] - left[1]) < 3.5, (right, left)  # level (within ~3 degrees)
    assert 36 < left[0] - right[0] < 70  # fixed scale: a canonical mouth is ~46 px wide
    assert lips.min() > 0 and lips.max() < CROP_SIZE  # the whole mouth is inside


def test_crop_is_88x88_with_the_mouth_centred_and_level(portrait: tuple) -> None:
    rgb, points = portrait
    _check_centred(rgb, points)
    # the crop shows a mouth: darker lips gap row vs. the skin above it
    crop = mouth_crop(rgb, points)
    assert crop.std() > 10


def test_crop_undoes_head_roll_and_image_scale(portrait: tuple) -> None:
    rgb, points = portrait
    base = mouth_crop(rgb, points).astype(np.float32)
    for image in (_rotated(rgb, 20.0), cv2.resize(rgb, None, fx=0.6, fy=0.6)):
        moved = _mesh(image)
        _check_centred(image, moved)
        other = mouth_crop(image, moved).astype(np.float32)
        # the same mouth at the same place: the crops correlate strongly
        corr = np.corrcoef(base.ravel(), other.ravel())[0, 1]
        assert corr > 0.8, corr


def test_lip_landmarks_are_pose_and_scale_normalised(portrait: tuple) -> None:
    rgb, points = portrait
    marks = lip_landmarks(points)
    assert marks.shape == (len(LANDMARK_POINTS), 3)
    for image in (_rotated(rgb, -15.0), cv2.resize(rgb, None, fx=0.5, fy=0.5)):
        other = lip_landmarks(_mesh(image))
        # millimetres on the canonical face: the same within mesh noise
        assert np.abs(other[:, :2] - marks[:, :2]).mean() < 1.5
    # canonical mouth: ~54 mm wide, a closed-ish mouth has a small aperture
    width = np.linalg.norm(
        marks[LANDMARK_POINTS.index(MOUTH_RIGHT), :2] - marks[LANDMARK_POINTS.index(MOUTH_LEFT), :2]
    )
    assert 40 < width < 80  # this portrait smiles broadly
    assert 0 <= lip_aperture(marks) < 15


def test_bad_inputs_raise(portrait: tuple) -> None:
    rgb, points = portrait
    with pytest.raises(LipsError):
        mouth_crop(rgb, points[:10])
    with pytest.raises(LipsError):
        mouth_crop(rgb, np.full_like(points, np.nan))
    with pytest.raises(LipsError):
        mouth_crop(rgb[..., 0], points)
    with pytest.raises(LipsError):
        mouth_crop(rgb, points, size=4)
    with pytest.raises(LipsError):
        mouth_crop(rgb, points, pixels_per_mm=-1.0)
    with pytest.raises(LipsError):
        lip_landmarks(points[:, :2])
