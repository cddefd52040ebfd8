"""Classical restoration: each method undoes its own synthetic degradation."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import skimage.data

from facescope.errors import WeatherError
from facescope.restoration.classical import (
    MotionKernel,
    deblur,
    dehaze,
    denoise,
    estimate_motion_kernel,
    estimate_noise_sigma,
    estimate_transmission,
    motion_kernel,
)
from facescope.weather.synth import motion_blur_along

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def astronaut() -> Image:
    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def crop(astronaut: Image) -> Image:
    from facescope.align.template import warp_to_template
    from facescope.detect.faces import detect_faces

    return warp_to_template(astronaut, detect_faces(astronaut).landmarks5[0])


def _mse(a: Image, b: Image) -> float:
    return float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())


def _linear(image: Image) -> npt.NDArray[np.float64]:
    x = image / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _srgb(linear: npt.NDArray[np.float64]) -> Image:
    x = np.clip(linear, 0, 1)
    x = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.rint(x * 255).astype(np.uint8)


def _haze(image: Image, t: float, airlight: float = 0.9) -> Image:
    """I = J t + A (1 - t) in linear light, flat depth."""
    return _srgb(_linear(image) * t + airlight * (1 - t))


def _blur(image: Image, length: float, angle: float) -> Image:
    """Camera motion blur, averaged in linear light as a sensor does."""
    return motion_blur_along(image, length, angle)


def _noise(image: Image, sigma: float, seed: int = 0) -> Image:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def _contrast(image: Image) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).std())


# ------------------------------------------------------------------ haze


@pytest.mark.parametrize("t", [0.4, 0.6, 0.8])
def test_transmission_near_truth_on_flat_haze(astronaut: Image, t: float) -> None:
    assert estimate_transmission(_haze(astronaut, t)) == pytest.approx(t, abs=0.15)


@pytest.mark.parametrize("t", [0.25, 0.4, 0.6])
def test_transmission_near_truth_on_crop(crop: Image, t: float) -> None:
    assert estimate_transmission(_haze(crop, t)) == pytest.approx(t, abs=0.15)


def test_transmission_ranks_hazier_lower(astronaut: Image, crop: Image) -> None:
    for image in (astronaut, crop):
        values = [estimate_transmission(_haze(image, t)) for t in (1.0, 0.8, 0.6, 0.4, 0.25)]
        assert values == sorted(values, reverse=True)
        assert all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize("t", [0.4, 0.7])
def test_dehaze_moves_towards_clean(crop: Image, t: float) -> None:
    hazy = _haze(crop, t)
    restored = dehaze(hazy)
    assert restored.shape == crop.shape and restored.dtype == np.uint8
    assert _mse(restored, crop) < 0.3 * _mse(hazy, crop)
    assert _contrast(restored) > 1.3 * _contrast(hazy)


# ------------------------------------------------------------------ blur


def test_motion_kernel_is_normalised_and_sub_pixel() -> None:
    box = motion_kernel(7, 0)
    assert box.sum() == pytest.approx(1.0)
    row = box[box.shape[0] // 2]
    assert np.count_nonzero(row > 0.1) == 7 and box.sum() - row.sum() < 1e-9
    diagonal = motion_kernel(10.5, 37.0)
    assert diagonal.sum() == pytest.approx(1.0) and np.all(diagonal >= 0)
    assert not np.allclose(motion_kernel(10.0, 37.0, size=15), motion_kernel(10.5, 37.0, size=15))
    assert motion_kernel(0, 0).max() == pytest.approx(1.0)
    assert motion_kernel(5, 20, size=21).shape == (21, 21)


@pytest.mark.parametrize("length", [7, 11, 15])
@pytest.mark.parametrize("angle", [0, 30, 100, 135])
def test_motion_kernel_estimated_on_whole_image(astronaut: Image, length: int, angle: int) -> None:
    found = estimate_motion_kernel(_blur(astronaut, length, angle))
    assert found.length == pytest.approx(length, abs=2)
    assert abs((found.angle - angle + 90) % 180 - 90) <= 10
    assert found.confidence >= 0.5


@pytest.mark.parametrize(("length", "angle"), [(7, 0), (9, 45), (11, 100), (15, 150)])
def test_motion_kernel_estimated_on_crop(crop: Image, length: int, angle: int) -> None:
    found = estimate_motion_kernel(_blur(crop, length, angle))
    assert found.length == pytest.approx(length, abs=2.5)
    assert abs((found.angle - angle + 90) % 180 - 90) <= 15


def test_clean_image_has_low_blur_confidence(astronaut: Image, crop: Image) -> None:
    assert estimate_motion_kernel(astronaut).confidence < 0.2
    assert estimate_motion_kernel(crop).confidence < 0.2


@pytest.mark.parametrize(("length", "angle"), [(7, 30), (11, 0), (15, 120)])
def test_deblur_with_true_kernel_lowers_error(crop: Image, length: int, angle: int) -> None:
    blurred = _blur(crop, length, angle)
    restored = deblur(blurred, kernel=MotionKernel(length, angle, 1.0))
    assert _mse(restored, crop) < 0.7 * _mse(blurred, crop)
    array_kernel = deblur(blurred, kernel=motion_kernel(length, angle), iterations=5)
    assert _mse(array_kernel, crop) < _mse(blurred, crop)


def test_deblur_default_iterations_serve_recognition(crop: Image) -> None:
    # pixel error is lowest near 30 iterations, SFace's cosine to the sharp face keeps
    # rising to about 10 per px of blur: the default is chosen for recognition
    import facescope as fs

    sharp = fs.embed(crop, assume_aligned=True).vectors[0]
    for length in (5, 9, 13):
        blurred = _blur(crop, length, 45)
        kernel = MotionKernel(length, 45, 1.0)
        few = fs.embed(deblur(blurred, kernel=kernel, iterations=15), assume_aligned=True)
        default = fs.embed(deblur(blurred, kernel=kernel), assume_aligned=True)
        assert default.vectors[0] @ sharp > few.vectors[0] @ sharp + 0.01


def test_richardson_lucy_steps_snapshots_one_run(crop: Image) -> None:
    from facescope.restoration.classical import _richardson_lucy, richardson_lucy_steps

    unit = crop.astype(np.float64) / 255.0
    psf = motion_kernel(7, 30)
    five, twenty = richardson_lucy_steps(unit, psf, (5, 20))
    np.testing.assert_array_equal(twenty, _richardson_lucy(unit, psf, 20))
    assert not np.array_equal(five, twenty)
    for bad in ((), (0,), (3.5,)):
        with pytest.raises(WeatherError, match="iteration counts"):
            richardson_lucy_steps(unit, psf, bad)  # type: ignore[arg-type]


def test_deblur_with_estimated_kernel(crop: Image) -> None:
    blurred = _blur(crop, 9, 0)
    assert _mse(deblur(blurred), crop) < 0.7 * _mse(blurred, crop)


def test_deblur_leaves_clean_image_alone(crop: Image) -> None:
    np.testing.assert_array_equal(deblur(crop), crop)


# ------------------------------------------------------------------ noise


@pytest.mark.parametrize("sigma", [5, 10, 15, 25])
def test_noise_sigma_within_30_percent(astronaut: Image, crop: Image, sigma: float) -> None:
    for image in (astronaut, crop):
        assert estimate_noise_sigma(_noise(image, sigma)) == pytest.approx(sigma, rel=0.3)


def test_noise_sigma_small_on_clean(astronaut: Image, crop: Image) -> None:
    assert estimate_noise_sigma(astronaut) < 3
    assert estimate_noise_sigma(crop) < 3


@pytest.mark.parametrize("sigma", [10, 15, 25])
def test_denoise_lowers_error_and_keeps_brightness(crop: Image, sigma: float) -> None:
    noisy = _noise(crop, sigma)
    for restored in (denoise(noisy), denoise(noisy, sigma=sigma)):
        assert _mse(restored, crop) < 0.8 * _mse(noisy, crop)
        assert abs(float(restored.mean()) - float(noisy.mean())) <= 1.0
        assert np.all(np.abs(restored.mean(axis=(0, 1)) - noisy.mean(axis=(0, 1))) <= 1.0)


def test_denoise_zero_sigma_is_identity(crop: Image) -> None:
    np.testing.assert_array_equal(denoise(crop, sigma=0), crop)


# ------------------------------------------------------------------ shapes and bad input


def _all(image: Image) -> list[Image]:
    return [
        dehaze(image),
        deblur(image),
        deblur(image, kernel=MotionKernel(5, 30, 1.0)),
        denoise(image),
        denoise(image, sigma=10),
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda a, c: c,
        lambda a, c: cv2.cvtColor(c, cv2.COLOR_RGB2GRAY),
        lambda a, c: c[:8, :8].copy(),
        lambda a, c: cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)[:8, :9].copy(),
        lambda a, c: np.zeros((16, 16, 3), np.uint8),
        lambda a, c: np.full((12, 10), 255, np.uint8),
        lambda a, c: a[::-1, :, :],
    ],
    ids=["crop", "grey", "rgb8", "grey8x9", "black", "white", "non-contiguous"],
)
def test_outputs_keep_shape_and_dtype(astronaut: Image, crop: Image, make: object) -> None:
    image = make(astronaut, crop)  # type: ignore[operator]
    for out in _all(image):
        assert out.shape == image.shape and out.dtype == np.uint8
    for value in (
        estimate_transmission(image),
        estimate_noise_sigma(image),
        *estimate_motion_kernel(image).__dict__.values(),
    ):
        assert np.isfinite(value)
    assert 0 <= estimate_transmission(image) <= 1


def test_deterministic(crop: Image) -> None:
    noisy = _noise(_blur(_haze(crop, 0.6), 9, 30), 8)
    for fn in (dehaze, deblur, denoise):
        np.testing.assert_array_equal(fn(noisy), fn(noisy))
    assert estimate_motion_kernel(noisy) == estimate_motion_kernel(noisy)


@pytest.mark.parametrize(
    "bad",
    [
        [[1, 2], [3, 4]],
        np.zeros((16, 16, 3), np.float32),
        np.zeros((16, 16, 4), np.uint8),
        np.zeros((16, 16, 3, 1), np.uint8),
        np.zeros(64, np.uint8),
        np.zeros((7, 16, 3), np.uint8),
        np.zeros((16, 7), np.uint8),
    ],
)
def test_bad_images_raise(bad: object) -> None:
    for fn in (
        dehaze,
        deblur,
        denoise,
        estimate_transmission,
        estimate_motion_kernel,
        estimate_noise_sigma,
    ):
        with pytest.raises(WeatherError):
            fn(bad)  # type: ignore[operator]


def test_bad_parameters_raise(crop: Image) -> None:
    calls = [
        lambda: dehaze(crop, omega=0),
        lambda: dehaze(crop, t_min=1.5),
        lambda: dehaze(crop, patch=0),
        lambda: dehaze(crop, eps=-1),
        lambda: deblur(crop, iterations=0),
        lambda: deblur(crop, kernel=np.zeros((3, 3))),
        lambda: deblur(crop, kernel=np.full((3, 3), np.nan)),
        lambda: denoise(crop, sigma=-1),
        lambda: motion_kernel(-1, 0),
        lambda: motion_kernel(5, float("nan")),
        lambda: motion_kernel(5, 0, size=4),
    ]
    for call in calls:
        with pytest.raises(WeatherError):
            call()
