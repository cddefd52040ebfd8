"""Gated restoration: detectors, ``restore(method="auto")`` and the recogniser's hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

import facescope as fs
from facescope.errors import WeatherError
from facescope.restoration.auto import METHODS, plan, restore_image
from facescope.restoration.detectors import (
    DETECTED,
    Assessment,
    DegradationDetectors,
    load_detectors,
    shipped_detectors,
)
from facescope.restoration.measures import FEATURES, INPUTS, describe, measure
from facescope.weather import degrade


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    rgb = skdata.astronaut()
    return fs.align(rgb)[0]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    ea = fs.embed(a, assume_aligned=True).vectors[0]
    eb = fs.embed(b, assume_aligned=True).vectors[0]
    return float(ea @ eb)


def test_shipped_detectors_cover_every_kind_and_are_provenanced() -> None:
    detectors = shipped_detectors()
    assert set(detectors.heads) == set(DETECTED) == set(detectors.thresholds)
    assert detectors.meta["script"].startswith("python scripts/fit_weather_detectors.py")
    metrics = detectors.meta["metrics"]
    for kind in DETECTED:  # thresholds hold false alarms on clean faces of held-out people
        assert metrics[kind]["clean_false_alarm"] <= 0.02
        assert 0.5 <= detectors.thresholds[kind] < 1.0


def test_measure_is_finite_for_odd_inputs(crop: np.ndarray) -> None:
    for image in (crop, crop[:, :, 0], np.zeros((8, 8, 3), np.uint8), skdata.astronaut()):
        values = measure(image)
        assert values.shape == (len(FEATURES),) and np.all(np.isfinite(values))


def test_clean_face_passes_through_untouched(crop: np.ndarray) -> None:
    done = restore_image(crop, "auto")
    assert done.assessment is not None and done.assessment.clean, done.assessment.to_dict()
    assert done.applied == () and done.image is crop
    assert fs.restore(crop) is crop


@pytest.mark.parametrize(
    ("kind", "remedy"), [("haze", "dehaze"), ("noise", "denoise"), ("rain", "learned")]
)
def test_auto_restores_what_it_detects(crop: np.ndarray, kind: str, remedy: str) -> None:
    from facescope.restoration.auto import LEARNED_FOR, learned_ready

    if kind in LEARNED_FOR:
        if not learned_ready():
            pytest.skip("the learned restorer needs torch (the torch extra)")
        remedy = "learned"
    degraded = degrade(crop, kind, 4, seed=1)
    done = restore_image(degraded, "auto")
    assert done.assessment is not None and kind in done.assessment.present
    assert remedy in done.applied
    error_before = np.mean((degraded.astype(float) - crop) ** 2)
    error_after = np.mean((done.image.astype(float) - crop) ** 2)
    assert error_after < error_before
    assert _cos(done.image, crop) > _cos(degraded, crop)  # closer to the clean identity


def test_dark_faces_go_to_the_learned_restorer_or_are_left_alone(crop: np.ndarray) -> None:
    from facescope.restoration.auto import learned_ready

    dark = degrade(crop, "low_light", 4, seed=2)
    done = restore_image(dark, "auto")
    assert done.assessment is not None and "low_light" in done.assessment.present
    if learned_ready():  # torch and the shipped weights: the learned method, nothing classical
        assert done.applied == ("learned",)
        assert _cos(done.image, crop) > _cos(dark, crop)
    else:  # nothing classical raised recognition on dark faces
        assert done.applied == () and done.image is dark
    denoised = fs.restore(dark, "denoise")  # asked for by name: denoised, not brightened
    assert abs(float(denoised.mean()) - float(dark.mean())) < 1.5


def test_photos_are_judged_on_their_face(data: Path) -> None:
    from facescope.io import load_image

    photo = load_image(data / "obama_1.jpg")  # a white shirt and bright background
    done = restore_image(photo, "auto")
    assert done.applied == () and done.image is photo
    hazy = degrade(photo, "haze", 3, seed=5)
    assert restore_image(hazy, "auto").applied == ("dehaze",)


def test_named_methods_and_grey_images(crop: np.ndarray) -> None:
    grey = crop[:, :, 1].copy()
    for method in METHODS:
        out = fs.restore(grey, method)
        assert out.shape == grey.shape and out.dtype == np.uint8
    assert fs.restore(crop, "none") is crop
    assert restore_image(crop, "dehaze").applied == ("dehaze",)


def test_bad_inputs_are_refused(crop: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(WeatherError, match="unknown restoration method"):
        fs.restore(crop, "sharpen")
    with pytest.raises(WeatherError, match="at least 8x8"):
        fs.restore(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(WeatherError, match="uint8"):
        fs.restore(crop.astype(np.float32))  # type: ignore[arg-type]
    with pytest.raises(WeatherError, match="numpy array"):
        fs.restore("crop.png")  # type: ignore[arg-type]
    bad = tmp_path / "detectors.json"
    bad.write_text(json.dumps({"format": "facescope-weather-detectors/1", "features": ["x"]}))
    with pytest.raises(WeatherError, match="other inputs"):
        load_detectors(bad)
    bad.write_text("{not json")
    with pytest.raises(WeatherError, match="not JSON"):
        load_detectors(bad)


def test_plan_orders_the_remedies() -> None:
    from facescope.restoration.auto import learned_ready

    probs = dict.fromkeys(DETECTED, 0.0) | {"noise": 0.9, "haze": 0.9, "rain": 0.99}
    found = Assessment(probs, dict.fromkeys(DETECTED, 0.5))
    if learned_ready():  # rain and noise go to the learned restorer, haze to dehazing
        assert plan(found) == ("dehaze", "learned")
    else:  # rain has no classical remedy
        assert plan(found) == ("dehaze", "denoise")
    assert json.loads(json.dumps(found.to_dict()))["present"][0] == "rain"


def test_detectors_round_trip(tmp_path: Path) -> None:
    detectors = shipped_detectors()
    path = detectors.save(tmp_path / "d.json")
    again = load_detectors(path)
    x = np.linspace(0, 1, len(detectors.features))
    for kind, p in detectors.probabilities(x).items():
        np.testing.assert_allclose(again.probabilities(x)[kind], p)
    assert isinstance(again, DegradationDetectors)
    with pytest.raises(WeatherError, match="need 209 values"):
        detectors.probabilities(x[:17])


def test_detectors_over_the_measurements_alone_still_load(tmp_path: Path, crop: np.ndarray) -> None:
    """A version-1 file (no stem statistics) loads and assesses without the stem."""
    from facescope.heads import LogisticHead

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, len(FEATURES)))
    y = ["present" if v > 0 else "absent" for v in x[:, 0]]
    heads = {k: LogisticHead(class_names=("absent", "present"), feature_names=FEATURES).fit(x, y)
             for k in DETECTED}  # fmt: skip
    old = DegradationDetectors(heads, dict.fromkeys(DETECTED, 0.9), {}, FEATURES)
    document = old.to_dict() | {"format": "facescope-weather-detectors/1"}
    (tmp_path / "v1.json").write_text(json.dumps(document))
    again = load_detectors(tmp_path / "v1.json")
    assert not again.uses_stem and again.features == FEATURES
    assert set(again.assess(crop).probabilities) == set(DETECTED)


def test_stem_statistics_find_rain_the_measurements_missed(crop: np.ndarray) -> None:
    """Rain's head reads the stem (chosen on held-out people); it fires on rain, not clean."""
    detectors = shipped_detectors()
    assert detectors.uses_stem and detectors.features == INPUTS
    assert detectors.meta["metrics"]["rain"]["inputs"] == "measures+stem"
    assert describe(crop).shape == (len(INPUTS),)
    assert "rain" not in detectors.assess(crop).present
    found = [("rain" in detectors.assess(degrade(crop, "rain", 4, seed=s)).present)
             for s in range(4)]  # fmt: skip
    assert sum(found) >= 3, found


def test_recogniser_hook_keeps_clean_faces_and_needs_a_crop_model() -> None:
    photo = skdata.astronaut()
    plain = fs.embed(photo)
    gated = fs.embed(photo, restore="auto")
    np.testing.assert_array_equal(plain.vectors, gated.vectors)  # clean: the same crop
    hazy = degrade(photo, "haze", 4, seed=3)
    restored = fs.embed(hazy, restore="auto").vectors[0]
    assert float(restored @ plain.vectors[0]) > float(fs.embed(hazy).vectors[0] @ plain.vectors[0])
    with pytest.raises(WeatherError, match="sface"):
        fs.embed(photo, model="dlib", restore="auto")
    with pytest.raises(WeatherError, match="unknown restoration method"):
        fs.embed(photo, restore="magic")
    result = fs.verify(hazy, photo, restore="auto")
    assert result.same_person
