"""ISO/IEC 19795-1 / 30107-3 metrics in facescope.evaluate.metrics, against hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from facescope.evaluate.metrics import (
    MAX_CURVE_POINTS,
    Failures,
    PADMetrics,
    _SubjectsBootstrap,
    bootstrap_verification,
    fairness,
    generalized_rates,
    iapmr,
    iapmr_per_species,
    identification_metrics,
    pad_metrics,
    probit,
    verification_metrics,
)
from facescope.match.metrics import equal_error_rate

GEN = [0.2, 0.6, 0.7, 0.8]
IMP = [0.1, 0.3, 0.4, 0.65]


# ---------------------------------------------------------------------------- verification


def test_eer_is_a_quarter_on_hand_case() -> None:
    # At t = 0.6: FNMR = #{gen < 0.6}/4 = 1/4 (0.2); FMR = #{imp >= 0.6}/4 = 1/4 (0.65).
    m = verification_metrics(GEN, IMP, fmr_targets=(0.25, 0.5))
    assert m.eer == pytest.approx(0.25)
    assert m.eer_threshold == pytest.approx(0.6)
    # AUC = P(gen > imp): 0.2 beats 1, 0.6 beats 3, 0.7 and 0.8 beat 4 -> 12/16.
    assert m.auc == pytest.approx(0.75)
    assert (m.n_genuine, m.n_impostor) == (4, 4)


def test_tar_at_far_hand_case() -> None:
    # FAR 0.25 on 4 impostors allows 1 above the threshold: t just above 0.4 (2nd highest);
    # genuine >= t: 0.6, 0.7, 0.8 -> TAR 3/4. FAR 0.1 allows none: t just above 0.65 ->
    # genuine 0.7, 0.8 -> TAR 1/2, but 4 * 0.1 < 1 so the point is not resolvable.
    m = verification_metrics(GEN, IMP, fmr_targets=(0.25, 0.1))
    assert m.thresholds[0.25] == pytest.approx(0.4) and m.thresholds[0.25] > 0.4
    assert m.tar_at_far[0.25] == pytest.approx(0.75)
    assert m.fnmr_at_fmr[0.25] == pytest.approx(0.25)
    assert m.tar_at_far[0.1] == pytest.approx(0.5)
    assert m.resolvable == {0.25: True, 0.1: False}
    table = {round(row["threshold"], 6): row for row in m.threshold_table}
    assert table[0.6] == {"threshold": pytest.approx(0.6), "fmr": 0.25, "fnmr": 0.25}
    assert any(row["threshold"] == m.thresholds[0.25] for row in m.threshold_table)


def test_auc_separated_and_identical() -> None:
    assert verification_metrics([0.8, 0.9], [0.1, 0.2]).auc == 1.0
    rng = np.random.default_rng(0)
    m = verification_metrics(rng.normal(size=5000), rng.normal(size=5000))
    assert m.auc == pytest.approx(0.5, abs=0.02)
    assert m.eer == pytest.approx(0.5, abs=0.03)


def test_curves_downsampled_keep_extremes() -> None:
    rng = np.random.default_rng(1)
    m = verification_metrics(rng.normal(2, 1, 20000), rng.normal(0, 1, 20000))
    assert len(m.roc_fmr) <= MAX_CURVE_POINTS + 2
    assert len(m.det_fmr) == len(m.det_fnmr) == len(m.roc_tar)
    assert (m.det_fmr[0], m.det_fnmr[0]) == (0.0, 1.0)
    assert (m.det_fmr[-1], m.det_fnmr[-1]) == (1.0, 0.0)
    assert np.all(np.diff(m.det_fmr) >= 0) and np.all(np.diff(m.det_fnmr) <= 0)
    np.testing.assert_allclose(m.roc_tar, 1 - m.det_fnmr)
    # the low-FMR region a DET plot zooms into keeps points
    assert ((m.det_fmr > 0) & (m.det_fmr < 1e-3)).sum() >= 10


def test_to_dict_is_strict_json() -> None:
    m = verification_metrics(GEN, IMP, fmr_targets=(0.25,))
    m.ci["eer"] = (math.nan, 0.5)
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d["tar_at_far"] == {"0.25": 0.75}
    assert d["ci"]["eer"] == [None, 0.5]
    assert isinstance(d["roc_fmr"], list)


def test_probit() -> None:
    assert probit(0.5) == pytest.approx(0.0)
    assert probit(0.8413) == pytest.approx(1.0, abs=1e-3)
    assert np.isfinite(probit(np.array([0.0, 1.0]))).all()


@pytest.mark.parametrize(
    ("genuine", "impostor", "message"),
    [([], [0.1], "genuine.*empty"), ([0.5], [], "impostor.*empty"), ([0.5, np.nan], [0.1], "NaN")],
)
def test_verification_bad_input(genuine: list[float], impostor: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verification_metrics(genuine, impostor)


def test_bad_fmr_target() -> None:
    with pytest.raises(ValueError, match="fmr_targets"):
        verification_metrics(GEN, IMP, fmr_targets=(0.0,))


def test_far_targets_is_a_deprecated_alias_of_fmr_targets() -> None:
    with pytest.warns(DeprecationWarning, match="far_targets"):
        old = verification_metrics(GEN, IMP, far_targets=(0.25,))
    assert old.thresholds == verification_metrics(GEN, IMP, fmr_targets=(0.25,)).thresholds
    with pytest.raises(TypeError, match="fmr_targets"), pytest.warns(DeprecationWarning):
        verification_metrics(GEN, IMP, fmr_targets=(0.5,), far_targets=(0.25,))


# ---------------------------------------------------------------------------- bootstrap


def _pairs(
    n_ids: int, rng: np.random.Generator, per_id: int = 6, imp_per_id: int = 30
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic pairs: per-identity genuine mean varies (correlated within identity)."""
    ids = np.arange(n_ids)
    gen_a = np.repeat(ids, per_id)
    gen_s = rng.normal(1.5, 0.7, n_ids)[gen_a] + rng.normal(0, 0.7, len(gen_a))
    imp_a = np.repeat(ids, imp_per_id)
    imp_b = (imp_a + rng.integers(1, n_ids, len(imp_a))) % n_ids
    imp_s = rng.normal(0, 1, len(imp_a))
    scores = np.concatenate([gen_s, imp_s])
    same = np.concatenate([np.ones(len(gen_a), bool), np.zeros(len(imp_a), bool)])
    return scores, same, np.concatenate([gen_a, imp_a]), np.concatenate([gen_a, imp_b])


def test_bootstrap_deterministic_and_contains_point() -> None:
    scores, same, a, b = _pairs(40, np.random.default_rng(2))
    fars = (0.01, 0.1)
    one = bootstrap_verification(scores, same, a, b, fmr_targets=fars, n_boot=200, seed=7)
    two = bootstrap_verification(scores, same, a, b, fmr_targets=fars, n_boot=200, seed=7)
    other = bootstrap_verification(scores, same, a, b, fmr_targets=fars, n_boot=200, seed=8)
    assert one == two and one != other
    assert set(one) == {"eer", "tar@0.01", "tar@0.1"}
    point = verification_metrics(scores[same], scores[~same], fmr_targets=fars)
    assert one["eer"][0] <= point.eer <= one["eer"][1]
    assert one["tar@0.1"][0] <= point.tar_at_far[0.1] <= one["tar@0.1"][1]
    # identity labels may be strings
    named = bootstrap_verification(
        scores, same, a.astype(str), b.astype(str), fmr_targets=fars, n_boot=50, seed=7
    )
    assert all(np.isfinite(v).all() for v in named.values())


def test_bootstrap_unit_counts_reproduce_point_estimates() -> None:
    scores, same, a, b = _pairs(30, np.random.default_rng(3))
    fars = [0.01, 0.05, 0.5]
    point = verification_metrics(scores[same], scores[~same], fmr_targets=fars)
    draws = _SubjectsBootstrap(scores, same, a, b, fars)
    for scale in (1.0, 3.0):  # every identity drawn equally often: rates are unchanged
        eer, tars = draws.statistics(np.full(30, scale))
        assert eer == pytest.approx(point.eer)
        np.testing.assert_allclose(tars, [point.tar_at_far[f] for f in fars])


def test_bootstrap_wider_with_fewer_identities() -> None:
    rng = np.random.default_rng(4)
    widths = []
    for n_ids in (10, 200):
        ci = bootstrap_verification(*_pairs(n_ids, rng), fmr_targets=(0.1,), n_boot=200)
        widths.append(ci["eer"][1] - ci["eer"][0])
    assert widths[0] > 2 * widths[1]


def test_bootstrap_resamples_identities_not_pairs() -> None:
    # 10 identities, 10 genuine pairs each, impostors in [0.2, 0.4]. Case "one": every genuine
    # pair of identity 0 fails (score 0), all others are 0.9. Case "spread": the same number of
    # failing pairs, one per identity. The point EER is the same: FNMR is 10% for any threshold
    # in (0, 0.9], and FMR sweeps through 10% inside the impostor range. Only when the errors
    # sit in one identity can a draw leave them out (probability 0.9**10 = 35%: EER 0) or pile
    # them up, so that interval reaches 0 and is much wider; spread errors stay at 10%.
    rng = np.random.default_rng(5)
    n_ids, per = 10, 10
    gen_a = np.repeat(np.arange(n_ids), per)
    imp_a = np.repeat(np.arange(n_ids), 20)
    imp_b = (imp_a + rng.integers(1, n_ids, len(imp_a))) % n_ids
    imp_s = rng.uniform(0.2, 0.4, len(imp_a))
    a, b = np.concatenate([gen_a, imp_a]), np.concatenate([gen_a, imp_b])
    same = np.concatenate([np.ones(len(gen_a), bool), np.zeros(len(imp_a), bool)])
    one = np.where(gen_a == 0, 0.0, 0.9)
    spread = np.where(np.arange(len(gen_a)) % per == 0, 0.0, 0.9)
    ci = {}
    for name, gen_s in (("one", one), ("spread", spread)):
        scores = np.concatenate([gen_s, imp_s])
        assert verification_metrics(gen_s, imp_s).eer == pytest.approx(0.1)
        ci[name] = bootstrap_verification(scores, same, a, b, fmr_targets=(0.1,), n_boot=300)
    assert ci["one"]["eer"][0] == 0.0
    assert ci["one"]["eer"][1] >= 0.15
    assert ci["spread"]["eer"] == (pytest.approx(0.1, abs=0.01), pytest.approx(0.1, abs=0.01))
    assert ci["one"]["tar@0.1"][0] <= 0.8 and ci["spread"]["tar@0.1"] == (0.9, 0.9)


def test_bootstrap_bad_input() -> None:
    with pytest.raises(ValueError, match=r"genuine.*impostor"):
        bootstrap_verification([0.1, 0.2], [True, True], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_verification([0.1, np.nan], [True, False], [0, 1], [0, 0])
    with pytest.raises(ValueError, match="ids_b"):
        bootstrap_verification([0.1, 0.2], [True, False], [0, 1], [0])


# ---------------------------------------------------------------------------- identification

# Gallery templates: A has two (A1, A2), B and C one each.
GALLERY = ["A", "A", "B", "C"]
CLOSED = np.array(
    [
        [0.2, 0.9, 0.5, 0.1],  # probe A: A = max(0.2, 0.9) = 0.9 -> rank 1 (rank 2 without max)
        [0.8, 0.1, 0.6, 0.7],  # probe B: A 0.8, C 0.7 above B 0.6 -> rank 3
        [0.3, 0.3, 0.5, 0.5],  # probe C: tied with B at 0.5 -> rank 2 (pessimistic)
    ]
)


def test_cmc_hand_example_with_max_over_templates() -> None:
    m = identification_metrics(CLOSED, ["A", "B", "C"], GALLERY)
    np.testing.assert_allclose(m.cmc, [1 / 3, 2 / 3, 1.0])
    assert m.rank_k == {1: pytest.approx(1 / 3)}  # ranks 5 and 10 exceed the 3 subjects
    assert (m.n_mated, m.n_nonmated, m.n_subjects) == (3, 0, 3)
    assert math.isnan(m.fnir_at_fpir[0.01]) and math.isnan(m.thresholds_at_fpir[0.1])
    json.dumps(m.to_dict(), allow_nan=False)


def test_open_set_fnir_fpir_hand_example() -> None:
    sim = np.vstack(
        [
            CLOSED,
            [0.2, 0.2, 0.7, 0.3],  # probe B: rank 1 at 0.7
            [0.4, 0.1, 0.2, 0.3],  # non-mated, top 0.4
            [0.1, 0.1, 0.75, 0.3],  # non-mated, top 0.75
            [0.2, 0.1, 0.1, 0.1],  # non-mated, top 0.2
            [0.1, 0.6, 0.1, 0.1],  # non-mated, top 0.6
        ]
    )
    probes = ["A", "B", "C", "B", "X", "Y", "X", "Z"]
    m = identification_metrics(sim, probes, GALLERY, fpir_targets=(0.1, 0.25, 0.5))
    assert (m.n_mated, m.n_nonmated) == (4, 4)
    # Rank-1 hits: probe A at 0.9 and the 2nd probe B at 0.7; the other two mated miss anyway.
    # FPIR 0.1 on 4 non-mated allows none: t just above 0.75 -> only 0.9 hit -> FNIR 3/4.
    # FPIR 0.25 allows one: t just above 0.6 -> hits 0.9, 0.7 -> FNIR 2/4.
    # FPIR 0.5 allows two: t just above 0.4 -> FNIR 2/4.
    assert m.thresholds_at_fpir[0.25] == pytest.approx(0.6) and m.thresholds_at_fpir[0.25] > 0.6
    assert m.fnir_at_fpir == {0.1: 0.75, 0.25: 0.5, 0.5: 0.5}
    np.testing.assert_allclose(m.cmc, [0.5, 0.75, 1.0])
    assert (m.fpir[0], m.fnir[0]) == (0.0, 1.0)  # threshold above everything
    assert m.fpir[-1] == 1.0 and m.fnir[-1] == 0.5  # the two misses are never rank 1
    assert np.all(np.diff(m.fpir) >= 0)


def test_identification_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        identification_metrics([[0.1, np.nan]], ["A"], ["A", "B"])
    with pytest.raises(ValueError, match="non-empty"):
        identification_metrics(np.zeros((0, 2)), [], ["A", "B"])
    with pytest.raises(ValueError, match="gallery_labels"):
        identification_metrics([[0.1, 0.2]], ["A"], ["A"])


# ---------------------------------------------------------------------------- PAD

BONA = [0.9, 0.8, 0.7, 0.4]
PRINT = [0.1, 0.2, 0.6, 0.3]
REPLAY = [0.55, 0.7, 0.1, 0.2, 0.3]


def _pad(threshold: float, apcer_targets: tuple[float, ...]) -> PADMetrics:
    scores = BONA + PRINT + REPLAY
    attack = [False] * 4 + [True] * 9
    species = ["bona"] * 4 + ["print"] * 4 + ["replay"] * 5
    return pad_metrics(scores, attack, species, threshold=threshold, apcer_targets=apcer_targets)


def test_pad_hand_example() -> None:
    m = _pad(threshold=0.5, apcer_targets=(0.05, 0.25))
    # print: 0.6 >= 0.5 -> 1/4; replay: 0.55, 0.7 -> 2/5; bona fide 0.4 < 0.5 -> BPCER 1/4.
    assert m.apcer_per_species == {"print": 0.25, "replay": 0.4}
    assert m.apcer_max == 0.4
    assert m.bpcer == 0.25
    assert m.acer == pytest.approx(0.325)
    assert m.n_bona_fide == 4
    assert m.n_attacks_per_species == {"print": 4, "replay": 5}
    # APCER <= 5%: no attack of either species may pass -> t just above 0.7 (replay's top);
    # bona fide below: 0.7, 0.4 -> BPCER 1/2. APCER <= 25%: print allows 1 (t > 0.3), replay
    # allows floor(1.25) = 1 (t > 0.55); the worst species rules -> t just above 0.55 -> 1/4.
    assert m.bpcer_at_apcer == {0.05: 0.5, 0.25: 0.25}
    assert m.thresholds_at_apcer[0.25] == pytest.approx(0.55)
    assert 0.0 < m.auc < 1.0 and 0.0 <= m.eer <= 1.0
    json.dumps(m.to_dict(), allow_nan=False)


def test_pad_single_species_and_bad_input() -> None:
    m = pad_metrics([0.9, 0.8, 0.1, 0.6], [False, False, True, True], threshold=0.5)
    assert m.apcer_per_species == {"attack": 0.5} and m.bpcer == 0.0 and m.acer == 0.25
    assert m.bpcer_at_apcer[0.1] == 0.0  # t just above 0.6: bona fide 0.8, 0.9 pass
    with pytest.raises(ValueError, match="bona fide and attack"):
        pad_metrics([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="NaN"):
        pad_metrics([0.1, np.nan], [True, False])


def test_iapmr() -> None:
    assert iapmr([0.1, 0.5, 0.7, 0.3], 0.5) == 0.5  # 0.5 and 0.7 match (score >= threshold)
    per = iapmr_per_species([0.1, 0.5, 0.7, 0.3], ["print", "print", "mask", "mask"], 0.5)
    assert per == {"mask": 0.5, "print": 0.5}
    with pytest.raises(ValueError, match="empty"):
        iapmr([], 0.5)


# ---------------------------------------------------------------------------- fairness, failures


def test_fairness_hand_example() -> None:
    gen = [0.9, 0.8, 0.3, 0.2, 0.9, 0.8, 0.7, 0.4]
    gen_groups = ["F"] * 4 + ["M"] * 4
    imp = [0.1, 0.6, 0.1, 0.2, 0.3, 0.6]
    imp_groups = ["F"] * 2 + ["M"] * 4
    m = fairness(gen, gen_groups, imp, imp_groups, threshold=0.5)
    # F: FNMR 2/4 (0.3, 0.2), FMR 1/2 (0.6). M: FNMR 1/4 (0.4), FMR 1/4 (0.6).
    assert m.per_group["F"]["fnmr"] == 0.5 and m.per_group["F"]["fmr"] == 0.5
    assert m.per_group["M"]["fnmr"] == 0.25 and m.per_group["M"]["fmr"] == 0.25
    assert m.per_group["M"]["n_impostor"] == 4
    assert m.per_group["F"]["eer"] == equal_error_rate(gen[:4], imp[:2])[0]
    assert m.worst_to_best["fnmr"] == 2.0 and m.worst_to_best["fmr"] == 2.0
    assert m.threshold == 0.5
    # a group with no false matches: ratio undefined
    z = fairness([0.9, 0.9], ["F", "M"], [0.1, 0.6], ["F", "M"], threshold=0.5)
    assert math.isnan(z.worst_to_best["fmr"]) and z.to_dict()["worst_to_best"]["fmr"] is None


def test_generalized_rates_and_failures() -> None:
    gfar, gfrr = generalized_rates(fnmr=0.1, fmr=0.01, fta=0.2)
    assert gfrr == pytest.approx(0.2 + 0.8 * 0.1)  # FTA + (1 - FTA) FNMR
    assert gfar == pytest.approx(0.8 * 0.01)  # (1 - FTA) FMR
    assert generalized_rates(0.1, 0.01, 0.0) == pytest.approx((0.01, 0.1))
    with pytest.raises(ValueError, match="fta"):
        generalized_rates(0.1, 0.01, 1.5)
    f = Failures.from_counts(
        enrol_attempts=10,
        enrol_failures={"a.jpg": "no face"},
        acquire_attempts=20,
        acquire_failures={"b.jpg": "no face", "c.jpg": "unreadable"},
    )
    assert (f.fte, f.fta) == (0.1, 0.1)
    assert f.counts["acquire_failures"] == 2 and f.reasons["c.jpg"] == "unreadable"
    json.dumps(f.to_dict(), allow_nan=False)
