"""Thresholds over several calibration sets: pooling rules, identity bootstrap, held-out sets."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from facescope.errors import CalibrationError
from facescope.match.calibrate import (
    FusionFit,
    bootstrap_interval,
    fit_fusion,
    fuse_scores,
    identity_bootstrap_thresholds,
    leave_one_set_out,
    person_folds,
    pooled_threshold,
    rule_threshold,
    weighted_threshold_at_fmr,
)
from facescope.match.metrics import threshold_at_fmr
from facescope.match.thresholds import FUSION, Calibration, ModelCalibration


def _impostor_pairs(
    people: int, per_person: int, shift: float, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Impostor scores of every cross-person pair, with a per-person-pair offset."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(people), per_person)
    a, b = np.triu_indices(len(ids), k=1)
    cross = ids[a] != ids[b]
    a, b = ids[a][cross], ids[b][cross]
    pair_effect = rng.normal(0, 0.03, (people, people))
    pair_effect = (pair_effect + pair_effect.T) / 2
    scores = shift + pair_effect[a, b] + rng.normal(0, 0.1, len(a))
    return scores, a.astype(np.int64), b.astype(np.int64)


def test_unit_weights_reproduce_the_plain_threshold() -> None:
    scores = np.random.default_rng(1).normal(size=5000)
    for fmr in (1e-1, 1e-2, 1e-3, 2e-4):
        weighted = weighted_threshold_at_fmr(scores, np.ones_like(scores), fmr)
        assert weighted == threshold_at_fmr(scores, fmr)
    hand = np.arange(1000) / 1000.0
    assert (hand >= weighted_threshold_at_fmr(hand, np.ones(1000), 1e-2)).sum() == 10


def test_weights_count_as_repeated_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    weights = np.array([1.0, 3.0, 1.0, 4.0, 1.0])
    repeated = np.repeat(scores, weights.astype(int))
    for fmr in (0.05, 0.1, 0.35, 0.45):
        assert weighted_threshold_at_fmr(scores, weights, fmr) == threshold_at_fmr(repeated, fmr)


def test_weighted_threshold_refuses_bad_input() -> None:
    with pytest.raises(CalibrationError):
        weighted_threshold_at_fmr([0.1, 0.2], [1.0], 1e-3)
    with pytest.raises(CalibrationError):
        weighted_threshold_at_fmr([0.1], [0.0], 1e-3)
    with pytest.raises(CalibrationError):
        weighted_threshold_at_fmr([0.1], [1.0], 1.5)


def test_pooled_threshold_lies_between_the_per_set_ones() -> None:
    rng = np.random.default_rng(2)
    low, high = rng.normal(0.0, 0.1, 40_000), rng.normal(0.3, 0.1, 10_000)
    per_set = [threshold_at_fmr(low, 1e-3), threshold_at_fmr(high, 1e-3)]
    for equal in (False, True):
        pooled = pooled_threshold([low, high], 1e-3, equal_weight=equal)
        assert min(per_set) <= pooled <= max(per_set)
    # equal weighting gives the smaller set more say: a higher threshold here
    assert pooled_threshold([low, high], 1e-3, equal_weight=True) >= pooled_threshold(
        [low, high], 1e-3
    )
    # the mean FMR of the two sets is at most the target with equal weights
    t = pooled_threshold([low, high], 1e-3, equal_weight=True)
    assert ((low >= t).mean() + (high >= t).mean()) / 2 <= 1e-3


def test_rules() -> None:
    rng = np.random.default_rng(3)
    sets = [rng.normal(m, 0.1, 20_000) for m in (0.0, 0.1, 0.25)]
    per_set = [threshold_at_fmr(s, 1e-3) for s in sets]
    assert rule_threshold("max", sets, 1e-3) == max(per_set)
    assert rule_threshold("pooled", sets, 1e-3) == threshold_at_fmr(np.concatenate(sets), 1e-3)
    assert min(per_set) <= rule_threshold("pooled-equal", sets, 1e-3) <= max(per_set)
    # the max rule keeps the target on every set
    t = rule_threshold("max", sets, 1e-3)
    assert all((s >= t).mean() <= 1e-3 for s in sets)
    with pytest.raises(CalibrationError, match="unknown rule"):
        rule_threshold("median", sets, 1e-3)


def test_identity_bootstrap_interval_contains_the_point_estimate() -> None:
    scores, a, b = _impostor_pairs(people=15, per_person=12, shift=0.1, seed=4)
    targets = (1e-2, 1e-3)
    samples = identity_bootstrap_thresholds(scores, a, b, targets, n_boot=200, seed=0)
    assert samples.shape == (200, 2)
    for col, fmr in enumerate(targets):
        point = threshold_at_fmr(scores, fmr)
        low, high = bootstrap_interval(samples[:, col])
        assert low <= point <= high
        assert high - low > 0  # people differ: the threshold is uncertain
    # reproducible with the seed, and the stricter target gives higher thresholds
    again = identity_bootstrap_thresholds(scores, a, b, targets, n_boot=200, seed=0)
    assert np.array_equal(samples, again, equal_nan=True)
    assert np.nanmedian(samples[:, 1]) > np.nanmedian(samples[:, 0])


def test_identity_bootstrap_is_wider_than_a_pair_bootstrap() -> None:
    """Resampling people shows the between-person spread a pair bootstrap hides."""
    scores, a, b = _impostor_pairs(people=12, per_person=15, shift=0.0, seed=5)
    by_person = identity_bootstrap_thresholds(scores, a, b, (1e-2,), n_boot=200, seed=1)
    rng = np.random.default_rng(1)
    by_pair = [
        threshold_at_fmr(scores[rng.integers(0, len(scores), len(scores))], 1e-2)
        for _ in range(200)
    ]
    width_person = np.subtract(*bootstrap_interval(by_person[:, 0])[::-1])
    width_pair = np.subtract(*bootstrap_interval(by_pair)[::-1])
    assert width_person > width_pair


def test_bootstrap_interval_ignores_nans() -> None:
    low, high = bootstrap_interval([np.nan, *np.linspace(0, 1, 101)])
    assert low == pytest.approx(0.025) and high == pytest.approx(0.975)
    with pytest.raises(CalibrationError):
        bootstrap_interval([np.nan])


def test_leave_one_set_out_fits_on_the_other_sets() -> None:
    rng = np.random.default_rng(6)
    impostor = {
        "easy": rng.normal(0.0, 0.1, 30_000),
        "medium": rng.normal(0.05, 0.1, 30_000),
        "hard": rng.normal(0.2, 0.1, 30_000),
    }
    genuine = {name: rng.normal(0.7, 0.15, 3000) for name in impostor}
    genuine["hard"][:300] = -np.inf  # failures to enrol count as false non-matches
    result = leave_one_set_out(genuine, impostor, 1e-3, "max")
    assert set(result) == set(impostor)
    expected = max(threshold_at_fmr(impostor[n], 1e-3) for n in ("easy", "medium"))
    held = result["hard"]
    assert held.threshold == expected
    assert held.fmr == (impostor["hard"] >= expected).mean()
    assert held.fmr_ratio > 3  # fitted without the hard set, it misses there
    assert held.fnmr >= 0.1  # the 10% FTE pairs at least
    assert result["easy"].fmr_ratio <= 1  # the max rule over harder sets is safe
    # a custom rule is a function of the other sets' scores
    custom = leave_one_set_out(genuine, impostor, 1e-3, lambda sets: 0.5)
    assert all(r.threshold == 0.5 for r in custom.values())
    with pytest.raises(CalibrationError):
        leave_one_set_out({"a": genuine["easy"]}, {"a": impostor["easy"]}, 1e-3, "max")


def test_person_folds_split_by_person() -> None:
    labels = np.repeat([f"p{i}" for i in range(9)], 4)
    folds = person_folds(labels, 2, seed=3)
    for person in np.unique(labels):
        assert len(set(folds[labels == person])) == 1
    people_per_fold = [len(set(labels[folds == k])) for k in (0, 1)]
    assert sorted(people_per_fold) == [4, 5]
    assert np.array_equal(folds, person_folds(labels, 2, seed=3))
    with pytest.raises(CalibrationError):
        person_folds(["a", "a"], 2)


def test_fused_scores_match_the_calibration_arithmetic() -> None:
    rng = np.random.default_rng(7)
    fit = FusionFit({"sface": (0.1, 0.09), "dlib": (0.85, 0.03)}, {"sface": 0.6, "dlib": 0.4})
    scores = {"sface": rng.uniform(-0.2, 0.9, 50), "dlib": rng.uniform(0.7, 1.0, 50)}
    entry = {
        m: ModelCalibration({}, {}, 0.0, mean, std, 0, 0) for m, (mean, std) in fit.stats.items()
    }
    calibration = Calibration(
        "toy", {**entry, FUSION: ModelCalibration({}, {}, 0.0, 0.0, 1.0, 0, 0, fit.weights)}
    )
    assert np.allclose(fuse_scores(scores, fit), calibration.fuse(scores))
    scores["dlib"][3] = -np.inf  # a failure to enrol stays a non-match
    assert fuse_scores(scores, fit)[3] == -np.inf


def test_fit_fusion_prefers_the_informative_model() -> None:
    rng = np.random.default_rng(8)
    n_gen, n_imp = 2000, 20_000
    genuine = {"good": rng.normal(3.0, 1.0, n_gen), "noise": rng.normal(0.0, 1.0, n_gen)}
    impostor = {"good": rng.normal(0.0, 1.0, n_imp), "noise": rng.normal(0.0, 1.0, n_imp)}
    fit = fit_fusion(genuine, impostor)
    assert fit.weights["good"] >= 0.8 and fit.weights["good"] + fit.weights["noise"] == 1.0
    assert fit.stats["good"][0] == pytest.approx(0.0, abs=0.05)
    with pytest.raises(CalibrationError):
        fit_fusion({"a": genuine["good"]}, {"a": impostor["good"]})
