"""Weather and capture degradations synthesised on clean photos (facescope.weather.synth)."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data as skdata

import facescope.weather as weather
from facescope.errors import FacescopeError, WeatherError
from facescope.weather.synth import (
    KINDS,
    ORDER,
    SEVERITIES,
    Degradation,
    degrade,
    degrade_with_info,
)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """The astronaut's face aligned to the 112x112 template (public-domain skimage image)."""
    from facescope.align.template import warp_to_template
    from facescope.detect.faces import detect_faces

    rgb = skdata.astronaut()
    return warp_to_template(rgb, detect_faces(rgb).landmarks5[0])


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A whole 640x480 photo."""
    return cv2.resize(skdata.astronaut(), (640, 480), interpolation=cv2.INTER_AREA)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image.astype(np.float64)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _info(image: np.ndarray, kind: str, severity: int, seed: int = 0) -> dict[str, float]:
    return degrade_with_info(image, kind, severity, seed=seed)[1][0].params


def _strictly_increasing(values: list[float]) -> bool:
    return all(b > a for a, b in itertools.pairwise(values))


def _strictly_decreasing(values: list[float]) -> bool:
    return _strictly_increasing([-v for v in values])


# ----------------------------------------------------------------------------- contract


def test_exports() -> None:
    assert weather.degrade is degrade
    assert weather.degrade_with_info is degrade_with_info
    assert weather.KINDS == KINDS
    assert weather.ORDER == ORDER
    assert weather.SEVERITIES == SEVERITIES == (1, 2, 3, 4, 5)
    assert sorted(ORDER) == sorted(KINDS)
    assert weather.Degradation is Degradation
    with pytest.raises(AttributeError):
        _ = weather.nope


@pytest.mark.parametrize("kind", KINDS)
def test_shape_dtype_kept_for_rgb_grey_and_tiny(crop: np.ndarray, kind: str) -> None:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    tiny = np.ascontiguousarray(crop[50:58, 50:58])
    images = [crop, grey, tiny, np.ascontiguousarray(grey[50:58, 50:58]), crop[::2, ::2]]
    for image in images:
        before = image.copy()
        for severity in (1, 5):
            out = degrade(image, kind, severity, seed=3)
            assert out.shape == image.shape
            assert out.dtype == np.uint8
            assert out.flags.c_contiguous
        np.testing.assert_array_equal(image, before)  # the input is not modified


def test_all_kinds_combined_on_tiny_inputs() -> None:
    rng = np.random.default_rng(1)
    for shape in ((8, 8), (8, 8, 3), (9, 31, 3), (31, 9)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        out, applied = degrade_with_info(image, list(KINDS), 5, seed=2)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert [d.kind for d in applied] == list(ORDER)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_given_the_seed(crop: np.ndarray, kind: str) -> None:
    a = degrade(crop, kind, 3, seed=7)
    assert a.tobytes() == degrade(crop, kind, 3, seed=7).tobytes()
    assert not np.array_equal(a, crop)
    if kind != "jpeg":  # the codec has nothing random
        assert not np.array_equal(a, degrade(crop, kind, 3, seed=8))


def test_combination_order_is_fixed(crop: np.ndarray) -> None:
    a, info_a = degrade_with_info(crop, ["jpeg", "haze"], 3, seed=5)
    b, info_b = degrade_with_info(crop, ("haze", "jpeg"), 3, seed=5)
    np.testing.assert_array_equal(a, b)
    assert [d.kind for d in info_a] == [d.kind for d in info_b] == ["haze", "jpeg"]
    # haze then JPEG: the same as JPEG-compressing the hazy image
    np.testing.assert_array_equal(a, degrade(degrade(crop, "haze", 3, seed=5), "jpeg", 3))
    # a kind draws the same parameters alone or combined; listing it twice applies it once
    assert info_a[0] == degrade_with_info(crop, "haze", 3, seed=5)[1][0]
    c, info_c = degrade_with_info(crop, ["noise", "rain", "noise", "low_light"], 2, seed=5)
    assert [d.kind for d in info_c] == ["rain", "low_light", "noise"]
    np.testing.assert_array_equal(c, degrade(crop, ["low_light", "noise", "rain"], 2, seed=5))


def test_degradation_record(crop: np.ndarray) -> None:
    _, applied = degrade_with_info(crop, "motion_blur", 4, seed=0)
    (record,) = applied
    assert record.kind == "motion_blur" and record.severity == 4
    assert set(record.params) >= {"length_px", "angle_deg", "curvature"}
    assert all(isinstance(v, float) for v in record.params.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.kind = "rain"  # type: ignore[misc]


# ----------------------------------------------------------------------------- physics


def test_haze_lowers_contrast_towards_the_airlight(crop: np.ndarray) -> None:
    stds, gaps, transmissions = [], [], []
    for s in SEVERITIES:
        out, (d,) = degrade_with_info(crop, "haze", s, seed=1)
        g = _grey(out)
        stds.append(float(g.std()))
        gaps.append(abs(float(g.mean()) - d.params["airlight"] * 255))
        transmissions.append(d.params["mean_transmission"])
        t = d.params["mean_transmission"]
        assert math.isclose(t, math.exp(-d.params["beta"] * d.params["mean_depth"]), rel_tol=0.1)
    assert _strictly_decreasing(stds)
    assert _strictly_decreasing(gaps)
    assert _strictly_decreasing(transmissions)
    assert transmissions[0] > 0.6 and transmissions[-1] < 0.3


def test_haze_follows_the_given_depth(crop: np.ndarray) -> None:
    h, w = crop.shape[:2]
    near = degrade(crop, "haze", 5, depth=np.zeros((h, w)))
    assert np.abs(near.astype(int) - crop).max() <= 1  # no air in between: t = 1
    _, (d,) = degrade_with_info(crop, "haze", 5, depth=np.ones((h, w), np.float32))
    assert d.params["mean_transmission"] < _info(crop, "haze", 5)["mean_transmission"]
    # a depth ramp: the far (right) side is hazier than the near (left) side
    ramp = np.tile(np.linspace(0.0, 1.0, w), (h, 1))
    g, o = _grey(degrade(crop, "haze", 4, depth=ramp)), _grey(crop)
    near_contrast = g[:, :28].std() / o[:, :28].std()
    far_contrast = g[:, -28:].std() / o[:, -28:].std()
    assert far_contrast < 0.6 * near_contrast


def test_low_light_is_darker_and_noisier(crop: np.ndarray) -> None:
    flat = np.full((64, 64, 3), 160, np.uint8)
    means, relative_noise, exposures = [], [], []
    for s in SEVERITIES:
        means.append(float(_grey(degrade(crop, "low_light", s, seed=2)).mean()))
        out, (d,) = degrade_with_info(flat, "low_light", s, seed=2)
        g = _grey(out)
        relative_noise.append(float(g.std() / g.mean()))
        exposures.append(d.params["exposure"])
    assert _strictly_decreasing(means)
    assert means[-1] < 0.25 * _grey(crop).mean()
    assert _strictly_increasing(relative_noise)
    assert relative_noise[-1] > 0.1
    assert exposures[0] == pytest.approx(0.35) and exposures[-1] == pytest.approx(0.03)


def test_motion_blur_removes_detail(crop: np.ndarray, photo: np.ndarray) -> None:
    for image in (crop, photo):
        sharpness = [float(cv2.Laplacian(_grey(image), cv2.CV_64F).var())]
        for s in SEVERITIES:
            out = degrade(image, "motion_blur", s, seed=4)
            sharpness.append(float(cv2.Laplacian(_grey(out), cv2.CV_64F).var()))
        assert _strictly_decreasing(sharpness)


def test_motion_blur_is_directional() -> None:
    """A single bright dot becomes a line along the reported angle."""
    dot = np.zeros((201, 201), np.uint8)
    dot[100, 100] = 255
    for seed in range(4):
        out, (d,) = degrade_with_info(dot, "motion_blur", 5, seed=seed)
        ys, xs = np.nonzero(out)
        length = math.hypot(float(np.ptp(xs)), float(np.ptp(ys)))
        assert abs(length - d.params["length_px"]) < 4.0
        theta = math.radians(d.params["angle_deg"])
        direction = np.array([math.sin(theta), math.cos(theta)])
        points = np.stack([xs - xs.mean(), ys - ys.mean()], 1)
        along = points @ direction
        across = points @ np.array([direction[1], -direction[0]])
        assert along.std() > 3 * across.std()


def test_noise_grows_with_severity(crop: np.ndarray) -> None:
    residual = []
    for s in SEVERITIES:
        out = degrade(crop, "noise", s, seed=5)
        residual.append(float((out.astype(np.float64) - crop).std()))
        # and against a denoised copy of itself (no clean reference needed)
        assert float((out - cv2.medianBlur(out, 3).astype(np.float64)).std()) > 0
    assert _strictly_increasing(residual)
    grey = np.full((128, 128), 128, np.uint8)
    for s in (1, 5):
        out, (d,) = degrade_with_info(grey, "noise", s, seed=5)
        assert float(out.std()) == pytest.approx(d.params["sigma"], rel=0.15)
    assert d.params["sigma"] == pytest.approx(25.0)


def _blockiness(image: np.ndarray) -> float:
    g = _grey(image)
    dx = np.abs(np.diff(g, axis=1))
    on = (np.arange(dx.shape[1]) % 8) == 7
    return float(dx[:, on].mean() / dx[:, ~on].mean())


def test_jpeg_fewer_bits_more_blocks(crop: np.ndarray) -> None:
    bits, blocks = [], []
    for s in SEVERITIES:
        out, (d,) = degrade_with_info(crop, "jpeg", s)
        bits.append(d.params["bits_per_pixel"])
        blocks.append(_blockiness(out))
    assert _strictly_decreasing(bits)
    assert _strictly_increasing(blocks)
    assert [_info(crop, "jpeg", s)["quality"] for s in (1, 5)] == [60.0, 8.0]


@pytest.mark.parametrize("kind", ["rain", "snow"])
def test_precipitation_covers_more_with_severity(crop: np.ndarray, kind: str) -> None:
    changed, coverage = [], []
    for s in SEVERITIES:
        out, (d,) = degrade_with_info(crop, kind, s, seed=6)
        changed.append(float((np.abs(out.astype(int) - crop).max(axis=2) > 10).mean()))
        coverage.append(d.params["coverage"])
    assert _strictly_increasing(changed)
    assert _strictly_increasing(coverage)
    assert 0.0 < coverage[0] < 0.1 and coverage[-1] < 0.4


def _streak_angle(image: np.ndarray) -> tuple[float, float]:
    """Dominant streak direction (degrees from vertical) and coherence, by structure tensor."""
    g = _grey(image)
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    phi = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))  # gradient angle from x
    coherence = math.hypot(jxx - jyy, 2 * jxy) / (jxx + jyy)
    return -phi, coherence


def test_rain_streaks_are_oriented_near_vertical(crop: np.ndarray) -> None:
    flat = np.full((160, 160, 3), 70, np.uint8)
    for seed in range(5):
        out, (d,) = degrade_with_info(flat, "rain", 4, seed=seed)
        angle, coherence = _streak_angle(out)
        assert abs(d.params["angle_deg"]) <= 25.0
        assert abs(angle) <= 27.0
        assert abs(angle - d.params["angle_deg"]) < 6.0
        assert coherence > 0.5  # gradients mostly across the streaks
    # on the face: what rain added is oriented the same way
    out, (d,) = degrade_with_info(crop, "rain", 4, seed=0)
    added = np.clip(out.astype(np.int16) - crop, 0, 255).astype(np.uint8)
    angle, _ = _streak_angle(added)
    assert abs(angle - d.params["angle_deg"]) < 10.0


def test_snow_occludes() -> None:
    """Where a flake is, the pixel is the flake's colour whatever was behind it."""
    black = np.zeros((160, 160, 3), np.uint8)
    white = np.full((160, 160, 3), 255, np.uint8)
    a, (d,) = degrade_with_info(black, "snow", 4, seed=9)
    b = degrade(white, "snow", 4, seed=9)
    hidden = np.abs(a.astype(int) - b).max(axis=2) <= 12
    assert hidden.mean() > 0.003
    assert a[hidden].min() > 200  # near-white flakes, also over black
    assert d.params["occluded"] > 0.0
    assert d.params["coverage"] > d.params["occluded"]


def test_scale_aware(crop: np.ndarray, photo: np.ndarray) -> None:
    """A 112 px crop and a 640x480 photo degrade alike at the same severity."""
    for kind, key in (
        ("rain", "coverage"),
        ("snow", "coverage"),
        ("haze", "mean_transmission"),
        ("motion_blur", "length_frac"),
    ):
        small, large = _info(crop, kind, 4, seed=1)[key], _info(photo, kind, 4, seed=1)[key]
        assert 0.65 < small / large < 1.5, (kind, small, large)
    ratio = _info(photo, "motion_blur", 4)["length_px"] / _info(crop, "motion_blur", 4)["length_px"]
    assert ratio == pytest.approx(480 / 112)


# ----------------------------------------------------------------------------- bad input


BAD: list[tuple[dict[str, Any], str]] = [
    ({"image": [[1, 2], [3, 4]]}, "numpy array"),
    ({"image": np.zeros((16, 16, 3), np.float32)}, "dtype uint8"),
    ({"image": np.zeros((16, 16, 4), np.uint8)}, "alpha"),
    ({"image": np.zeros((16, 16, 1), np.uint8)}, "squeeze"),
    ({"image": np.zeros((2, 16, 16, 3), np.uint8)}, "4 dimensions"),
    ({"image": np.zeros((16,), np.uint8)}, "1 dimensions"),
    ({"image": np.zeros((0, 16, 3), np.uint8)}, "empty"),
    ({"image": np.zeros((7, 16), np.uint8)}, "at least 8"),
    ({"kind": "fog"}, "'rain', 'snow', 'haze'"),
    ({"kind": ["haze", "hail"]}, "unknown degradation kind 'hail'"),
    ({"kind": []}, "empty"),
    ({"kind": 3}, "string or a sequence"),
    ({"kind": ["haze", None]}, "unknown degradation kind None"),
    ({"severity": 0}, "1..5"),
    ({"severity": 6}, "1..5"),
    ({"severity": 2.0}, "int"),
    ({"severity": True}, "int"),
    ({"severity": "3"}, "int"),
    ({"seed": -1}, "non-negative"),
    ({"seed": 1.5}, "non-negative int"),
    ({"depth": np.zeros((16, 15))}, "shape (16, 16)"),
    ({"depth": [[0.5] * 16] * 16}, "numpy array"),
    ({"depth": np.full((16, 16), np.nan)}, "NaN"),
    ({"depth": np.full((16, 16), 2.0)}, "[0, 1]"),
    ({"depth": np.zeros((16, 16), bool)}, "real numbers"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_input_raises_weather_error(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"image": np.zeros((16, 16, 3), np.uint8), "kind": "haze"}
    args.update(kwargs)
    image = args.pop("image")
    with pytest.raises(WeatherError, match=None) as excinfo:
        degrade(image, **args)
    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, FacescopeError)
    assert isinstance(excinfo.value, ValueError)


def test_numpy_integers_accepted(crop: np.ndarray) -> None:
    a = degrade(crop, "noise", np.int64(2), seed=np.uint8(4))
    np.testing.assert_array_equal(a, degrade(crop, "noise", 2, seed=4))
