"""PAD cues, the logistic fusion model, its storage (new and old formats) and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facescope.heads import LogisticHead
from facescope.pad.cues import CUES, PADError, check_crop, measure
from facescope.pad.model import (
    BONA_FIDE,
    PADModel,
    fit_head,
    load_model,
    threshold_at_bpcer,
)
from facescope.pad.train import fit_model


def _astronaut_crop() -> np.ndarray:
    return np.asarray(cv2.resize(skdata.astronaut()[20:220, 150:330], (112, 112)), np.uint8)


def test_every_cue_group_gives_finite_fixed_length_vectors() -> None:
    crop = _astronaut_crop()
    first = measure(crop)
    second = measure(np.ascontiguousarray(crop[:, ::-1]))
    assert set(first) == set(CUES)
    for group, values in first.items():
        assert values.vector.ndim == 1 and np.all(np.isfinite(values.vector)), group
        assert values.vector.shape == second[group].vector.shape
        assert all(np.isfinite(v) for v in values.stats.values())


def test_cues_respond_to_what_they_measure() -> None:
    crop = _astronaut_crop()
    grey = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    blurred = cv2.GaussianBlur(crop, (0, 0), 2.5)
    yy, xx = np.mgrid[0:112, 0:112]
    stripes = (crop.astype(float) + 40 * np.sin(2 * np.pi * (xx + yy) / 4.0)[..., None]).clip(
        0, 255
    )
    base = measure(crop)
    assert measure(grey)["colour"].stats["saturation"] < 0.02 < base["colour"].stats["saturation"]
    assert (
        measure(blurred)["sharpness"].stats["laplacian_variance"]
        < 0.2 * base["sharpness"].stats["laplacian_variance"]
    )
    assert (
        measure(stripes.astype(np.uint8))["frequency"].stats["periodic_peak"]
        > base["frequency"].stats["periodic_peak"] + 2
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        ("crop.png", "numpy array"),
        (np.zeros((112, 112, 3), np.float32), "uint8"),
        (np.zeros((64, 64, 3), np.uint8), "112x112x3"),
        (np.zeros((112, 112), np.uint8), "112x112x3"),
    ],
)
def test_bad_crops_are_refused_clearly(bad: object, message: str) -> None:
    with pytest.raises(PADError, match=message):
        check_crop(bad)


def test_unknown_cue_group_is_named() -> None:
    with pytest.raises(PADError, match="unknown PAD cue"):
        measure(_astronaut_crop(), ["chroma_texture", "ouija"])


def test_pad_head_matches_scikit_learn_and_round_trips() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "print", BONA_FIDE)
    y[x[:, 2] > 1.2] = "replay"
    model = fit_head(x, y.tolist(), classes=(BONA_FIDE, "print", "replay"))
    reference = LogisticRegression(C=0.3, max_iter=3000).fit((x - x.mean(0)) / x.std(0), y)
    order = [list(reference.classes_).index(c) for c in model.classes_]
    expected = reference.predict_proba((x - x.mean(0)) / x.std(0))[:, order]
    np.testing.assert_allclose(model.predict_proba(x), expected, atol=1e-6)
    again = LogisticHead.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))


def test_two_class_head_keeps_class_order() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = np.where(x[:, 0] > 0, "attack", BONA_FIDE)
    model = fit_head(x, y.tolist(), classes=(BONA_FIDE, "attack"))
    p = model.predict_proba(x)
    assert p.shape == (200, 2)
    assert p[x[:, 0] > 1, 1].mean() > 0.8 and p[x[:, 0] < -1, 0].mean() > 0.8


def _toy_model(tmp_path: Path) -> tuple[PADModel, dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(2)
    n = 240
    labels = np.array([BONA_FIDE, "print", "replay"] * (n // 3))
    shift = {BONA_FIDE: 0.0, "print": 1.5, "replay": -1.5}
    signal = np.array([shift[v] for v in labels])
    features = {
        "a": rng.normal(size=(n, 3)) + signal[:, None],
        "b": rng.normal(size=(n, 2)) + (labels == "replay")[:, None] * 2.0,
    }
    sources = np.arange(n) // 3
    model = fit_model(features, labels.tolist(), sources.tolist(), seed=0)
    return model, features, labels


def test_fusion_separates_classes_and_saves_atomically(tmp_path: Path) -> None:
    model, features, labels = _toy_model(tmp_path)
    assert model.classes == (BONA_FIDE, "print", "replay")
    p = model.predict_proba(features)
    accuracy = np.mean(np.array(model.classes)[p.argmax(1)] == labels)
    assert accuracy > 0.8
    path = model.save(tmp_path / "m.json")
    assert not (tmp_path / "m.json.partial").exists()
    again = load_model(path)
    np.testing.assert_allclose(again.live_probability(features), model.live_probability(features))


def test_models_of_the_first_format_still_load(tmp_path: Path) -> None:
    model, features, _ = _toy_model(tmp_path)

    def linear(head: LogisticHead) -> dict[str, object]:
        return {
            "classes": list(head.classes_),
            "mean": head.mean_.tolist(),
            "scale": head.scale_.tolist(),
            "coef": head.coef_.tolist(),
            "intercept": head.intercept_.tolist(),
        }

    old = {
        "format": "facescope-pad-1",
        "groups": {g: linear(h) for g, h in model.groups.items()},
        "fusion": linear(model.fusion),
        "patch": None,
        "threshold": 0.42,
        "meta": {"calibrated_on_real": True, "threshold_source": "BPCER 0.05 on 40 crops"},
    }
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_model(tmp_path / "old.json")
    assert loaded.threshold == 0.42 and loaded.meta["calibrated_on_real"] is True
    np.testing.assert_array_equal(
        loaded.live_probability(features), model.live_probability(features)
    )
    saved = json.loads(loaded.save(tmp_path / "new.json").read_text())
    assert saved["format"] == "facescope-pad/2"
    assert saved["fusion"]["format"] == "facescope-head/1"
    assert saved["thresholds"]["points"] == [{"bpcer": None, "threshold": 0.42}]


def test_calibrated_threshold_records_its_bpcer(tmp_path: Path) -> None:
    model, _, _ = _toy_model(tmp_path)
    calibrated = model.with_threshold(0.31, bpcer=0.05, calibrated_on_real=True)
    again = load_model(calibrated.save(tmp_path / "c.json"))
    assert again.thresholds.point(0.05).threshold == 0.31 == again.threshold


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(PADError, match="not found"):
        load_model(tmp_path / "missing.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(PADError, match="not a valid PAD model"):
        load_model(tmp_path / "text.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(PADError, match="not a facescope PAD model"):
        load_model(tmp_path / "other.json")
    model, _, _ = _toy_model(tmp_path)
    broken = model.to_dict()
    broken["fusion"]["coef"][0][0] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(broken))
    with pytest.raises(PADError, match=r"fusion.*NaN"):
        load_model(tmp_path / "nan.json")
    broken = model.to_dict()
    del broken["groups"]["a"]
    (tmp_path / "short.json").write_text(json.dumps(broken))
    with pytest.raises(PADError, match="fusion takes 6 inputs"):
        load_model(tmp_path / "short.json")


def test_threshold_at_bpcer_rejects_the_share_asked() -> None:
    scores = np.linspace(0.0, 1.0, 101)
    t = threshold_at_bpcer(scores, 0.05)
    assert np.mean(scores < t) == pytest.approx(0.05, abs=0.011)
    assert np.mean(scores < threshold_at_bpcer(scores, 0.0)) == 0.0
    with pytest.raises(PADError, match="none"):
        threshold_at_bpcer([], 0.05)
    with pytest.raises(PADError, match="NaN"):
        threshold_at_bpcer([0.2, float("nan")], 0.05)
    with pytest.raises(PADError, match="BPCER"):
        threshold_at_bpcer([0.2, 0.3], 1.5)


def test_with_threshold_checks_range(tmp_path: Path) -> None:
    model, _, _ = _toy_model(tmp_path)
    assert model.with_threshold(0.3, calibrated_on_real=True).meta["calibrated_on_real"] is True
    with pytest.raises(PADError, match=r"\[0, 1\]"):
        model.with_threshold(1.5)


def test_training_without_attacks_is_refused() -> None:
    features = {"a": np.zeros((4, 2))}
    with pytest.raises(PADError, match="attack"):
        fit_model(features, [BONA_FIDE] * 4, [0, 1, 2, 3])
