"""The shared trained head (LogisticHead) and the thresholds format (Thresholds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facescope.errors import FacescopeError
from facescope.heads import (
    PROVENANCE_KEYS,
    HeadError,
    LogisticHead,
    NotFittedError,
    ThresholdPoint,
    Thresholds,
    ThresholdsError,
    provenance,
)


def blobs(seed: int = 0, n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated classes in 2-D (plus a noise column)."""
    rng = np.random.default_rng(seed)
    centres = {"cat": (0.0, 4.0), "dog": (4.0, 0.0), "fox": (-4.0, -4.0)}
    labels = np.repeat(list(centres), n // 3)
    x = np.array([centres[c] for c in labels]) + rng.normal(scale=0.5, size=(n, 2))
    return np.hstack([x, rng.normal(size=(n, 1))]), labels


# ---- fitting ------------------------------------------------------------------------


def test_binary_head_recovers_the_separating_side() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    x = x[np.abs(x[:, 1]) > 0.3][:200]  # a margin around the boundary
    y = np.where(x[:, 1] > 0, "live", "attack")
    head = LogisticHead(l2=0.1, class_names=("attack", "live")).fit(x, y)
    assert head.classes_ == ("attack", "live")
    assert head.coef_.shape == (1, 3) and head.intercept_.shape == (1,)
    assert head.coef_[0, 1] > 5 * max(abs(head.coef_[0, 0]), abs(head.coef_[0, 2]))
    assert head.score(x, y) == 1.0
    assert head.predict([[0.0, 3.0, 0.0], [0.0, -3.0, 0.0]]).tolist() == ["live", "attack"]
    assert head.decision_function(x).shape == (200,)
    p = head.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p[:, 1][x[:, 1] > 1] > 0.9).all() and (p[:, 1][x[:, 1] < -1] < 0.1).all()


def test_multinomial_probabilities_sum_to_one_and_follow_class_names() -> None:
    x, y = blobs()
    head = LogisticHead(class_names=("fox", "cat", "dog")).fit(x, y)
    assert head.classes_ == ("fox", "cat", "dog")
    assert head.coef_.shape == (3, 3) and head.intercept_.shape == (3,)
    p = head.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert head.score(x, y) == 1.0
    assert (np.array(head.classes_)[p.argmax(1)] == y).all()
    assert head.decision_function(x[0]).shape == (1, 3)  # one sample as (d,)
    assert abs(head.intercept_.sum()) < 1e-9  # softmax intercepts are centred


@pytest.mark.parametrize("classes", [2, 3])
def test_newton_reaches_the_minimum_scikit_learn_approaches(classes: int) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(classes)
    x = rng.normal(size=(300, 4)) * [1.0, 3.0, 0.2, 10.0] + 2.0
    y = rng.integers(0, classes, 300).astype(str)
    y[x[:, 0] > 2.5] = "0"
    weight = rng.uniform(0.2, 2.0, 300)
    head = LogisticHead(l2=2.0, class_weight="balanced").fit(x, y, weight)
    z = (x - x.mean(0)) / x.std(0)
    reference = LogisticRegression(C=0.5, class_weight="balanced", tol=1e-12, max_iter=10000)
    reference.fit(z, y, sample_weight=weight)
    np.testing.assert_allclose(head.coef_, reference.coef_, atol=1e-5)
    np.testing.assert_allclose(head.predict_proba(x), reference.predict_proba(z), rtol=0, atol=1e-6)
    again = LogisticHead(l2=2.0, class_weight="balanced", solver="lbfgs").fit(x, y, weight)
    default = LogisticRegression(C=0.5, class_weight="balanced").fit(z, y, sample_weight=weight)
    np.testing.assert_array_equal(again.coef_, default.coef_)  # lbfgs: scikit-learn's own fit


def test_coefficient_signs_are_held() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    y = np.where(x[:, 0] - 0.8 * x[:, 1] + 0.3 * rng.normal(size=400) > 0, "pass", "fail")
    free = LogisticHead().fit(x, y)
    assert free.coef_[0, 1] < 0
    held = LogisticHead(coef_sign=[1, 1]).fit(x, y)
    assert held.coef_[0, 1] == 0.0 and held.coef_[0, 0] > 0
    with pytest.raises(HeadError, match="two-class"):
        LogisticHead(coef_sign=[1, 1, 1]).fit(*blobs())


def test_zero_weight_rows_take_no_part() -> None:
    x, y = blobs(n=60)
    keep = np.arange(60) % 2 == 0
    weight = keep.astype(float)
    a = LogisticHead(standardize=False).fit(x, y, weight)
    b = LogisticHead(standardize=False).fit(x[keep], y[keep])
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "x", "y", "message"),
    [
        ({}, [[0.0], [np.nan]], ["a", "b"], "NaN"),
        ({}, [[0.0], [1.0]], ["a", "a"], "two classes"),
        ({"class_names": ("a", "b")}, [[0.0], [1.0]], ["a", "c"], "not in class_names"),
        ({"class_names": ("a", "b", "c")}, [[0.0], [1.0]], ["a", "b"], r"no sample of class"),
        ({"l2": 0.0}, [[0.0], [1.0]], ["a", "b"], "l2"),
        ({"feature_names": ["f", "g"]}, [[0.0], [1.0]], ["a", "b"], "feature_names"),
        ({"solver": "sag"}, [[0.0], [1.0]], ["a", "b"], "solver"),
        ({}, [[0.0], [1.0]], ["a"], "labels"),
        ({}, [0.0, 1.0], ["a", "b"], r"\(n_samples, n_features\)"),
    ],
)
def test_bad_training_data_is_refused_clearly(
    kwargs: dict[str, object], x: object, y: list[str], message: str
) -> None:
    with pytest.raises(HeadError, match=message) as info:
        LogisticHead(**kwargs).fit(x, y)  # type: ignore[arg-type]
    assert isinstance(info.value, FacescopeError) and isinstance(info.value, ValueError)


def test_bad_sample_weights_are_refused() -> None:
    x, y = blobs(n=30)
    with pytest.raises(HeadError, match="sample_weight"):
        LogisticHead().fit(x, y, np.ones(29))
    with pytest.raises(HeadError, match="sample_weight"):
        LogisticHead().fit(x, y, -np.ones(30))
    with pytest.raises(HeadError, match="sum to zero"):
        LogisticHead().fit(x, y, np.zeros(30))


# ---- not fitted, prediction errors --------------------------------------------------


def test_a_head_is_unusable_before_fit() -> None:
    head = LogisticHead(l2=3.0)
    assert not hasattr(head, "coef_")
    with pytest.raises(NotFittedError, match="not fitted"):
        head.coef_  # noqa: B018
    with pytest.raises(NotFittedError, match="not fitted"):
        head.predict_proba([[0.0]])
    with pytest.raises(NotFittedError):
        head.to_json()
    with pytest.raises(NotFittedError):
        head.set_provenance(script="x")
    with pytest.raises(AttributeError):
        head.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    assert repr(head) == "LogisticHead(l2=3.0)"


def test_prediction_input_of_the_wrong_width_is_named() -> None:
    head = LogisticHead(feature_names=["a", "b", "c"]).fit(*blobs())
    with pytest.raises(HeadError, match=r"takes \(n, 3\) features \(a, b, c"):
        head.predict_proba(np.zeros((2, 4)))


# ---- files --------------------------------------------------------------------------


def test_json_round_trip_keeps_every_number_and_name(tmp_path: Path) -> None:
    x, y = blobs()
    head = LogisticHead(l2=0.7, class_weight="balanced", feature_names=["u", "v", "w"]).fit(x, y)
    head.set_provenance(**provenance(script="python scripts/fit_toy.py", data="blobs", seed=0))
    document = json.loads(json.dumps(head.to_json()))
    assert document["format"] == "facescope-head/1"
    assert document["features"] == ["u", "v", "w"] and document["classes"] == ["cat", "dog", "fox"]
    assert document["params"]["l2"] == 0.7 and "feature_names" not in document["params"]
    assert set(PROVENANCE_KEYS) <= set(document["provenance"])
    again = LogisticHead.from_json(document)
    np.testing.assert_array_equal(again.predict_proba(x), head.predict_proba(x))
    assert again.get_params() == head.get_params() | {"class_names": ["cat", "dog", "fox"]}
    loaded = LogisticHead.load(head.save(tmp_path / "deep" / "head.json"))
    np.testing.assert_array_equal(loaded.coef_, head.coef_)
    assert loaded.provenance_["script"] == "python scripts/fit_toy.py"
    assert loaded.feature_names_in_ == ("u", "v", "w") and loaded.n_features_in_ == 3
    assert not (tmp_path / "deep" / "head.json.partial").exists()
    refit = LogisticHead(**{k: v for k, v in loaded.get_params().items()}).fit(x, y)
    np.testing.assert_allclose(refit.coef_, head.coef_)


def _document() -> dict[str, object]:
    return LogisticHead().fit(*blobs()).to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="facescope-head/2"), "newer facescope"),
        (lambda d: d.update(format="facescope-pad-1"), "not a facescope-head/1"),
        (lambda d: d.pop("coef"), "lacks 'coef'"),
        (lambda d: d.update(coef=[[1.0, 2.0]]), r"'coef' has shape \(1, 2\), expected \(3, 3\)"),
        (lambda d: d["mean"].__setitem__(0, float("nan")), "'mean' holds NaN"),
        (lambda d: d["scale"].__setitem__(1, 0.0), "'scale' must be positive"),
        (lambda d: d.update(classes=["cat", "cat", "dog"]), "distinct"),
        (lambda d: d.update(features="x0"), "list of names"),
        (lambda d: d["params"].update(C=1.0), r"unknown hyper-parameter\(s\) \['C'\]"),
        (lambda d: d.update(provenance=[1]), "provenance"),
        (lambda d: d.update(intercept="a"), "numbers"),
    ],
)
def test_bad_head_documents_give_clear_errors(change: object, message: str) -> None:
    document = json.loads(json.dumps(_document()))
    change(document)  # type: ignore[operator]
    with pytest.raises(HeadError, match=message):
        LogisticHead.from_json(document, "toy.json")


def test_unreadable_head_files(tmp_path: Path) -> None:
    with pytest.raises(HeadError, match="file not found"):
        LogisticHead.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HeadError, match="not JSON"):
        LogisticHead.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(HeadError, match="JSON object"):
        LogisticHead.load(tmp_path / "list.json")


# ---- thresholds ---------------------------------------------------------------------


@pytest.fixture()
def table() -> Thresholds:
    return Thresholds(
        "cosine similarity",
        "fmr",
        [
            ThresholdPoint(0.42, 1e-3, {"model": "sface"}, {"fnmr": 0.12}),
            ThresholdPoint(0.35, 1e-2, {"model": "sface"}, {"fnmr": 0.06}),
            ThresholdPoint(0.93, 1e-3, {"model": "dlib"}),
        ],
        by=["model"],
        extra={"note": [1, 2]},
        provenance=provenance(script="python scripts/fit_thresholds.py", data="toy"),
    )


def test_thresholds_lookup(table: Thresholds) -> None:
    assert table.threshold(1e-3, model="sface") == 0.42
    assert table.threshold(0.001 * (1 + 1e-9), model="dlib") == 0.93
    assert table.threshold(model="dlib") == 0.93  # the only one: no rate needed
    assert table.rates(model="sface") == [1e-3, 1e-2]
    assert table.point(1e-2, model="sface").measured == {"fnmr": 0.06}
    with pytest.raises(ThresholdsError, match=r"no threshold for model=dlib, fmr=0\.01; stored"):
        table.threshold(1e-2, model="dlib")
    with pytest.raises(ThresholdsError, match="2 thresholds"):
        table.threshold(model="sface")
    with pytest.raises(ThresholdsError, match=r"not by \['pair'\]"):
        table.threshold(1e-3, pair="vis-nir")
    assert table.accepts([0.5, 0.3], 0.42).tolist() == [True, False]


def test_thresholds_round_trip(table: Thresholds, tmp_path: Path) -> None:
    document = json.loads(json.dumps(table.to_json()))
    assert document["format"] == "facescope-thresholds/2"
    assert document["points"][0] == {
        "model": "sface",
        "fmr": 0.001,
        "threshold": 0.42,
        "measured": {"fnmr": 0.12},
    }
    assert Thresholds.from_json(document) == table
    loaded = Thresholds.load(table.save(tmp_path / "t.json"))
    assert loaded == table and loaded.extra == {"note": [1, 2]}
    assert loaded.provenance["script"] == "python scripts/fit_thresholds.py"
    single = Thresholds("p(live)", "bpcer", [ThresholdPoint(0.37)])
    assert Thresholds.from_json(single.to_json()).threshold() == 0.37


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="facescope-thresholds/1"), "not a facescope-thresholds/2"),
        (lambda d: d.pop("points"), "lacks 'points'"),
        (lambda d: d["points"][0].pop("model"), "lacks 'model'"),
        (lambda d: d["points"][0].update(threshold="high"), "malformed"),
        (lambda d: d["points"][0].update(colour="red"), r"unknown keys \['colour'\]"),
        (lambda d: d["points"][0].update(measured={"fnmr": "low"}), "numbers"),
        (lambda d: d["points"][1].update(fmr=0.001), "same conditions and rate"),
        (lambda d: d.update(accept=">"), "accept"),
        (lambda d: d["points"][0].update(threshold=float("inf")), "finite"),
    ],
)
def test_bad_thresholds_documents_give_clear_errors(
    table: Thresholds, change: object, message: str
) -> None:
    document = json.loads(json.dumps(table.to_json()))
    change(document)  # type: ignore[operator]
    with pytest.raises(ThresholdsError, match=message):
        Thresholds.from_json(document, "t.json")


def test_thresholds_need_distinct_names() -> None:
    with pytest.raises(ThresholdsError, match="distinct"):
        Thresholds("s", "threshold", [])
    with pytest.raises(ThresholdsError, match="distinct"):
        Thresholds("s", "fmr", [], by=["fmr"])
