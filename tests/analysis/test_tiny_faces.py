"""Tiny face photos (48x48, the FER2013 format) get an analysis, flagged, never nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import DATA, TESTDATA

from facescope.analysis import analyzer as module
from facescope.analysis.analyzer import (
    TINY_CROP_NOTE,
    AnalyzeOptions,
    analyze,
    is_tiny_face_crop,
)
from facescope.io.image import load_image
from facescope.pipeline import find_faces, largest
from facescope.types import Faces

FER = TESTDATA / "expression" / "fer2013_train.npz"
CHEAP = AnalyzeOptions(expressions=False, action_units=False, quality=False)


def _tiny_face(name: str, side: int = 48) -> np.ndarray:
    """A tight, FER-style crop of the portrait's face, shrunk to side x side (RGB)."""
    rgb = load_image(DATA / name)
    face = largest(find_faces(rgb))
    x1, y1, x2, y2 = face.boxes[0]
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, 0.55 * max(x2 - x1, y2 - y1)
    crop = rgb[int(cy - half) : int(cy + half), int(cx - half) : int(cx + half)]
    return np.asarray(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA), np.uint8)


def test_which_images_count_as_tiny_face_crops() -> None:
    face = _tiny_face("obama_1.jpg")
    assert is_tiny_face_crop(face)
    assert is_tiny_face_crop(cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), 8))
    assert not is_tiny_face_crop(np.full((48, 48, 3), 127, np.uint8))  # flat: nothing there
    assert not is_tiny_face_crop(face[:16, :16])  # too small to be anything
    assert not is_tiny_face_crop(cv2.resize(face, (200, 200)))  # the detector's business
    assert not is_tiny_face_crop(cv2.resize(face, (120, 40)))  # a strip, not a face crop


@pytest.mark.parametrize("name", ["obama_1.jpg", "biden_1.jpg"])
def test_a_48px_face_photo_gets_a_result_with_expressions(name: str) -> None:
    result = analyze(_tiny_face(name))
    assert len(result) == 1
    face = result[0]
    assert face.expressions is not None and abs(sum(face.expressions.values()) - 1) < 1e-4
    assert face.valence is not None


def test_when_the_detector_misses_the_whole_crop_is_the_face(monkeypatch) -> None:
    monkeypatch.setattr(module, "find_faces", lambda rgb, **kwargs: Faces.empty())
    tiny = _tiny_face("obama_2.jpg")
    face = analyze(tiny)[0]
    assert face.detector_score == 0.0 and face.missing["face"] == TINY_CROP_NOTE
    assert face.box == pytest.approx((0.0, 0.0, 48.0, 48.0))
    assert face.expressions is not None
    assert "face" in face.to_dict()["missing"]
    # detected faces only when asked, and never a face in a flat or a too-small image
    assert len(analyze(tiny, CHEAP, assume_aligned=False)) == 0
    assert len(analyze(np.full((48, 48, 3), 127, np.uint8), CHEAP)) == 0
    assert len(analyze(np.zeros((4, 4, 3), np.uint8), CHEAP)) == 0
    assert len(analyze(tiny, CHEAP, min_size=64)) == 0


def test_detected_faces_are_not_flagged() -> None:
    rgb = load_image(DATA / "obama_1.jpg")
    small = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    faces = analyze(small, CHEAP)
    assert len(faces) >= 1 and all("face" not in f.missing for f in faces)


@pytest.mark.skipif(not FER.is_file(), reason="shared FER2013 data absent")
def test_fer2013_photos_always_get_a_face() -> None:
    with np.load(FER, allow_pickle=False) as data:
        images = data["images"][:: len(data["images"]) // 60][:60]
    flat = [float(g.std()) < 8.0 for g in images]
    found = [len(analyze(np.repeat(g[:, :, None], 3, 2), CHEAP)) for g in images]
    assert all(n == 1 for n, f in zip(found, flat, strict=True) if not f), found
