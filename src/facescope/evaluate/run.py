"""``evaluate()``: a dataset and a list of models in, ISO/IEC 19795-1 metrics out.

Data flow: dataset (:mod:`~facescope.evaluate.datasets`) -> embeddings, cached
on disk (:mod:`~facescope.evaluate.cache`; a re-run costs no inference) ->
scores per pair and per probe (in batches, as matrix products) -> metrics
(:mod:`~facescope.evaluate.metrics`) -> report (:mod:`~facescope.report.html`).

Failures are counted, never dropped: an image in which no face is found is a
failure to acquire; every pair that involves it is a non-match at every
threshold (a false non-match when genuine, a correct rejection when not), and a
probe without a face is never identified. Gallery images without a face are
failures to enrol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._deprecation import renamed_argument
from facescope.evaluate.cache import EmbeddedDataset, EmbeddingCache, embed_dataset
from facescope.evaluate.datasets import Dataset, Pairs, generate_pairs, identification_split
from facescope.evaluate.defaults import DEFAULT_BOOT, MODELS
from facescope.evaluate.metrics import (
    DEFAULT_FMR_TARGETS,
    IdentificationMetrics,
    VerificationMetrics,
    bootstrap_verification,
    fairness,
    identification_metrics,
    verification_metrics,
)
from facescope.match.thresholds import load_calibration

FloatArray = npt.NDArray[np.float64]

#: The score given to comparisons that involve an image without a face: below any real score.
FAILED = -1e6


@dataclass
class ModelResult:
    """What one model (or the fusion) scored on one dataset."""

    model: str
    verification: VerificationMetrics | None = None
    identification: IdentificationMetrics | None = None
    genuine: FloatArray = field(default_factory=lambda: np.zeros(0))
    impostor: FloatArray = field(default_factory=lambda: np.zeros(0))
    fairness: dict[str, Any] = field(default_factory=dict)
    #: at the shipped (or given) thresholds, not re-fitted on this data: one entry per
    #: FMR target in the calibrated range, ``{"fmr_target", "threshold", "fmr", "fnmr"}``
    at_shipped: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metrics."""
        return {
            "model": self.model,
            "at_shipped_thresholds": self.at_shipped,
            "verification": None if self.verification is None else self.verification.to_dict(),
            "identification": (
                None if self.identification is None else self.identification.to_dict()
            ),
            "fairness": self.fairness,
        }


@dataclass
class Evaluation:
    """Metrics of several models on one dataset, with how they were obtained."""

    dataset: str
    root: str
    n_images: int
    n_subjects: int
    failures: dict[str, str]
    fta: float
    n_genuine: int
    n_impostor: int
    results: dict[str, ModelResult]
    settings: dict[str, Any]
    identification_protocol: dict[str, int] = field(default_factory=dict)
    #: groups of byte-identical image files (paths relative to the root), if any
    duplicates: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready evaluation."""
        return {
            "duplicates": self.duplicates,
            "dataset": self.dataset,
            "root": self.root,
            "images": self.n_images,
            "subjects": self.n_subjects,
            "failure_to_acquire": {"rate": self.fta, "images": self.failures},
            "pairs": {"genuine": self.n_genuine, "impostor": self.n_impostor},
            "identification_protocol": self.identification_protocol,
            "settings": self.settings,
            "models": {name: r.to_dict() for name, r in self.results.items()},
        }

    def report(self, folder: str | Path) -> Path:
        """Write the HTML report and metrics.json into `folder`; returns the HTML path."""
        from facescope.evaluate.report_builder import evaluation_report

        return evaluation_report([self], folder)


def _pair_scores(
    vectors: npt.NDArray[np.float32], ok: npt.NDArray[np.bool_], pairs: Pairs
) -> FloatArray:
    """Cosine score per pair; FAILED where either image has no face."""
    a, b = pairs.a, pairs.b
    scores = np.full(len(a), FAILED, np.float64)
    usable = ok[a] & ok[b]
    va = vectors[a[usable]].astype(np.float64)
    vb = vectors[b[usable]].astype(np.float64)
    scores[usable] = np.einsum("ij,ij->i", va, vb)
    return scores


def _fused(per_model: dict[str, FloatArray], calibration: Any) -> FloatArray:
    failed = np.zeros(len(next(iter(per_model.values()))), bool)
    for scores in per_model.values():
        failed |= scores <= FAILED
    fused = np.asarray(calibration.fuse(per_model), np.float64)
    fused[failed] = FAILED
    return fused


def rates_at(genuine: FloatArray, impostor: FloatArray, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) at `threshold` (score >= threshold is a match); a comparison with a
    failure to acquire (score FAILED) is a non-match, so it counts against FNMR."""
    fmr = float(np.mean(impostor >= threshold)) if len(impostor) else float("nan")
    fnmr = float(np.mean(genuine < threshold)) if len(genuine) else float("nan")
    return fmr, fnmr


def _at_shipped(
    model: str,
    genuine: FloatArray,
    impostor: FloatArray,
    calibration: Any,
    targets: Sequence[float],
) -> list[dict[str, float]]:
    from facescope.errors import CalibrationError

    try:
        calibrated = calibration.for_model(model)
    except CalibrationError:
        return []
    low, high = calibrated.fmr_range
    out = []
    for target in targets:
        if not low <= target <= high:
            continue
        threshold = float(calibrated.threshold(target))
        fmr, fnmr = rates_at(genuine, impostor, threshold)
        out.append({"fmr_target": target, "threshold": threshold, "fmr": fmr, "fnmr": fnmr})
    return out


def duplicate_files(dataset: Dataset) -> list[list[str]]:
    """Groups of byte-identical image files in `dataset` (SHA-256 of the bytes), paths
    relative to its root; a photo copied under two names (or two people) skews the rates."""
    import hashlib

    groups: dict[str, list[str]] = {}
    for path in dataset.paths:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            continue  # unreadable: reported as a failure to acquire
        try:
            name = str(Path(path).relative_to(dataset.root))
        except ValueError:
            name = str(path)
        groups.setdefault(digest, []).append(name)
    return [sorted(names) for names in groups.values() if len(names) > 1]


def evaluate(
    dataset: Dataset,
    *,
    models: Sequence[str] = MODELS,
    pairs: Pairs | None = None,
    verification: bool = True,
    identification: bool = True,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    fpir_targets: Sequence[float] = (0.01, 0.1),
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    group: str | None = None,
    max_impostor: int | None = None,
    cache: EmbeddingCache | None = None,
    assume_aligned: bool | None = None,
    thresholds: str | Path | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    far_targets: Sequence[float] | None = None,
) -> Evaluation:
    """Evaluate recognition models on a labelled dataset.

    Args:
        dataset: from :func:`facescope.evaluate.load_dataset`.
        models: any of ``"sface"``, ``"dlib"``, ``"fusion"`` (fusion needs both).
        pairs: explicit verification pairs; default: the dataset's own pairs
            file if it came with one, else every genuine and impostor pair
            (``max_impostor`` samples impostors, seeded).
        verification, identification: which protocols to run. Identification is
            open set: a seeded half of the subjects are never enrolled (their
            images are non-mated probes); the others enrol one image each.
        fmr_targets, fpir_targets: operating points to report (``far_targets``
            is the deprecated name of `fmr_targets`).
        n_boot: bootstrap draws (resampling identities) for confidence intervals;
            0 turns them off.
        seed: for pair sampling, the identification split and the bootstrap.
        group: a label column of the dataset to split the metrics by (fairness).
        cache: where embeddings are kept; default: the user cache.
        thresholds: a calibration file for the fusion (default: the bundled one).
    """
    fmr_targets = renamed_argument(
        "evaluate",
        "far_targets",
        far_targets,
        "fmr_targets",
        fmr_targets,
        new_default=DEFAULT_FMR_TARGETS,
    )
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    base = sorted(
        {m for m in models if m != "fusion"} | ({"sface", "dlib"} if "fusion" in models else set())
    )
    embedded: EmbeddedDataset = embed_dataset(
        dataset,
        base,
        cache=cache if cache is not None else EmbeddingCache(),
        assume_aligned=assume_aligned,
        progress=progress,
    )
    ok = np.asarray(embedded.found, bool)
    calibration = load_calibration(thresholds)
    identities = np.asarray(dataset.identities)
    results = {m: ModelResult(m) for m in models}
    settings: dict[str, Any] = {
        "fmr_targets": list(fmr_targets),
        "far_targets": list(fmr_targets),  # the old key, for readers of earlier reports
        "fpir_targets": list(fpir_targets),
        "bootstrap": n_boot,
        "seed": seed,
        "max_impostor": max_impostor,
        "fusion_calibration": calibration.source,
    }
    n_genuine = n_impostor = 0
    if verification:
        chosen = (
            pairs or dataset.pairs or generate_pairs(dataset, max_impostor=max_impostor, seed=seed)
        )
        n_genuine, n_impostor = int(chosen.same.sum()), int((~chosen.same).sum())
        per_model = {m: _pair_scores(embedded.vectors[m], ok, chosen) for m in base}
        if "fusion" in models:
            per_model["fusion"] = _fused({m: per_model[m] for m in ("sface", "dlib")}, calibration)
        ids_a, ids_b = identities[chosen.a], identities[chosen.b]
        for m in models:
            scores = per_model[m]
            gen, imp = scores[chosen.same], scores[~chosen.same]
            metrics = verification_metrics(gen, imp, fmr_targets=fmr_targets)
            if n_boot > 0:
                metrics.ci.update(
                    bootstrap_verification(
                        scores, chosen.same, ids_a, ids_b,
                        fmr_targets=fmr_targets, n_boot=n_boot, seed=seed,
                    )
                )  # fmt: skip
            result = results[m]
            result.at_shipped = _at_shipped(m, gen, imp, calibration, fmr_targets)
            result.verification = metrics
            result.genuine, result.impostor = gen[gen > FAILED], imp[imp > FAILED]
            if group is not None:
                result.fairness = _fairness(dataset, group, chosen, scores, metrics, fmr_targets)
    protocol: dict[str, int] = {}
    if identification:
        gallery, probes = identification_split(dataset, seed=seed)
        protocol = {
            "gallery_images": len(gallery),
            "gallery_enrolled": int(ok[gallery].sum()),
            "probes": len(probes),
            "probes_mated": int(
                np.isin(identities[probes], identities[gallery[ok[gallery]]]).sum()
            ),
        }
        enrolled = gallery[ok[gallery]]
        if len(enrolled) == 0:
            raise ValueError(
                f"{dataset.name}: no gallery image has a usable face, so identification cannot"
                " be measured; run with identification=False (--no-identify)"
            )
        sims: dict[str, FloatArray] = {}
        for m in base:
            v = embedded.vectors[m].astype(np.float64)
            sim = np.full((len(probes), len(enrolled)), FAILED)
            good = ok[probes]
            sim[good] = v[probes[good]] @ v[enrolled].T
            sims[m] = sim
        if "fusion" in models:
            flat = {m: sims[m].ravel() for m in ("sface", "dlib")}
            sims["fusion"] = _fused(flat, calibration).reshape(sims["sface"].shape)
        for m in models:
            results[m].identification = identification_metrics(
                sims[m], identities[probes], identities[enrolled], fpir_targets=fpir_targets
            )
    failures = dict(embedded.failures)
    return Evaluation(
        dataset=dataset.name,
        root=str(dataset.root),
        n_images=len(dataset),
        n_subjects=len(dataset.subjects),
        failures=failures,
        fta=float(1.0 - ok.mean()) if len(ok) else 0.0,
        n_genuine=n_genuine,
        n_impostor=n_impostor,
        results=results,
        settings=settings,
        identification_protocol=protocol,
        duplicates=duplicate_files(dataset),
    )


def _fairness(
    dataset: Dataset,
    group: str,
    pairs: Pairs,
    scores: FloatArray,
    metrics: VerificationMetrics,
    fmr_targets: Sequence[float],
) -> dict[str, Any]:
    labels = dataset.groups.get(group)
    if labels is None:
        raise ValueError(
            f"dataset {dataset.name} has no label column {group!r}; "
            f"it has: {', '.join(sorted(dataset.groups)) or 'none'}"
        )
    column = np.asarray(labels)
    same_group = column[pairs.a] == column[pairs.b]
    threshold = metrics.thresholds[min(fmr_targets, key=lambda f: abs(f - 1e-3))]
    gen = pairs.same
    imp = ~pairs.same & same_group  # impostors within a group: the demographic comparison
    result = fairness(
        scores[gen], column[pairs.a][gen], scores[imp], column[pairs.a][imp], threshold=threshold
    )
    return {"group": group, "threshold": threshold, **result.to_dict()}


def evaluate_datasets(
    sources: Sequence[str | Path],
    *,
    models: Sequence[str] = MODELS,
    pairs: str | Path | None = None,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    max_impostor: int | None = None,
    group: str | None = None,
    identification: bool = True,
    cache: str | Path | None = None,
    on_dataset: Callable[[Dataset], None] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> list[Evaluation]:
    """:func:`evaluate` each dataset (see :func:`~facescope.evaluate.datasets.load_dataset`).

    One embedding cache serves them all (`cache`: its file; default: the user cache).
    `on_dataset` is told each dataset once it is loaded, before it is evaluated.
    """
    from facescope.evaluate.datasets import load_dataset

    store = EmbeddingCache(cache)
    evaluations = []
    for source in sources:
        dataset = load_dataset(source, pairs=pairs)
        if on_dataset is not None:
            on_dataset(dataset)
        evaluations.append(
            evaluate(
                dataset,
                models=models,
                n_boot=n_boot,
                seed=seed,
                max_impostor=max_impostor,
                group=group,
                identification=identification,
                cache=store,
                progress=progress,
            )
        )
    return evaluations
