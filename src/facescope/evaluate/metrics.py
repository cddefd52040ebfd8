"""Biometric performance metrics: ISO/IEC 19795-1 (verification, identification), ISO/IEC
30107-3 (presentation attack detection) and ISO/IEC 19795-10-style differential performance.

Conventions used throughout (they follow :mod:`facescope.match.metrics`):

* comparison scores are similarities: a comparison *matches* when ``score >= threshold``;
* FMR (false match rate, ISO/IEC 19795-1 §4.6.7) is the share of impostor comparisons that
  match; FNMR (false non-match rate, §4.6.8) the share of genuine comparisons that do not;
* TAR (true accept rate) is ``1 - FNMR``; in this module FAR is used as a synonym of FMR for
  the calibration targets (one attempt, one comparison per transaction);
* a threshold "at" a target rate is the smallest threshold whose observed rate is <= target
  (:func:`facescope.match.metrics.threshold_at_fmr`).

Pure numpy/scipy: no models are involved. Every result is a frozen dataclass whose
``to_dict()`` gives JSON-ready values (arrays become lists, NaN becomes ``None``, dictionary
keys become strings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from facescope._deprecation import renamed_argument
from facescope._json import jsonable
from facescope.evaluate.defaults import DEFAULT_PAD_THRESHOLD
from facescope.match.metrics import equal_error_rate, rates_at, threshold_at_fmr

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: False-match rates verification metrics are reported at by default.
DEFAULT_FMR_TARGETS = (1e-2, 1e-3, 1e-4)
#: Most points kept in a ROC / DET / FPIR-FNIR curve.
MAX_CURVE_POINTS = 2000
#: Quantile-spaced thresholds in :attr:`VerificationMetrics.threshold_table` (besides the
#: calibrated ones).
TABLE_QUANTILES = 20
_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# helpers


class _ToDict:
    """Mixin: ``to_dict()`` over the dataclass fields."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (NaN -> None, arrays -> lists)."""
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _scores(values: npt.ArrayLike, name: str, *, allow_empty: bool = False) -> FloatArray:
    """`values` as a 1-D float64 array; ValueError when empty or not finite."""
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: scores must be numbers ({exc})") from exc
    if len(array) == 0 and not allow_empty:
        raise ValueError(f"{name}: no scores given (empty array)")
    if np.isnan(array).any():
        raise ValueError(f"{name}: {int(np.isnan(array).sum())} score(s) are NaN")
    return array


def _labels(values: Any, n: int, name: str) -> npt.NDArray[Any]:
    array = np.asarray(values).ravel()
    if len(array) != n:
        raise ValueError(f"{name}: expected {n} labels, got {len(array)}")
    return array


def _check_rates(targets: Sequence[float], name: str) -> list[float]:
    out = [float(t) for t in targets]
    for t in out:
        if not 0.0 < t < 1.0:
            raise ValueError(f"{name}: every target must be in (0, 1), got {t}")
    return out


def probit(p: npt.ArrayLike) -> Any:
    """Standard normal deviate ``Φ⁻¹(p)`` (DET-plot axis scale, ISO/IEC 19795-1 §4.7.2).

    `p` is clipped to ``[1e-9, 1 - 1e-9]`` so rates of exactly 0 or 1 stay finite.
    Returns a float for a scalar input, an array otherwise.
    """
    clipped = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    out = stats.norm.ppf(clipped)
    return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)


def roc_auc(positive: npt.ArrayLike, negative: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(positive score > negative score) + ½ P(tie).

    Computed from the Mann-Whitney U statistic (mid-ranks for ties).
    """
    pos = _scores(positive, "positive")
    neg = _scores(negative, "negative")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = float(ranks[: len(pos)].sum()) - len(pos) * (len(pos) + 1) / 2.0
    return u / (len(pos) * len(neg))


def _downsample(*curves: FloatArray, log_axis: FloatArray | None = None) -> list[FloatArray]:
    """Keep at most :data:`MAX_CURVE_POINTS` points of parallel curve arrays.

    Half the budget is spread evenly over the index, half log-evenly over `log_axis` (the
    FMR/FPIR axis, so the low-error region a DET plot zooms into keeps its detail); the first
    and last points are always kept.
    """
    n = len(curves[0])
    if n <= MAX_CURVE_POINTS:
        return list(curves)
    half = MAX_CURVE_POINTS // 2
    picks = [np.linspace(0, n - 1, half).round().astype(np.int64)]
    if log_axis is not None:
        positive = log_axis[log_axis > 0]
        if len(positive):
            targets = np.geomspace(positive.min(), positive.max(), half - 2)
            order = np.argsort(log_axis, kind="stable")
            found = np.searchsorted(log_axis[order], targets).clip(0, n - 1)
            picks.append(order[found])
    keep = np.unique(np.concatenate([*picks, np.array([0, n - 1])]))
    return [c[keep] for c in curves]


def _error_curve(genuine: FloatArray, impostor: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(FMR, FNMR) at every observed score plus both extremes, ordered by rising FMR."""
    gen = np.sort(genuine)
    imp = np.sort(impostor)
    candidates = np.unique(np.concatenate([gen, imp]))[::-1]  # descending threshold
    fnmr = np.searchsorted(gen, candidates, side="left") / len(gen)
    fmr = 1.0 - np.searchsorted(imp, candidates, side="left") / len(imp)
    fmr = np.concatenate([[0.0], fmr])  # threshold above every score
    fnmr = np.concatenate([[1.0], fnmr])
    return fmr.astype(np.float64), fnmr.astype(np.float64)


# --------------------------------------------------------------------------------------------
# verification (ISO/IEC 19795-1)


@dataclass(frozen=True)
class VerificationMetrics(_ToDict):
    """One-to-one verification performance (ISO/IEC 19795-1 §4.6-4.7).

    ``tar_at_far[f]`` is ``1 - FNMR`` at ``thresholds[f]``, the smallest threshold with
    observed FMR <= ``f``; ``resolvable[f]`` is False when there are too few impostor
    comparisons to observe that rate (``n_impostor * f < 1``), in which case the threshold is
    just above the highest impostor score and the reported TAR is optimistic.
    ``ci`` holds bootstrap percentile intervals (see :func:`bootstrap_verification`), keyed
    ``"eer"`` and ``f"tar@{far:g}"``.
    """

    n_genuine: int
    n_impostor: int
    eer: float
    eer_threshold: float
    auc: float
    tar_at_far: dict[float, float]
    fnmr_at_fmr: dict[float, float]
    thresholds: dict[float, float]
    resolvable: dict[float, bool]
    threshold_table: list[dict[str, float]]
    roc_fmr: FloatArray
    roc_tar: FloatArray
    det_fmr: FloatArray
    det_fnmr: FloatArray
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)


def verification_metrics(
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    *,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    far_targets: Sequence[float] | None = None,
) -> VerificationMetrics:
    """EER, ROC AUC, TAR/FNMR at FMR targets, a threshold table and ROC/DET curves.

    EER is the mean of FMR and FNMR at the observed score where they are closest
    (:func:`facescope.match.metrics.equal_error_rate`). Raises ValueError for empty or NaN
    scores or targets outside (0, 1). ``far_targets`` is the deprecated name of
    `fmr_targets`.
    """
    fmr_targets = renamed_argument(
        "verification_metrics",
        "far_targets",
        far_targets,
        "fmr_targets",
        fmr_targets,
        new_default=DEFAULT_FMR_TARGETS,
    )
    gen = _scores(genuine, "genuine")
    imp = _scores(impostor, "impostor")
    targets = _check_rates(fmr_targets, "fmr_targets")
    eer, eer_threshold = equal_error_rate(gen, imp)
    tar: dict[float, float] = {}
    fnmr_at: dict[float, float] = {}
    thresholds: dict[float, float] = {}
    resolvable: dict[float, bool] = {}
    for far in targets:
        t = threshold_at_fmr(imp, far)
        _, fnmr = rates_at(gen, imp, t)
        thresholds[far], fnmr_at[far], tar[far] = t, fnmr, 1.0 - fnmr
        resolvable[far] = len(imp) * far >= 1.0 - _EPS
    pooled = np.concatenate([gen, imp])
    table_t = np.quantile(pooled, np.linspace(0.0, 1.0, TABLE_QUANTILES))
    table_t = np.unique(np.concatenate([table_t, list(thresholds.values()), [eer_threshold]]))
    table = []
    for t in table_t.tolist():
        fmr, fnmr = rates_at(gen, imp, t)
        table.append({"threshold": float(t), "fmr": fmr, "fnmr": fnmr})
    fmr_curve, fnmr_curve = _error_curve(gen, imp)
    fmr_curve, fnmr_curve = _downsample(fmr_curve, fnmr_curve, log_axis=fmr_curve)
    return VerificationMetrics(
        n_genuine=len(gen),
        n_impostor=len(imp),
        eer=eer,
        eer_threshold=eer_threshold,
        auc=roc_auc(gen, imp),
        tar_at_far=tar,
        fnmr_at_fmr=fnmr_at,
        thresholds=thresholds,
        resolvable=resolvable,
        threshold_table=table,
        roc_fmr=fmr_curve,
        roc_tar=1.0 - fnmr_curve,
        det_fmr=fmr_curve.copy(),
        det_fnmr=fnmr_curve.copy(),
    )


# --------------------------------------------------------------------------------------------
# subjects bootstrap


def bootstrap_verification(
    scores: npt.ArrayLike,
    same: npt.ArrayLike,
    ids_a: npt.ArrayLike,
    ids_b: npt.ArrayLike,
    *,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    n_boot: int = 500,
    seed: int = 0,
    level: float = 0.95,
    far_targets: Sequence[float] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile confidence intervals for ``"eer"`` and ``f"tar@{far:g}"`` by resampling
    identities (the "subsets bootstrap" of ISO/IEC 19795-1 Annex B / Bolle et al. 2004).

    Comparisons of the same subject are correlated, so resampling pairs understates the
    uncertainty. Each draw samples the identity set with replacement (counts ``c``); a
    genuine pair of identity ``i`` enters with weight ``c[i]`` and an impostor pair
    ``(i, j)`` with weight ``c[i] * c[j]``. EER and TAR@FAR are then computed exactly as in
    :func:`verification_metrics`, on the weighted (multiset) scores. A draw without genuine or
    impostor pairs gives NaN for that draw; NaN draws are ignored by the percentiles.
    Deterministic for a given `seed`. ``far_targets`` is the deprecated name of `fmr_targets`.
    """
    fmr_targets = renamed_argument(
        "bootstrap_verification",
        "far_targets",
        far_targets,
        "fmr_targets",
        fmr_targets,
        new_default=DEFAULT_FMR_TARGETS,
    )
    s = _scores(scores, "scores")
    n = len(s)
    genuine = _labels(same, n, "same").astype(bool)
    a_raw, b_raw = _labels(ids_a, n, "ids_a"), _labels(ids_b, n, "ids_b")
    if not genuine.any() or genuine.all():
        raise ValueError("bootstrap needs both genuine (same=True) and impostor pairs")
    targets = _check_rates(fmr_targets, "fmr_targets")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _, inverse = np.unique(np.concatenate([a_raw, b_raw]), return_inverse=True)
    inverse = inverse.astype(np.int64).ravel()
    draws = _SubjectsBootstrap(s, genuine, inverse[:n], inverse[n:], targets)
    rng = np.random.default_rng(seed)
    eers = np.full(n_boot, np.nan)
    tars = np.full((len(targets), n_boot), np.nan)
    for k in range(n_boot):
        counts = np.bincount(rng.integers(0, draws.n_ids, draws.n_ids), minlength=draws.n_ids)
        eers[k], tars[:, k] = draws.statistics(counts.astype(np.float64))

    lo, hi = 50.0 * (1.0 - level), 50.0 * (1.0 + level)
    out = {"eer": _percentiles(eers, lo, hi)}
    for j, far in enumerate(targets):
        out[f"tar@{far:g}"] = _percentiles(tars[j], lo, hi)
    return out


class _SubjectsBootstrap:
    """Scores sorted once, so each bootstrap draw is a few weighted cumulative sums."""

    def __init__(
        self,
        scores: FloatArray,
        genuine: npt.NDArray[np.bool_],
        a: IntArray,
        b: IntArray,
        targets: list[float],
    ) -> None:
        self.n_ids = int(max(a.max(), b.max())) + 1
        self.targets = targets
        # All scores ascending: the EER sweep over every observed score.
        order = np.argsort(scores, kind="stable")
        s_sorted = scores[order]
        self.g_sorted, self.a_sorted, self.b_sorted = genuine[order], a[order], b[order]
        self.starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        # Impostors descending (threshold at FAR), genuine ascending (FNMR below a score).
        imp = np.flatnonzero(~genuine)
        imp = imp[np.argsort(-scores[imp], kind="stable")]
        self.imp_desc, self.ia, self.ib = scores[imp], a[imp], b[imp]
        gen = np.flatnonzero(genuine)
        gen = gen[np.argsort(scores[gen], kind="stable")]
        self.gen_asc, self.ga = scores[gen], a[gen]

    def statistics(self, counts: FloatArray) -> tuple[float, FloatArray]:
        """(EER, TAR at each target) with identity ``i`` drawn ``counts[i]`` times.

        With every count 1 these equal :func:`verification_metrics`' EER and TAR@FAR.
        """
        tars = np.full(len(self.targets), np.nan)
        ca = counts[self.a_sorted]
        w = np.where(self.g_sorted, ca, ca * counts[self.b_sorted])
        wg = np.where(self.g_sorted, w, 0.0)
        cum_g = np.concatenate([[0.0], np.cumsum(wg)])
        cum_i = np.concatenate([[0.0], np.cumsum(w - wg)])
        total_g, total_i = cum_g[-1], cum_i[-1]
        if total_g <= 0 or total_i <= 0:
            return math.nan, tars
        fnmr = cum_g[self.starts] / total_g
        fmr = 1.0 - cum_i[self.starts] / total_i
        best = int(np.argmin(np.abs(fmr - fnmr)))
        eer = float((fmr[best] + fnmr[best]) / 2.0)

        w_imp = counts[self.ia] * counts[self.ib]
        cum_imp = np.cumsum(w_imp)
        cum_gen = np.concatenate([[0.0], np.cumsum(counts[self.ga])])
        for j, far in enumerate(self.targets):
            allowed = math.floor(far * total_i + _EPS)
            if allowed >= total_i:  # every impostor may match: threshold = lowest drawn score
                lowest = self.imp_desc[np.flatnonzero(w_imp)[-1]]
                below = np.searchsorted(self.gen_asc, lowest, side="left")
            else:  # threshold just above the (allowed+1)-th highest drawn impostor score
                pivot = self.imp_desc[np.searchsorted(cum_imp, allowed + 1, side="left")]
                below = np.searchsorted(self.gen_asc, pivot, side="right")
            tars[j] = 1.0 - cum_gen[below] / total_g
        return eer, tars


def _percentiles(values: FloatArray, lo: float, hi: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(finite, [lo, hi])
    return (float(low), float(high))


# --------------------------------------------------------------------------------------------
# identification (ISO/IEC 19795-1 §4.7, open and closed set)


@dataclass(frozen=True)
class IdentificationMetrics(_ToDict):
    """One-to-many identification performance (ISO/IEC 19795-1 §4.6.9-4.6.11).

    ``cmc[k-1]`` is the closed-set identification rate at rank ``k`` over mated probes
    (probes whose subject is enrolled). Open set, candidate list length 1:
    FPIR(t) is the share of non-mated probes whose top subject score is >= t; FNIR(t) the share
    of mated probes whose true subject is not returned at rank 1 with a score >= t.
    ``fpir``/``fnir`` are that trade-off over every observed threshold, by rising FPIR.
    """

    n_mated: int
    n_nonmated: int
    n_subjects: int
    cmc: FloatArray
    rank_k: dict[int, float]
    fnir_at_fpir: dict[float, float]
    thresholds_at_fpir: dict[float, float]
    fpir: FloatArray
    fnir: FloatArray
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)


def identification_metrics(
    similarity: npt.ArrayLike,
    probe_labels: npt.ArrayLike,
    gallery_labels: npt.ArrayLike,
    *,
    fpir_targets: Sequence[float] = (0.01, 0.1),
    max_rank: int = 20,
) -> IdentificationMetrics:
    """CMC, rank-k rates and open-set FNIR at FPIR targets from a probe x template matrix.

    A subject's score is the maximum over its gallery templates. The rank of the true subject
    counts every other subject scoring >= it (ties are resolved pessimistically). The
    threshold at a target FPIR is the smallest one with FPIR <= target
    (:func:`facescope.match.metrics.threshold_at_fmr` on the non-mated top scores); FNIR at a
    target is NaN when there are no non-mated probes.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2 or sim.size == 0:
        raise ValueError(
            f"similarity must be a non-empty (n_probe, n_gallery) matrix, got shape {sim.shape}"
        )
    if np.isnan(sim).any():
        raise ValueError(f"similarity: {int(np.isnan(sim).sum())} score(s) are NaN")
    probes = _labels(probe_labels, sim.shape[0], "probe_labels")
    gallery = _labels(gallery_labels, sim.shape[1], "gallery_labels")
    targets = _check_rates(fpir_targets, "fpir_targets")
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")

    subjects, inverse = np.unique(gallery, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    starts = np.flatnonzero(np.concatenate([[True], np.diff(inverse.ravel()[order]) != 0]))
    subject_scores = np.maximum.reduceat(sim[:, order], starts, axis=1)
    n_subjects = len(subjects)

    mated = np.isin(probes, subjects)
    top = subject_scores.max(axis=1)
    true_index = np.searchsorted(subjects, probes[mated])
    true_scores = subject_scores[mated, true_index]
    ranks = (subject_scores[mated] >= true_scores[:, None]).sum(axis=1)
    n_mated, n_nonmated = int(mated.sum()), int((~mated).sum())

    depth = min(max_rank, n_subjects)
    if n_mated:
        cmc = np.array([(ranks <= k).mean() for k in range(1, depth + 1)], dtype=np.float64)
    else:
        cmc = np.full(depth, np.nan)
    rank_k = {k: float(cmc[k - 1]) for k in (1, 5, 10) if k <= depth}

    hit_scores = np.sort(true_scores[ranks == 1])  # rank-1 hits, by the true-subject score
    nonmated_top = np.sort(top[~mated])

    def fnir_at(t: FloatArray) -> FloatArray:
        if n_mated == 0:
            return np.full(len(t), np.nan)
        hits = len(hit_scores) - np.searchsorted(hit_scores, t, side="left")
        return np.asarray(1.0 - hits / n_mated, dtype=np.float64)

    fnir_targets: dict[float, float] = {}
    thresholds: dict[float, float] = {}
    for f in targets:
        if n_nonmated == 0:
            thresholds[f], fnir_targets[f] = math.nan, math.nan
            continue
        t = threshold_at_fmr(nonmated_top, f)
        thresholds[f] = t
        fnir_targets[f] = float(fnir_at(np.array([t]))[0])

    candidates = np.unique(np.concatenate([hit_scores, nonmated_top]))[::-1]
    candidates = np.concatenate([[np.inf], candidates])
    fnir_curve = fnir_at(candidates)
    if n_nonmated:
        fpir_curve = 1.0 - np.searchsorted(nonmated_top, candidates, side="left") / n_nonmated
    else:
        fpir_curve = np.full(len(candidates), np.nan)
    fpir_curve, fnir_curve = _downsample(
        np.asarray(fpir_curve, dtype=np.float64), fnir_curve, log_axis=fpir_curve
    )
    return IdentificationMetrics(
        n_mated=n_mated,
        n_nonmated=n_nonmated,
        n_subjects=n_subjects,
        cmc=cmc,
        rank_k=rank_k,
        fnir_at_fpir=fnir_targets,
        thresholds_at_fpir=thresholds,
        fpir=fpir_curve,
        fnir=fnir_curve,
    )


# --------------------------------------------------------------------------------------------
# presentation attack detection (ISO/IEC 30107-3)


@dataclass(frozen=True)
class PADMetrics(_ToDict):
    """Presentation attack detection performance (ISO/IEC 30107-3 §13).

    Scores are higher for bona fide presentations; a presentation is classified bona fide when
    ``score >= threshold``. APCER of a species (PAI species) is the share of its attack
    presentations classified bona fide; ISO/IEC 30107-3 reports the worst species
    (``apcer_max``). BPCER is the share of bona fide presentations classified as attacks.
    ACER = (APCER_max + BPCER) / 2 (ISO/IEC 30107-3 notes it is not a standard metric, kept
    for comparison with the literature). ``bpcer_at_apcer[a]`` is the BPCER at the smallest
    threshold where every species' APCER is <= ``a`` (``thresholds_at_apcer[a]``). ``auc`` and
    ``eer`` pool all species (bona fide as the positive class).
    """

    threshold: float
    apcer_per_species: dict[str, float]
    apcer_max: float
    bpcer: float
    acer: float
    bpcer_at_apcer: dict[float, float]
    thresholds_at_apcer: dict[float, float]
    auc: float
    eer: float
    n_bona_fide: int
    n_attacks_per_species: dict[str, int]


def pad_metrics(
    scores: npt.ArrayLike,
    is_attack: npt.ArrayLike,
    species: npt.ArrayLike | None = None,
    *,
    threshold: float = DEFAULT_PAD_THRESHOLD,
    apcer_targets: Sequence[float] = (0.05, 0.10),
) -> PADMetrics:
    """ISO/IEC 30107-3 APCER (per species and worst), BPCER, ACER and BPCER@APCER.

    `species` labels each presentation's PAI species (values of bona fide presentations are
    ignored); None puts every attack in a single species ``"attack"``.
    """
    s = _scores(scores, "scores")
    attack = _labels(is_attack, len(s), "is_attack").astype(bool)
    if species is None:
        kinds = np.full(len(s), "attack", dtype=object)
    else:
        kinds = _labels(species, len(s), "species").astype(str)
    targets = _check_rates(apcer_targets, "apcer_targets")
    bona = s[~attack]
    if len(bona) == 0 or not attack.any():
        raise ValueError(
            f"PAD metrics need bona fide and attack presentations "
            f"(got {len(bona)} bona fide, {int(attack.sum())} attacks)"
        )
    per_species = {str(k): s[attack & (kinds == k)] for k in np.unique(kinds[attack])}
    apcer = {k: float((v >= threshold).mean()) for k, v in per_species.items()}
    apcer_max = max(apcer.values())
    bpcer = float((bona < threshold).mean())
    at_apcer: dict[float, float] = {}
    thresholds: dict[float, float] = {}
    for a in targets:
        # APCER behaves like an FMR on each species; the common threshold satisfying all
        # species is the largest of the per-species thresholds.
        t = max(threshold_at_fmr(v, a) for v in per_species.values())
        thresholds[a], at_apcer[a] = t, float((bona < t).mean())
    attacks = s[attack]
    eer, _ = equal_error_rate(bona, attacks)
    return PADMetrics(
        threshold=float(threshold),
        apcer_per_species=apcer,
        apcer_max=apcer_max,
        bpcer=bpcer,
        acer=(apcer_max + bpcer) / 2.0,
        bpcer_at_apcer=at_apcer,
        thresholds_at_apcer=thresholds,
        auc=roc_auc(bona, attacks),
        eer=eer,
        n_bona_fide=len(bona),
        n_attacks_per_species={k: len(v) for k, v in per_species.items()},
    )


def iapmr(attack_scores: npt.ArrayLike, threshold: float) -> float:
    """Impostor attack presentation match rate (ISO/IEC 30107-3 §13.3): the share of attack
    presentations whose comparison score against the targeted enrolled subject is >= the
    verification `threshold`."""
    s = _scores(attack_scores, "attack_scores")
    return float((s >= threshold).mean())


def iapmr_per_species(
    attack_scores: npt.ArrayLike, species: npt.ArrayLike, threshold: float
) -> dict[str, float]:
    """:func:`iapmr` for each PAI species."""
    s = _scores(attack_scores, "attack_scores")
    kinds = _labels(species, len(s), "species").astype(str)
    return {str(k): float((s[kinds == k] >= threshold).mean()) for k in np.unique(kinds)}


# --------------------------------------------------------------------------------------------
# differential performance (ISO/IEC 19795-10)


@dataclass(frozen=True)
class GroupMetrics(_ToDict):
    """Per-group error rates at one common threshold (ISO/IEC 19795-10 differential
    performance).

    ``per_group[g]`` holds ``fmr``, ``fnmr`` (both at the global ``threshold``; NaN when the
    group has no comparisons of that kind), ``eer`` (the group's own EER, NaN without both
    kinds), ``n_genuine`` and ``n_impostor``. ``worst_to_best[m]`` is, for each error metric
    ``m`` in fmr/fnmr/eer, the largest group error divided by the smallest (1 = parity; NaN
    when the smallest is 0 or fewer than one group has a value).
    """

    threshold: float
    per_group: dict[str, dict[str, float]]
    worst_to_best: dict[str, float]


def fairness(
    genuine_scores: npt.ArrayLike,
    genuine_groups: npt.ArrayLike,
    impostor_scores: npt.ArrayLike,
    impostor_groups: npt.ArrayLike,
    *,
    threshold: float,
) -> GroupMetrics:
    """FMR and FNMR per demographic group at a common (global) threshold, plus per-group EER.

    A common threshold is used on purpose: a deployed system runs one threshold for everyone,
    so differences in FMR/FNMR between groups are the differential performance users meet.
    """
    gen = _scores(genuine_scores, "genuine_scores", allow_empty=True)
    imp = _scores(impostor_scores, "impostor_scores", allow_empty=True)
    g_groups = _labels(genuine_groups, len(gen), "genuine_groups").astype(str)
    i_groups = _labels(impostor_groups, len(imp), "impostor_groups").astype(str)
    if len(gen) == 0 and len(imp) == 0:
        raise ValueError("fairness: no genuine and no impostor scores given")
    per_group: dict[str, dict[str, float]] = {}
    for g in np.unique(np.concatenate([g_groups, i_groups])).tolist():
        g_s, i_s = gen[g_groups == g], imp[i_groups == g]
        fmr = float((i_s >= threshold).mean()) if len(i_s) else math.nan
        fnmr = float((g_s < threshold).mean()) if len(g_s) else math.nan
        eer = equal_error_rate(g_s, i_s)[0] if len(g_s) and len(i_s) else math.nan
        per_group[str(g)] = {
            "fmr": fmr,
            "fnmr": fnmr,
            "eer": eer,
            "n_genuine": float(len(g_s)),
            "n_impostor": float(len(i_s)),
        }
    ratios: dict[str, float] = {}
    for metric in ("fmr", "fnmr", "eer"):
        values = [v[metric] for v in per_group.values() if math.isfinite(v[metric])]
        best = min(values) if values else 0.0
        ratios[metric] = max(values) / best if values and best > 0 else math.nan
    return GroupMetrics(threshold=float(threshold), per_group=per_group, worst_to_best=ratios)


# --------------------------------------------------------------------------------------------
# failures and generalized rates (ISO/IEC 19795-1 §4.6.1-4.6.5)


@dataclass(frozen=True)
class Failures(_ToDict):
    """Failure-to-enrol and failure-to-acquire accounting (ISO/IEC 19795-1 §4.6.1, §4.6.2).

    ``fte`` is the share of enrolment attempts that yield no template, ``fta`` the share of
    acquisition (probe) attempts that yield no usable sample. ``counts`` has the attempt and
    failure counts; ``reasons`` maps each failed item (an image path) to why it failed.
    """

    fte: float
    fta: float
    counts: dict[str, int]
    reasons: dict[str, str]

    @classmethod
    def from_counts(
        cls,
        *,
        enrol_attempts: int,
        enrol_failures: Mapping[str, str],
        acquire_attempts: int,
        acquire_failures: Mapping[str, str],
    ) -> Failures:
        """Rates from attempt counts and ``{path: reason}`` of the failed attempts."""
        for name, attempts, failed in (
            ("enrol", enrol_attempts, enrol_failures),
            ("acquire", acquire_attempts, acquire_failures),
        ):
            if attempts < len(failed):
                raise ValueError(f"{name}: {len(failed)} failures but only {attempts} attempts")
        return cls(
            fte=len(enrol_failures) / enrol_attempts if enrol_attempts else 0.0,
            fta=len(acquire_failures) / acquire_attempts if acquire_attempts else 0.0,
            counts={
                "enrol_attempts": int(enrol_attempts),
                "enrol_failures": len(enrol_failures),
                "acquire_attempts": int(acquire_attempts),
                "acquire_failures": len(acquire_failures),
            },
            reasons={**dict(enrol_failures), **dict(acquire_failures)},
        )


def generalized_rates(
    fnmr: float, fmr: float, fta: float, *, fte: float = 0.0
) -> tuple[float, float]:
    """(GFAR, GFRR) per ISO/IEC 19795-1 §4.6.5-4.6.6, one attempt per transaction.

    ``GFRR = FTA + (1 - FTA) * FNMR`` and ``GFAR = (1 - FTA) * FMR``. With a failure-to-enrol
    rate `fte` (default 0) the generalized forms are ``GFAR = FMR (1 - FTA)(1 - FTE)`` and
    ``GFRR = FTE + (1 - FTE) FTA + (1 - FTE)(1 - FTA) FNMR``.
    """
    for name, value in (("fnmr", fnmr), ("fmr", fmr), ("fta", fta), ("fte", fte)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a rate in [0, 1], got {value}")
    gfar = (1.0 - fte) * (1.0 - fta) * fmr
    gfrr = fte + (1.0 - fte) * (fta + (1.0 - fta) * fnmr)
    return float(gfar), float(gfrr)
