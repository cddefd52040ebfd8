"""Calibrate decision thresholds from embeddings of labelled faces.

:func:`calibrate_scores` turns embeddings and identity labels into a
:class:`~facescope.match.thresholds.Calibration`; :func:`facescope.api.calibrate`
does the same from a folder-per-identity tree of photos (it embeds them first).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.errors import CalibrationError
from facescope.heads import provenance
from facescope.io.files import IMAGE_EXTENSIONS
from facescope.match.metrics import equal_error_rate, operating_point, threshold_at_fmr
from facescope.match.thresholds import FUSION, Calibration, ModelCalibration

#: The photo file suffixes (:data:`facescope.io.files.IMAGE_EXTENSIONS`).
IMAGE_SUFFIXES = IMAGE_EXTENSIONS
DEFAULT_FMR_TARGETS = (1e-2, 1e-3, 1e-4)

Progress = Callable[[Iterable[Path]], Iterable[Path]]


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with identity labels, from a folder-per-identity tree."""

    paths: list[Path]
    identities: list[str]


def folder_per_identity(root: str | os.PathLike[str]) -> LabelledImages:
    """List images under ``root/<identity>/...`` (one sub-folder per person)."""
    base = Path(root)
    if not base.is_dir():
        raise CalibrationError(f"{base}: not a directory (expected one sub-folder per identity)")
    paths: list[Path] = []
    identities: list[str] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(file)
                identities.append(folder.name)
    if len(set(identities)) < 2:
        raise CalibrationError(
            f"{base}: need at least 2 identity sub-folders with images, "
            f"found {len(set(identities))}"
        )
    return LabelledImages(paths, identities)


def pair_scores(
    vectors: npt.NDArray[np.float32], identities: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cosine scores of all genuine pairs and all impostor pairs (each pair once)."""
    labels = np.asarray(identities)
    similarity = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    upper = np.triu_indices(len(labels), k=1)
    scores = similarity[upper]
    same = (labels[:, None] == labels[None, :])[upper]
    return scores[same], scores[~same]


@dataclass(frozen=True)
class CalibrationRun:
    """A calibration and what it was computed from."""

    calibration: Calibration
    n_images: int
    n_identities: int
    failures: dict[str, str]


def calibrate_scores(
    vectors: dict[str, npt.NDArray[np.float32]],
    identities: Sequence[str],
    *,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    source: str = "",
    script: str = "",
) -> Calibration:
    """Thresholds for each model (and their fusion) from embeddings of labelled faces.

    `vectors` maps each model to its (n, d) L2-normalised embeddings, parallel to
    `identities`. The fusion weight is chosen on the same data to maximise the
    true-match rate at the first FMR target (one free parameter), so quote its
    figures as calibrated, not as a held-out test. Embedding the images is the
    caller's part (:func:`facescope.api.calibrate` for a folder of photos).
    """
    counts = np.unique(np.asarray(identities), return_counts=True)[1]
    if len(counts) < 2 or int(counts.max()) < 2:
        raise CalibrationError(
            f"{source or 'calibration set'}: need 2+ identities and at least one with 2+ "
            "usable images"
        )
    models = list(vectors)
    primary = float(fmr_targets[0]) if len(fmr_targets) == 1 else 1e-3
    scores: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {
        model: pair_scores(vectors[model], identities) for model in models
    }
    entries = {model: _model_entry(*scores[model], fmr_targets) for model in models}
    if len(models) >= 2:
        partial = Calibration(source, entries)
        entries[FUSION] = _fusion_entry(partial, scores, models, fmr_targets, primary)
    record = provenance(
        script=script,
        data=source,
        split="every pair of the set (calibration figures, not a held-out test)",
    )
    return Calibration(source, entries, record)


def _model_entry(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    fmr_targets: Sequence[float],
    weights: dict[str, float] | None = None,
) -> ModelCalibration:
    points = [operating_point(genuine, impostor, target) for target in fmr_targets]
    return ModelCalibration(
        thresholds={p.fmr_target: p.threshold for p in points},
        fnmr={p.fmr_target: p.fnmr for p in points},
        eer=equal_error_rate(genuine, impostor)[0],
        impostor_mean=float(impostor.mean()),
        impostor_std=float(impostor.std()),
        n_genuine=len(genuine),
        n_impostor=len(impostor),
        weights=weights or {},
    )


def _fusion_entry(
    partial: Calibration,
    scores: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
    models: Sequence[str],
    fmr_targets: Sequence[float],
    primary: float,
) -> ModelCalibration:
    """Grid-search the fusion weights of two models on TAR at `primary`, then EER."""
    first, second = models[0], models[1]
    best: tuple[float, float, float] | None = None
    for weight in np.round(np.linspace(0.0, 1.0, 21), 2):
        weights = {first: float(weight), second: float(1.0 - weight)}
        fused = Calibration(partial.source, {**partial.models, FUSION: _weights_only(weights)})
        genuine = fused.fuse({m: scores[m][0] for m in models})
        impostor = fused.fuse({m: scores[m][1] for m in models})
        point = operating_point(genuine, impostor, primary)
        key = (-point.fnmr, -point.eer, float(weight))
        if best is None or key > best:
            best = key
    assert best is not None
    weights = {first: best[2], second: round(1.0 - best[2], 2)}
    fused = Calibration(partial.source, {**partial.models, FUSION: _weights_only(weights)})
    genuine = fused.fuse({m: scores[m][0] for m in models})
    impostor = fused.fuse({m: scores[m][1] for m in models})
    return _model_entry(genuine, impostor, fmr_targets, weights)


def _weights_only(weights: dict[str, float]) -> ModelCalibration:
    return ModelCalibration({}, {}, 0.0, 0.0, 1.0, 0, 0, weights)


# ---- thresholds across several calibration sets ------------------------------------------
#
# The shipped thresholds must keep their stated FMR on people they were not fitted on, so
# they are set over several labelled sets at once. These functions work on scores only;
# ``scripts/fit_thresholds.py`` and ``benchmarks/bench_thresholds.py`` embed the sets.

#: How :func:`rule_threshold` combines the impostor scores of several sets.
POOLING_RULES = ("max", "pooled", "pooled-equal")


def weighted_threshold_at_fmr(
    impostor: npt.ArrayLike, weights: npt.ArrayLike, fmr: float, *, presorted: bool = False
) -> float:
    """:func:`~facescope.match.metrics.threshold_at_fmr` with a weight per impostor score.

    The smallest threshold whose weighted false-match rate (weight of the impostors
    scoring >= t over the total weight) is <= `fmr`. With unit weights it equals
    ``threshold_at_fmr``. `presorted`: the scores are already in descending order.
    """
    scores = np.asarray(impostor, dtype=np.float64)
    mass = np.asarray(weights, dtype=np.float64)
    if scores.shape != mass.shape:
        raise CalibrationError("one weight per impostor score is needed")
    if len(scores) == 0 or not mass.sum() > 0:
        raise CalibrationError("no impostor scores to calibrate a threshold on")
    if not 0.0 < fmr < 1.0:
        raise CalibrationError(f"fmr must be in (0, 1), got {fmr}")
    if not presorted:
        order = np.argsort(-scores, kind="stable")
        scores, mass = scores[order], mass[order]
    cumulative = np.cumsum(mass)
    allowed = fmr * cumulative[-1] * (1 + 1e-9)
    first_over = int(np.searchsorted(cumulative, allowed, side="right"))
    if first_over >= len(scores):
        return float(scores[-1])
    return float(np.nextafter(scores[first_over], np.inf))


def pooled_threshold(
    impostor_sets: Sequence[npt.ArrayLike], fmr: float, *, equal_weight: bool = False
) -> float:
    """The threshold at `fmr` over the impostor scores of several sets together.

    By default every impostor pair counts once (a large set dominates); with
    `equal_weight` each set carries the same total weight (the FMR is the mean of
    the sets' FMRs).
    """
    arrays = [np.asarray(s, dtype=np.float64) for s in impostor_sets if np.size(s)]
    if not arrays:
        raise CalibrationError("no impostor scores to calibrate a threshold on")
    scores = np.concatenate(arrays)
    if not equal_weight:
        return threshold_at_fmr(scores, fmr)
    weights = np.concatenate([np.full(len(a), 1.0 / len(a)) for a in arrays])
    return weighted_threshold_at_fmr(scores, weights, fmr)


def rule_threshold(rule: str, impostor_sets: Sequence[npt.ArrayLike], fmr: float) -> float:
    """The threshold at `fmr` that `rule` sets from several sets' impostor scores.

    ``max``: the highest of the per-set thresholds, so that the FMR is at most `fmr`
    on every set; ``pooled``: all impostor pairs together; ``pooled-equal``: all
    together, each set weighted equally.
    """
    if rule == "max":
        return max(threshold_at_fmr(s, fmr) for s in impostor_sets if np.size(s))
    if rule == "pooled":
        return pooled_threshold(impostor_sets, fmr)
    if rule == "pooled-equal":
        return pooled_threshold(impostor_sets, fmr, equal_weight=True)
    raise CalibrationError(f"unknown rule {rule!r}; choose one of: {', '.join(POOLING_RULES)}")


def identity_bootstrap_thresholds(
    impostor: npt.ArrayLike,
    id_a: npt.ArrayLike,
    id_b: npt.ArrayLike,
    fmr_targets: Sequence[float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Thresholds at each FMR target over `n_boot` resamples of identities, (n_boot, targets).

    Pairs are not independent (every image of a person takes part in many), so the
    identities are resampled with replacement: an identity drawn c times stands for
    c people. An impostor pair of identities (i, j) then counts c_i * c_j times.
    `id_a` and `id_b` are the integer identity codes (0..k-1) of each pair's two faces.
    """
    scores = np.asarray(impostor, dtype=np.float64)
    a = np.asarray(id_a, dtype=np.int64)
    b = np.asarray(id_b, dtype=np.int64)
    if not (scores.shape == a.shape == b.shape) or len(scores) == 0:
        raise CalibrationError("need one (score, identity, identity) triple per impostor pair")
    order = np.argsort(-scores, kind="stable")
    scores, a, b = scores[order], a[order], b[order]
    identities = np.unique(np.concatenate([a, b]))
    size = int(identities.max()) + 1
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(fmr_targets)), dtype=np.float64)
    for row in range(n_boot):
        drawn = rng.choice(identities, size=len(identities), replace=True)
        counts = np.bincount(drawn, minlength=size).astype(np.float64)
        weights = counts[a] * counts[b]
        if not weights.sum() > 0:  # every draw was one identity: no impostor pair
            out[row] = np.nan
            continue
        for col, fmr in enumerate(fmr_targets):
            out[row, col] = weighted_threshold_at_fmr(scores, weights, fmr, presorted=True)
    return out


def bootstrap_interval(samples: npt.ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval holding `level` of the bootstrap `samples` (NaNs ignored)."""
    values = np.asarray(samples, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise CalibrationError("no bootstrap samples")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class HeldOut:
    """A threshold fitted without one set, and the error rates it gives on that set."""

    held_out: str
    threshold: float
    fmr_target: float
    fmr: float
    fnmr: float

    @property
    def fmr_ratio(self) -> float:
        """Measured FMR over the target (1 is on target; 3 is the tolerance we ship with)."""
        return self.fmr / self.fmr_target


def leave_one_set_out(
    genuine: dict[str, npt.NDArray[np.float64]],
    impostor: dict[str, npt.NDArray[np.float64]],
    fmr: float,
    rule: str | Callable[[Sequence[npt.NDArray[np.float64]]], float],
) -> dict[str, HeldOut]:
    """For each set: the threshold `rule` fits on the others, measured on it.

    `genuine` and `impostor` map each set to its scores (a genuine pair with a
    failure to enrol scores -inf: it counts as a false non-match). `rule` is a
    :func:`rule_threshold` name or a function of the other sets' impostor scores.
    """
    if len(impostor) < 2:
        raise CalibrationError("leaving one set out needs at least two sets")

    def fit(sets: Sequence[npt.NDArray[np.float64]]) -> float:
        return rule_threshold(rule, sets, fmr) if isinstance(rule, str) else rule(sets)

    results = {}
    for name in impostor:
        threshold = fit([scores for other, scores in impostor.items() if other != name])
        fmr_here = float((np.asarray(impostor[name]) >= threshold).mean())
        fnmr_here = float((np.asarray(genuine[name]) < threshold).mean())
        results[name] = HeldOut(name, threshold, fmr, fmr_here, fnmr_here)
    return results


def person_folds(
    identities: Sequence[str] | npt.ArrayLike, n_folds: int = 2, *, seed: int = 0
) -> npt.NDArray[np.int64]:
    """A fold number per sample, splitting by person: all of a person's images share a fold.

    Identities are shuffled (seeded) and dealt round-robin, so fold sizes in people
    differ by at most one.
    """
    labels = np.asarray(identities)
    people = np.unique(labels)
    if len(people) < n_folds:
        raise CalibrationError(f"{len(people)} identities cannot make {n_folds} folds")
    shuffled = np.random.default_rng(seed).permutation(people)
    fold_of = {person: index % n_folds for index, person in enumerate(shuffled)}
    return np.asarray([fold_of[label] for label in labels], dtype=np.int64)


@dataclass(frozen=True)
class FusionFit:
    """A score fusion: each model's impostor (mean, std) for z-norm, and the weights."""

    stats: dict[str, tuple[float, float]]
    weights: dict[str, float]


def fuse_scores(scores: Mapping[str, npt.ArrayLike], fusion: FusionFit) -> npt.NDArray[np.float64]:
    """The fused score (weighted sum of z-normed scores); -inf where any input is not finite.

    The same arithmetic as :meth:`facescope.match.thresholds.Calibration.fuse`.
    """
    total: npt.NDArray[np.float64] | None = None
    finite: npt.NDArray[np.bool_] | None = None
    for model, weight in fusion.weights.items():
        mean, std = fusion.stats[model]
        values = np.asarray(scores[model], dtype=np.float64)
        ok = np.isfinite(values)
        z = weight * (np.where(ok, values, 0.0) - mean) / std
        total = z if total is None else total + z
        finite = ok if finite is None else finite & ok
    if total is None or finite is None:
        raise CalibrationError("a fusion needs at least one weighted model")
    return np.where(finite, total, -np.inf)


def fit_fusion(
    genuine: Mapping[str, npt.ArrayLike],
    impostor: Mapping[str, npt.ArrayLike],
    *,
    fmr: float = 1e-3,
    steps: int = 21,
) -> FusionFit:
    """Fit the fusion of two models on pooled pairs (as :func:`calibrate_scores` does).

    Z-norm statistics from each model's impostor scores, then the weight grid-searched
    for the lowest FNMR at `fmr` (ties: the lower EER, then the higher first weight).
    Genuine scores of -inf (failures to enrol) stay failures.
    """
    models = list(impostor)
    if len(models) != 2:
        raise CalibrationError(f"fusion is fitted for two models, got {models}")
    stats = {}
    for model in models:
        values = np.asarray(impostor[model], dtype=np.float64)
        stats[model] = (float(values.mean()), float(values.std()))
    first, second = models
    best: tuple[float, float, float] | None = None
    for weight in np.round(np.linspace(0.0, 1.0, steps), 2):
        fit = FusionFit(stats, {first: float(weight), second: float(round(1.0 - weight, 2))})
        point = operating_point(fuse_scores(genuine, fit), fuse_scores(impostor, fit), fmr)
        key = (-point.fnmr, -point.eer, float(weight))
        if best is None or key > best:
            best = key
    assert best is not None
    return FusionFit(stats, {first: best[2], second: round(1.0 - best[2], 2)})
