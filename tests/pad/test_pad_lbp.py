"""The numpy uniform LBP gives scikit-image's codes exactly (the PAD heads were fitted on them)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facescope.io.image import load_image
from facescope.pad import cues, heatmap
from facescope.pad.lbp import uniform_lbp

skimage_feature = pytest.importorskip(
    "skimage.feature", reason="scikit-image (dev extra) is the reference implementation"
)


def _reference(image: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(
        skimage_feature.local_binary_pattern(image, 8, radius, method="uniform"), np.float64
    )


def _images(data: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    photo = load_image(data / "obama_1.jpg")
    crop = np.ascontiguousarray(cv2.resize(photo, (cues.CROP, cues.CROP)))
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    return [
        *(rng.integers(0, 256, (112, 112), dtype=np.uint8) for _ in range(3)),
        # few grey levels: many neighbours tie with the centre, so the interpolation's
        # rounding decides the bit and must match scikit-image's exactly
        *(rng.integers(0, 3, (57, 64), dtype=np.uint8) for _ in range(6)),
        np.full((16, 16), 9, np.uint8),
        np.zeros((3, 4), np.uint8),
        cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY),
        *(ycc[..., k] for k in range(3)),
        *(hsv[..., k] for k in range(3)),
    ]


@pytest.mark.parametrize("radius", [1, 2, 1.5, 3])
def test_uniform_lbp_equals_scikit_image(data: Path, radius: float) -> None:
    for image in _images(data):
        ours = uniform_lbp(image, 8, radius)
        assert ours.dtype == np.float64
        np.testing.assert_array_equal(ours, _reference(image, radius))


def test_pad_cue_vectors_equal_the_scikit_image_ones(data: Path) -> None:
    crop = np.ascontiguousarray(cv2.resize(load_image(data / "biden_1.jpg"), (112, 112)))
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    expected = []
    for channel in (ycc[..., 2], ycc[..., 1], hsv[..., 0], hsv[..., 1]):
        for radius in (1, 2):
            codes = _reference(channel, radius).astype(np.int64).ravel()
            hist = np.bincount(codes, minlength=10)
            expected.append(hist[:10] / hist.sum())
    np.testing.assert_array_equal(cues.chroma_texture(crop).vector, np.concatenate(expected))
    features = heatmap.patch_features(crop)
    assert features.shape == (heatmap.GRID**2, 5 * 10 + 1)


def test_uniform_lbp_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        uniform_lbp(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="radius"):
        uniform_lbp(np.zeros((4, 4), np.uint8), 8, 0)
