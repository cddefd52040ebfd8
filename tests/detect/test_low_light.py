"""Low light: dark images are detected on a contrast-equalised copy."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TESTDATA

from facescope.detect.faces import DetectOptions, detect_faces, enhance_low_light, is_low_light
from facescope.io.image import load_image

YALE = TESTDATA / "faces" / "extended_yaleb_dev"


def _dark(rgb: np.ndarray) -> np.ndarray:
    """Underexposed and contrasty: most pixels near black, like a face in a dark room."""
    return np.round(255.0 * (rgb / 255.0) ** 2.2 * 0.25).astype(np.uint8)


def test_dark_images_are_recognised_as_low_light(data: Path) -> None:
    rgb = load_image(data / "obama_1.jpg")
    assert not is_low_light(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    dark = cv2.cvtColor(_dark(rgb), cv2.COLOR_RGB2BGR)
    assert is_low_light(dark)
    enhanced = enhance_low_light(dark)
    assert enhanced.shape == dark.shape and enhanced.dtype == np.uint8
    assert enhanced.std() > 1.5 * dark.std()


def test_a_face_in_a_dark_photo_is_found_where_the_lit_one_is(data: Path) -> None:
    rgb = load_image(data / "obama_1.jpg")
    lit = detect_faces(rgb)
    dark = detect_faces(_dark(rgb))
    assert len(lit) == 1 and len(dark) == 1
    a, b = lit.boxes[0], dark.boxes[0]
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    assert inter / union > 0.7
    # the landmarks agree to a few percent of the face width
    width = float(a[2] - a[0])
    assert np.abs(lit.landmarks5[0] - dark.landmarks5[0]).max() < 0.08 * width


def test_a_black_image_has_no_face() -> None:
    assert len(detect_faces(np.zeros((240, 320, 3), np.uint8))) == 0
    noise = np.random.default_rng(0).integers(0, 12, (240, 320, 3)).astype(np.uint8)
    assert len(detect_faces(noise)) == 0


@pytest.mark.skipif(not YALE.is_dir(), reason=f"shared test data not found at {YALE}")
def test_the_darkest_hard_lighting_crops_are_found() -> None:
    with (YALE / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    images = [load_image(YALE / row["path"]) for row in rows[::4]]
    darkest = sorted(images, key=lambda im: float(np.median(im)))[:40]
    default = sum(len(detect_faces(im)) == 0 for im in darkest)
    without = sum(
        len(detect_faces(im, options=DetectOptions(low_light=False))) == 0 for im in darkest
    )
    assert default <= 2, f"{default} of the 40 darkest crops had no face"
    assert without > default  # the equalised copy is what finds them
