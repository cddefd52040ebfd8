"""The learned blur-kernel estimator and its use by restore="auto" (torch extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import facescope as fs
from facescope.errors import ModelFileError, WeatherError
from facescope.restoration import auto, blur_kernel
from facescope.restoration.blur_kernel import (
    build_network,
    estimate_blur,
    estimator_available,
    load_estimator,
    save_estimator,
    spectrum,
    targets,
)
from facescope.restoration.classical import deblur, estimate_motion_kernel
from facescope.restoration.detectors import Assessment
from facescope.weather.synth import motion_blur_along


@pytest.fixture(scope="module")
def crops(data: Path) -> np.ndarray:
    return np.stack([fs.align(data / f"{n}.jpg")[0] for n in ("obama_1", "biden_1")])


def _angle_error(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def test_blur_along_a_known_kernel_matches_the_cepstrum_convention() -> None:
    noise = (np.random.default_rng(0).random((112, 112, 3)) * 255).astype(np.uint8)
    for angle in (0.0, 30.0, 135.0):
        found = estimate_motion_kernel(motion_blur_along(noise, 14.0, angle))
        assert abs(found.length - 14.0) < 0.5 and _angle_error(found.angle, angle) < 2.0
    np.testing.assert_array_equal(motion_blur_along(noise, 0.0, 10.0), noise)
    with pytest.raises(WeatherError, match="length"):
        motion_blur_along(noise, float("nan"), 0.0)
    with pytest.raises(WeatherError, match="finite"):
        motion_blur_along(noise, 5.0, float("inf"))


def test_spectrum_and_targets() -> None:
    grey = np.full((112, 112), 128, np.uint8)
    assert spectrum(grey).shape == (112, 112) and np.isfinite(spectrum(grey)).all()
    for bad in (np.zeros((64, 64, 3), np.uint8), np.zeros((112, 112, 3), np.float32),
                np.zeros((112, 112, 4), np.uint8)):  # fmt: skip
        with pytest.raises(WeatherError):
            spectrum(bad)
    # a direction and its opposite are the same blur
    np.testing.assert_allclose(targets(8.0, 10.0), targets(8.0, 190.0), atol=1e-6)
    assert targets(8.0, 0.0)[0] == pytest.approx(0.5)


def test_shipped_estimator_finds_short_blurs_the_cepstrum_misses(crops: np.ndarray) -> None:
    if not estimator_available():
        pytest.skip("no shipped blur-kernel estimator in this install")
    _, meta = load_estimator()
    assert meta["script"].startswith("python scripts/fit_blur_kernel.py")
    sharp = estimate_blur(crops)
    assert all(k.length < 4.0 for k in sharp)
    for crop in crops:
        for length, angle in ((5.0, 20.0), (7.0, 100.0), (12.0, 160.0)):
            blurred = motion_blur_along(crop, length, angle)
            (found,) = estimate_blur(blurred)
            assert abs(found.length - length) < 1.5, (length, angle, found)
            assert _angle_error(found.angle, angle) < 10.0, (length, angle, found)
    for bad in ("a photo", np.zeros((0, 112, 112, 3), np.uint8), np.zeros((64, 64, 3), np.uint8),
                np.full((112, 112, 3), np.nan)):  # fmt: skip
        with pytest.raises(WeatherError):
            estimate_blur(bad)
    flat = estimate_blur(np.full((112, 112, 3), 90, np.uint8))[0]
    assert flat.length == 0.0 and flat.confidence == 0.0
    # one call takes a batch; grey crops too
    batch = estimate_blur(np.stack([motion_blur_along(c, 7.0, 45.0) for c in crops]))
    assert len(batch) == 2
    grey = np.asarray(motion_blur_along(crops[0], 7.0, 45.0).mean(axis=2), np.uint8)
    assert abs(estimate_blur(grey)[0].length - 7.0) < 1.5


def test_weights_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = build_network()
    path = save_estimator(net, tmp_path / "k.npz", {"script": "test"})
    again, meta = load_estimator(path)
    assert meta["script"] == "test" and sum(p.numel() for p in again.parameters()) > 1e5
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(ModelFileError):
        load_estimator(tmp_path / "foreign.npz")
    if estimator_available():
        monkeypatch.setattr(blur_kernel, "SHIPPED_SHA256", "0" * 64)
        with pytest.raises(ModelFileError, match="pinned SHA-256"):
            load_estimator()  # as if the shipped file had been altered


def test_auto_deblurs_a_moderate_blur_with_the_learned_kernel(crops: np.ndarray) -> None:
    if not estimator_available():
        pytest.skip("no shipped blur-kernel estimator in this install")
    blurred = motion_blur_along(crops[0], 7.0, 60.0)
    found = Assessment({"motion_blur": 0.9}, {"motion_blur": 0.5}, {"motion_length": 0.02})
    # the cepstrum's length (2% of the side) gates deblurring off; the learned one does not
    assert auto.plan(found) == ()
    (kernel,) = estimate_blur(blurred)
    assert auto.plan(found, blur_length=kernel.length / 112) == ("deblur",)
    assert auto.plan(found, blur_length=2.0 / 112) == ()
    done = auto.restore_image(blurred, "auto")
    if "motion_blur" in done.assessment.present:  # type: ignore[union-attr]
        assert "deblur" in done.applied
    # deblurring with the learned kernel brings faces back towards their sharp selves
    before, after = [], []
    for crop in crops:
        clean = fs.embed(crop, assume_aligned=True).vectors[0]
        for length, angle in ((6.0, 0.0), (8.0, 120.0), (10.0, 60.0)):
            blurred = motion_blur_along(crop, length, angle)
            (kernel,) = estimate_blur(blurred)
            fixed = deblur(blurred, kernel=kernel)
            before.append(fs.embed(blurred, assume_aligned=True).vectors[0] @ clean)
            after.append(fs.embed(fixed, assume_aligned=True).vectors[0] @ clean)
    assert np.mean(after) > np.mean(before) + 0.05
    # FACESCOPE_BLUR_KERNEL=off: no learned kernel; the cepstrum decides again
    assert auto._learned_kernel(motion_blur_along(crops[0], 7.0, 60.0), found) is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(blur_kernel.BLUR_KERNEL_ENV, "off")
        assert not estimator_available()
        assert auto._learned_kernel(motion_blur_along(crops[0], 7.0, 60.0), found) is None
    # a clean crop is not touched
    assert auto.restore_image(crops[1], "auto").applied == ()
