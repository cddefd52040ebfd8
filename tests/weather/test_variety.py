"""Style-randomised rain, snow and haze for training (facescope.weather.variety)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from facescope.errors import WeatherError
from facescope.weather.synth import degrade
from facescope.weather.train import degraded_batch
from facescope.weather.variety import VARIED, vary


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """The astronaut's face, resized to a 112x112 crop (public-domain skimage image)."""
    import cv2

    return np.asarray(cv2.resize(skdata.astronaut()[0:300, 100:400], (112, 112)), np.uint8)


def _streak_contrast(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute change of the high-pass residual (rain and snow add fine bright detail)."""
    import cv2

    def fine(x: np.ndarray) -> np.ndarray:
        g = x.astype(np.float32).mean(axis=2)
        return g - cv2.GaussianBlur(g, (0, 0), 2.0)

    return float(np.abs(fine(after) - fine(before)).mean())


@pytest.mark.parametrize("kind", VARIED)
def test_vary_is_seeded_and_keeps_the_shape(crop: np.ndarray, kind: str) -> None:
    a = vary(crop, kind, 3, np.random.default_rng(5))
    b = vary(crop, kind, 3, np.random.default_rng(5))
    c = vary(crop, kind, 3, np.random.default_rng(6))
    assert a.shape == crop.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    grey = vary(crop[..., 0], kind, 3, np.random.default_rng(5))
    assert grey.shape == crop.shape[:2] and grey.dtype == np.uint8


@pytest.mark.parametrize("kind", ["rain", "snow"])
def test_precipitation_adds_fine_detail_and_more_when_heavier(crop: np.ndarray, kind: str) -> None:
    def change(severity: int) -> float:
        return float(np.mean([
            _streak_contrast(crop, vary(crop, kind, severity, np.random.default_rng(s)))
            for s in range(12)
        ]))  # fmt: skip

    mild, heavy = change(1), change(5)
    assert mild > 0.5
    assert heavy > 1.4 * mild


def test_haze_lowers_contrast_and_lifts_the_dark(crop: np.ndarray) -> None:
    grey = crop.mean(axis=2)
    for seed in range(6):
        hazy = vary(crop, "haze", 4, np.random.default_rng(seed)).mean(axis=2)
        assert hazy.std() < 0.85 * grey.std()
        assert np.percentile(hazy, 2) > np.percentile(grey, 2) + 10


@pytest.mark.parametrize(
    ("kind", "severity", "image"),
    [
        ("jpeg", 3, None),
        ("rain", 0, None),
        ("rain", 6, None),
        ("rain", 3.0, None),
        ("rain", 3, np.zeros((4, 4, 3), np.uint8)),
        ("rain", 3, np.zeros((32, 32, 3), np.float32)),
    ],
)
def test_vary_refuses_bad_input(
    crop: np.ndarray, kind: str, severity: object, image: object
) -> None:
    bad: object = crop if image is None else image
    with pytest.raises(WeatherError):
        vary(bad, kind, severity, np.random.default_rng(0))  # type: ignore[arg-type]


def test_degraded_batch_without_variety_draws_what_it_drew_before(crop: np.ndarray) -> None:
    crops = np.stack([crop, crop[:, ::-1].copy()] * 4)
    common = {"batch": 6, "clean_share": 0.0, "kinds": ("rain",), "severities": (3,)}
    rng = np.random.default_rng(3)
    pick, mirrored, clean, degraded = degraded_batch(crops, np.random.default_rng(3), **common)
    # the draws of the original loop, replayed: one kind, severity 3, a seed per crop
    expect = rng.integers(0, len(crops), size=6)
    assert np.array_equal(pick, expect)
    for i in range(6):
        rng.random()  # clean share
        rng.random()  # one kind or two
        rng.choice(["rain"], size=1, replace=False)
        rng.choice([3])
        seed = int(rng.integers(1 << 30))
        want = degrade(crops[expect[i]], ["rain"], 3, seed=seed)
        got = degraded[i][:, ::-1] if mirrored else degraded[i]
        assert np.array_equal(got, want)
    assert clean.shape == degraded.shape


def test_degraded_batch_with_full_variety_draws_the_wider_family(crop: np.ndarray) -> None:
    crops = np.stack([crop] * 8)
    common = {"batch": 8, "clean_share": 0.0, "kinds": ("rain",), "severities": (4,)}
    _, _, _, plain = degraded_batch(crops, np.random.default_rng(9), **common)
    _, _, clean, varied = degraded_batch(crops, np.random.default_rng(9), variety=1.0, **common)
    assert varied.shape == plain.shape
    assert not np.array_equal(varied, plain)
    assert all(not np.array_equal(v, c) for v, c in zip(varied, clean, strict=True))
    # kinds outside VARIED are never varied
    blur = {"batch": 8, "clean_share": 0.0, "kinds": ("motion_blur",), "severities": (3,)}
    _, _, _, a = degraded_batch(crops, np.random.default_rng(2), **blur)
    _, _, _, b = degraded_batch(crops, np.random.default_rng(2), variety=1.0, **blur)
    assert np.array_equal(a, b)
