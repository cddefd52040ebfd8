"""The shipped heads and thresholds, converted to the shared formats, give the same numbers.

``data/heads_before_conversion.json`` holds what the PAD fusion, the quality
score, the AU expression head, the out-of-domain detectors and the recognition
thresholds gave on fixed inputs with the code before the conversion; the files
now shipped (``facescope-head/1``, ``facescope-thresholds/2``) must agree to
1e-9. A deliberate refit of a shipped head changes these figures: recompute
them with the refitted file, and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

BEFORE: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "heads_before_conversion.json").read_text()
)
TOLERANCE = 1e-9


def probe(n: int, d: int, k: int) -> npt.NDArray[np.float64]:
    """Fixed inputs in [-1.7, 1.7] (no random generator, so they never change)."""
    return np.sin(0.37 * np.arange(n * d).reshape(n, d) + 0.11 * k) * 1.7


def same(actual: npt.ArrayLike, expected: npt.ArrayLike) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=0, atol=TOLERANCE
    )


def test_pad_fusion() -> None:
    """The PAD model of the conversion (shipped until issue 21 refitted it on real prints)."""
    from facescope.pad.model import load_model
    from facescope.pad.presentation import check_crops

    frozen = Path(__file__).parents[1] / "data" / "pad_model_before_issue21.json"
    model, expected = load_model(frozen), BEFORE["pad"]
    features = {
        g: head.mean_ + head.scale_ * probe(5, head.n_features_in_, k)
        for k, (g, head) in enumerate(model.groups.items())
    }
    assert model.threshold == expected["threshold"]
    for group, p in model.group_proba(features).items():
        same(p, expected["group_proba"][group])
    same(model.fused_logits(features), expected["fused_logits"])
    same(model.predict_proba(features), expected["predict_proba"])
    same(model.live_probability(features), expected["live_probability"])
    assert model.patch is not None
    patch = model.patch.mean_ + model.patch.scale_ * probe(5, model.patch.n_features_in_, 9)
    same(model.patch.predict_proba(patch), expected["patch_proba"])

    yy, xx = np.mgrid[0:112, 0:112]
    crop = np.stack([(128 + 100 * np.sin(xx / 7.0 + c) * np.cos(yy / 11.0)) for c in range(3)], -1)
    result = check_crops([crop.clip(0, 255).astype(np.uint8)], model=model)
    check = expected["check_crops"]
    same(result.live_probability, check["live_probability"])
    same(list(result.attack_probabilities.values()), list(check["attack_probabilities"].values()))
    assert [e.cue for e in result.evidence] == [row[0] for row in check["evidence"]]
    same([[e.value, e.weight] for e in result.evidence], [row[1:] for row in check["evidence"]])
    assert result.heatmap is not None
    same(result.heatmap, check["heatmap"])
    assert (result.attack_type, result.is_live) == (check["attack_type"], check["is_live"])


def test_quality_score() -> None:
    from facescope.quality.assess import load_quality_model

    head = load_quality_model()
    rows = head.mean_ + head.scale_ * probe(6, 13, 0)
    same(head.predict_proba(rows)[:, 1], BEFORE["quality"]["predict"])


def test_au_expression_head() -> None:
    from facescope.analysis.expression.au_head import AUExpressionHead

    head = AUExpressionHead()
    x = head.mean_ + head.scale_ * probe(6, 17, 1)
    x[3] = np.nan
    same(head.predict_proba(x), BEFORE["au_head"]["predict_proba"])
    same(head.decision_function(x[[0, 1, 2, 4, 5]]), BEFORE["au_head"]["decision_function"])


@pytest.mark.parametrize("model", ["sface", "dlib"])
def test_out_of_domain_detector(model: str, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facescope.privacy import ood

    expected = BEFORE["ood"][model]
    # the files as converted (issue 19), frozen before issue 20 refitted the shipped ones
    # (the photometric correction changed the features they were fitted on)
    frozen = ood.OODStats.load(model, data / "ood_before_refit" / f"ood_{model}.npz")
    monkeypatch.setitem(ood._stats, model, frozen)
    stats = ood.load_stats(model)
    assert stats.thresholds == expected["thresholds"]
    vectors = probe(4, 128, 2)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    norms = np.array([12.0, 4.0, 8.0, 1.5])
    for method in ("auto", "linear", "mahalanobis", "norm"):
        scores = ood.face_embedding_scores(vectors, model, raw_norms=norms, method=method)
        same(scores, expected["scores"][method])
    values = ood.component_scores(
        vectors, model, ("linear", "mahalanobis", "norm"), raw_norms=norms
    )
    values["inversion"] = np.array([0.3, 0.5, 0.9, 0.1])  # no torch needed
    for key in ood.fusion_names():
        fusion = stats.fusions[key]
        stacked = np.stack([values[c] for c in fusion.feature_names_in_], axis=1)
        same(fusion.decision_function(stacked).astype(np.float32), expected["fused"][key])
    check = ood.is_face_embedding(vectors[0], model, raw_norm=12.0)
    assert [check.score, check.is_face, check.method, check.threshold] == expected["check"]


def test_recognition_thresholds(data: Path) -> None:
    from facescope.match.thresholds import load_calibration

    # the file as converted (issue 19), frozen before issue 20 recalibrated the shipped one
    calibration = load_calibration(data / "thresholds_before_recalibration.json")
    expected = BEFORE["match"]["document"]
    assert calibration.source == expected["source"]
    assert set(calibration.models) == set(expected["models"])
    for name, entry in expected["models"].items():
        model = calibration.for_model(name)
        assert {f"{k:g}": v for k, v in model.thresholds.items()} == entry["thresholds"]
        assert {f"{k:g}": v for k, v in model.fnmr.items()} == entry["fnmr"]
        assert model.eer == entry["eer"]
        assert (model.impostor_mean, model.impostor_std) == (
            entry["impostor_mean"],
            entry["impostor_std"],
        )
        assert (model.n_genuine, model.n_impostor) == (entry["n_genuine"], entry["n_impostor"])
        assert model.weights == entry.get("weights", {})
    fused = calibration.fuse({"sface": [0.1, 0.4, 0.6], "dlib": [0.85, 0.93, 0.97]})
    same(fused, BEFORE["match"]["fused"])
