"""The SFace stem statistics (facescope.models.stem), shared by PAD and the weather detectors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

import facescope as fs
from facescope.errors import InvalidImageError
from facescope.models.stem import WIDTH, feature_names, stem_statistics
from facescope.pad.stem import stem_features


def test_one_runner_for_pad_and_the_detectors() -> None:
    crop = fs.align(skdata.astronaut())[0]
    values = stem_statistics(crop[None])
    assert values.shape == (1, WIDTH) == (1, len(feature_names()))
    np.testing.assert_array_equal(values, stem_features(crop[None]))
    stds = values[0, 32:64]  # conv_1_relu's standard deviations: texture is there
    assert np.all(stds >= 0) and stds.max() > 0


def test_wrong_crops_are_refused() -> None:
    with pytest.raises(InvalidImageError, match=r"\(n, 112, 112, 3\) uint8"):
        stem_statistics(np.zeros((1, 64, 64, 3), np.uint8))
    assert stem_statistics(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, WIDTH)
