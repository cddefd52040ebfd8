"""Pseudo-NIR synthesis: greyscale, seeded, red-dominant, with illuminator falloff."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data as skdata

from facescope.spectral import SpectralError, pseudo_nir


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()[:256, 128:384].copy()


def test_pseudo_nir_is_greyscale_uint8(astronaut: np.ndarray) -> None:
    nir = pseudo_nir(astronaut, rng=0)
    assert nir.shape == astronaut.shape
    assert nir.dtype == np.uint8
    assert np.array_equal(nir[..., 0], nir[..., 1])
    assert np.array_equal(nir[..., 0], nir[..., 2])
    assert nir.std() > 20  # an image, not a flat field


def test_pseudo_nir_is_deterministic_per_seed(astronaut: np.ndarray) -> None:
    a = pseudo_nir(astronaut, rng=7)
    assert np.array_equal(a, pseudo_nir(astronaut, rng=7))
    assert np.array_equal(a, pseudo_nir(astronaut, rng=np.random.default_rng(7)))
    assert not np.array_equal(a, pseudo_nir(astronaut, rng=8))


def test_input_is_not_modified(astronaut: np.ndarray) -> None:
    before = astronaut.copy()
    pseudo_nir(astronaut, rng=0)
    assert np.array_equal(before, astronaut)


def test_red_dominates_the_channel_mix() -> None:
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 200
    kwargs: dict[str, Any] = {"falloff": 0.0, "noise": 0.0, "skin_gain": 0.0}
    assert pseudo_nir(red, rng=0, **kwargs).mean() > 4 * pseudo_nir(blue, rng=0, **kwargs).mean()


def test_active_illumination_falls_off_from_the_centre() -> None:
    flat = np.full((101, 101, 3), 150, np.uint8)
    nir = pseudo_nir(flat, rng=0, noise=0.0, falloff=0.8)[..., 0].astype(float)
    assert nir[45:56, 45:56].mean() > nir[:10, :10].mean() + 20
    none = pseudo_nir(flat, rng=0, noise=0.0, falloff=0.0)[..., 0].astype(float)
    assert none.std() < 1.0


def test_skin_texture_is_reduced(astronaut: np.ndarray) -> None:
    face = (slice(60, 130), slice(60, 130))  # cheek/forehead region of the crop
    grey = astronaut @ np.array([0.7, 0.2, 0.1])
    nir = pseudo_nir(astronaut, rng=0, noise=0.0)[..., 0].astype(float)

    def texture(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x[face], axis=0)).mean())

    assert texture(nir) < texture(grey)


def test_noise_depends_on_the_seed_only_through_noise_and_jitter() -> None:
    flat = np.full((64, 64, 3), 120, np.uint8)
    quiet = pseudo_nir(flat, rng=3, noise=0.0, falloff=0.0).astype(float)
    noisy = pseudo_nir(flat, rng=3, noise=4.0, falloff=0.0).astype(float)
    assert (noisy - noisy.mean()).std() > (quiet - quiet.mean()).std() + 1.0


def test_aligned_crop_gets_darker_pupils() -> None:
    crop = np.full((112, 112, 3), 140, np.uint8)
    out = pseudo_nir(crop, rng=0, noise=0.0, falloff=0.0)[..., 0].astype(float)
    assert out[52, 38] < out[30, 56] - 30  # left-eye template point vs forehead


@pytest.mark.parametrize(
    ("bad", "kwargs"),
    [
        (np.zeros((32, 32, 3), np.float64), {}),
        (np.zeros((32, 32), np.uint8), {}),
        (np.zeros((0, 5, 3), np.uint8), {}),
        ("image.png", {}),
        (np.zeros((32, 32, 3), np.uint8), {"weights": (1.0, -1.0, 0.0)}),
        (np.zeros((32, 32, 3), np.uint8), {"noise": float("nan")}),
        (np.zeros((32, 32, 3), np.uint8), {"eyes": [[1.0, 2.0]]}),
    ],
)
def test_bad_input(bad: object, kwargs: dict[str, object]) -> None:
    with pytest.raises(SpectralError):
        pseudo_nir(bad, rng=0, **kwargs)  # type: ignore[arg-type]
