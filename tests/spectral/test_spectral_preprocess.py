"""Tan-Triggs and DoG illumination normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from facescope.spectral import (
    SpectralError,
    difference_of_gaussians,
    normalise_crop,
    pseudo_nir,
    tan_triggs,
    to_grey,
)


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return to_grey(skdata.astronaut()[:200, 150:350].copy())


def test_tan_triggs_output_is_bounded_and_centred(grey: np.ndarray) -> None:
    out = tan_triggs(grey)
    assert out.shape == grey.shape and out.dtype == np.float64
    assert np.abs(out).max() < 10.0 + 1e-9  # tau * tanh(.)
    assert abs(out.mean()) < 0.5 * out.std()  # band-pass: no DC left
    assert out.std() > 0.5


def test_tan_triggs_ignores_a_global_illumination_gain(grey: np.ndarray) -> None:
    # gamma turns a gain k into k**0.2, DoG is linear, contrast equalisation removes scale
    assert np.allclose(tan_triggs(grey), tan_triggs(0.4 * grey), atol=1e-6)


def test_tan_triggs_parameters(grey: np.ndarray) -> None:
    assert np.abs(tan_triggs(grey, tau=3.0)).max() < 3.0 + 1e-9
    with pytest.raises(SpectralError):
        tan_triggs(grey, gamma=0.0)
    with pytest.raises(SpectralError):
        tan_triggs(grey, sigma0=2.0, sigma1=1.0)


def test_flat_image_gives_zeros() -> None:
    assert not tan_triggs(np.full((20, 20), 90.0)).any()


def test_dog_removes_offsets_and_shading(grey: np.ndarray) -> None:
    assert np.allclose(difference_of_gaussians(grey), difference_of_gaussians(grey + 40.0))
    yy, xx = np.mgrid[0:64, 0:64]
    ramp = 2.0 * xx + yy  # linear shading: a DoG of it is zero away from the borders
    assert np.abs(difference_of_gaussians(ramp)[8:-8, 8:-8]).max() < 1e-6


def test_tan_triggs_removes_the_active_illuminator_falloff() -> None:
    vis = skdata.astronaut()[:200, 150:350].copy()
    lit = to_grey(pseudo_nir(vis, rng=0, noise=0.0, falloff=1.5))
    even = to_grey(pseudo_nir(vis, rng=0, noise=0.0, falloff=0.0))
    assert np.abs(lit - even).mean() > 15  # strong low-frequency shading difference

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert corr(tan_triggs(lit), tan_triggs(even)) > 0.97
    assert corr(tan_triggs(lit), tan_triggs(even)) > corr(lit, even)


@pytest.mark.parametrize("method", ["tan-triggs", "dog"])
def test_normalise_crop_gives_an_embedder_ready_image(method: str) -> None:
    crop = skdata.astronaut()[40:152, 190:302].copy()
    out = normalise_crop(crop, method)  # type: ignore[arg-type]
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 2])
    assert out.min() == 0 and out.max() == 255


def test_normalise_crop_bad_input() -> None:
    with pytest.raises(SpectralError, match="uint8"):
        normalise_crop(np.zeros((112, 112, 3), np.float32))
    with pytest.raises(SpectralError, match="method"):
        normalise_crop(np.zeros((112, 112, 3), np.uint8), "clahe")  # type: ignore[arg-type]
    with pytest.raises(SpectralError):
        tan_triggs(np.full((8, 8), np.nan))
    with pytest.raises(SpectralError):
        tan_triggs(np.zeros((8, 8, 3)))
