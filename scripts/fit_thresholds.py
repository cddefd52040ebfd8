"""Calibrate the shipped recognition thresholds (``src/facescope/match/thresholds.json``).

Embeds every labelled face set under ``<testdata>/faces`` (``aligned_celebrities``:
12 people x 50 aligned crops; ``extended_yaleb_dev``: 19 people x ~63 greyscale crops
under 64 lighting directions; ``orl``: 40 people x 10 greyscale photos), the largest
face of each image with the default detector (``FACESCOPE_DETECTOR``), and scores
every genuine and impostor pair of each set (pairs never cross sets). Images with no
face are failures to enrol: their genuine pairs count as false non-matches (ISO/IEC
19795-1), their impostor pairs are left out.

Each model's threshold at FMR 1e-2, 1e-3 and 1e-4 is then set by the shipping rule
(``--rule``, default ``max``: the highest of the per-set thresholds, so the stated FMR
holds on every set; see ``docs/calibration-study.md`` and
``benchmarks/bench_thresholds.py`` for the comparison of rules on people a threshold
was not fitted on). The fusion (impostor z-norm statistics and weights) is fitted on
the pooled pairs of all sets, then thresholded by the same rule. The provenance lists
the sets, their counts, the rule, and each set's own threshold with its identity
bootstrap 95% interval.

Embeddings are cached in ``out/threshold_cache/`` (keyed by set, model, detector name,
``DetectOptions()`` defaults and the weight pins), so a rerun after a change of
detector re-embeds only what changed; ``--refresh`` re-embeds regardless (after a
detection or alignment code change that shows in neither). About 6 minutes on 2 cores
from cold, under a minute when cached.

    python scripts/fit_thresholds.py [--rule max] [--models sface dlib [arcface]]
                                     [--refresh] [--out src/facescope/match/thresholds.json]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.detect.faces import DetectOptions, detector_name
from facescope.embed.recognizers import get_recognizer
from facescope.evaluate.cache import model_version
from facescope.heads import provenance
from facescope.match.calibrate import (
    DEFAULT_FMR_TARGETS,
    FusionFit,
    bootstrap_interval,
    fit_fusion,
    fuse_scores,
    identity_bootstrap_thresholds,
    rule_threshold,
)
from facescope.match.metrics import equal_error_rate, threshold_at_fmr
from facescope.match.thresholds import FUSION, Calibration, ModelCalibration
from facescope.pipeline import embed_largest_faces

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
FACES = TESTDATA / "faces"
CACHE = ROOT / "out" / "threshold_cache"
#: The labelled sets calibrated on (``public_portraits`` has 2 people: too few impostor
#: pairs to measure an FMR of 1e-3; ``skimage.data.lfw_subset`` is unlabelled).
CALIBRATION_SETS = ("aligned_celebrities", "extended_yaleb_dev", "orl")
BASE_MODELS = ("sface", "dlib")
#: Calibrated by default: the base models and the opt-in ArcFace where it loads.
DEFAULT_MODELS = (*BASE_MODELS, "arcface")
RULES = ("max", "pooled", "pooled-equal", "celebrity-only")
#: The rule the shipped file uses (chosen in docs/calibration-study.md).
DEFAULT_RULE = "max"
BOOTSTRAPS = 500
SEED = 0


@dataclass(frozen=True)
class EmbeddedSet:
    """One labelled set, embedded: every image's identity, whether a face was found, vectors."""

    name: str
    paths: list[str]
    identities: npt.NDArray[np.str_]
    found: npt.NDArray[np.bool_]
    vectors: dict[str, npt.NDArray[np.float32]]  # (n, d); NaN rows where no face was found

    @property
    def fte(self) -> float:
        return float((~self.found).mean())


@dataclass(frozen=True)
class SetScores:
    """All pairs of one set (each once): per model, genuine and impostor scores.

    Genuine pairs with a failure to enrol score -inf (a false non-match); impostor
    pairs with one are left out. ``impostor_ids`` holds the identity codes (row
    a, row b) of each impostor pair, for the identity bootstrap.
    """

    name: str
    genuine: dict[str, npt.NDArray[np.float64]]
    impostor: dict[str, npt.NDArray[np.float64]]
    impostor_ids: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]
    genuine_ids: npt.NDArray[np.int64]
    n_images: int
    n_identities: int
    n_fte: int


def labelled(name: str) -> tuple[list[Path], list[str]]:
    """Image paths and identities of a set (its ``labels.csv``, else one folder per person)."""
    base = FACES / name
    labels = base / "labels.csv"
    if labels.is_file():
        with labels.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [base / r["path"] for r in rows], [r["identity"] for r in rows]
    from facescope.match.calibrate import folder_per_identity

    data = folder_per_identity(base)
    return data.paths, data.identities


def available_models(requested: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The requested models that load here, and why the others were skipped."""
    usable, skipped = [], {}
    for model in requested:
        try:
            get_recognizer(model)
        except Exception as exc:  # an opt-in model not installed or not enabled
            skipped[model] = f"{type(exc).__name__}: {exc}"
            continue
        usable.append(model)
    return usable, skipped


def cache_key(name: str, model: str, paths: Sequence[Path], identities: Sequence[str]) -> str:
    """What the set's embeddings by `model` depend on: files, detector and its settings, weights.

    The model's cache version (:func:`facescope.evaluate.cache.model_version`: weight pins,
    SFace precision, detector, photometric correction) and the detector's default
    settings (``DetectOptions()``) are in the key; a change of detection or alignment
    code that shows in neither needs ``--refresh``.
    """
    digest = hashlib.sha256()
    for path, identity in zip(paths, identities, strict=True):
        line = f"{path.relative_to(FACES / name)}|{identity}|{path.stat().st_size}\n"
        digest.update(line.encode())
    # weights, SFace precision, detector and photometric correction (evaluate.cache's key)
    digest.update(model_version(model).encode())
    digest.update(repr(DetectOptions()).encode())
    return f"{name}-{model}-{detector_name()}-{digest.hexdigest()[:16]}"


def embed_set(
    name: str, models: Sequence[str], *, quiet: bool = False, refresh: bool = False
) -> EmbeddedSet:
    """Embed one set with every model, from the cache where it can (not with `refresh`)."""
    paths, identities = labelled(name)
    CACHE.mkdir(parents=True, exist_ok=True)
    files = {m: CACHE / f"{cache_key(name, m, paths, identities)}.npz" for m in models}
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    found: npt.NDArray[np.bool_] | None = None
    for model, file in files.items():
        if file.is_file() and not refresh:
            with np.load(file) as cached:
                vectors[model] = cached["vectors"]
                found = cached["found"]
    missing = [m for m in models if m not in vectors]
    if missing:
        if not quiet:
            print(f"embedding {name} ({len(paths)} images) with {missing}...", file=sys.stderr)
        batch = embed_largest_faces(paths, missing)
        mask = np.asarray(batch.found, bool)
        if found is not None and not np.array_equal(found, mask):
            print(f"warning: {name}: faces found differ between runs", file=sys.stderr)
        found = mask
        for model in missing:
            got = batch.embeddings[model].vectors
            full = np.full((len(paths), got.shape[1]), np.nan, np.float32)
            full[mask] = got
            vectors[model] = full
            np.savez_compressed(files[model], vectors=full, found=mask)
    assert found is not None
    return EmbeddedSet(
        name,
        [str(p.relative_to(FACES / name)) for p in paths],
        np.asarray(identities),
        found,
        vectors,
    )


def set_scores(data: EmbeddedSet, rows: npt.NDArray[np.bool_] | None = None) -> SetScores:
    """Score all pairs of `data` (of its `rows` only, when given: a person-disjoint part)."""
    keep = np.arange(len(data.identities)) if rows is None else np.flatnonzero(rows)
    names, codes = np.unique(data.identities[keep], return_inverse=True)
    found = data.found[keep]
    upper = np.triu_indices(len(keep), k=1)
    a, b = upper
    same = codes[a] == codes[b]
    acquired = found[a] & found[b]
    genuine: dict[str, npt.NDArray[np.float64]] = {}
    impostor: dict[str, npt.NDArray[np.float64]] = {}
    for model, vectors in data.vectors.items():
        v = np.nan_to_num(vectors[keep].astype(np.float64))
        scores = (v @ v.T)[upper]
        genuine[model] = np.where(acquired[same], scores[same], -np.inf)
        impostor[model] = scores[~same & acquired]
    pick = ~same & acquired
    return SetScores(
        data.name,
        genuine,
        impostor,
        (codes[a][pick].astype(np.int64), codes[b][pick].astype(np.int64)),
        codes[a][same].astype(np.int64),
        len(keep),
        len(names),
        int((~found).sum()),
    )


def with_fusion(sets: Sequence[SetScores], fusion: FusionFit) -> list[SetScores]:
    """The sets with the fusion's scores added (as model ``fusion``)."""
    out = []
    for s in sets:
        genuine = {**s.genuine, FUSION: fuse_scores(s.genuine, fusion)}
        impostor = {**s.impostor, FUSION: fuse_scores(s.impostor, fusion)}
        out.append(
            SetScores(
                s.name,
                genuine,
                impostor,
                s.impostor_ids,
                s.genuine_ids,
                s.n_images,
                s.n_identities,
                s.n_fte,
            )
        )
    return out


def fit_pooled_fusion(sets: Sequence[SetScores], models: Sequence[str]) -> FusionFit:
    """The fusion of `models` fitted on the pooled pairs of `sets`."""
    genuine = {m: np.concatenate([s.genuine[m] for s in sets]) for m in models}
    impostor = {m: np.concatenate([s.impostor[m] for s in sets]) for m in models}
    return fit_fusion(genuine, impostor)


def threshold_by_rule(rule: str, sets: Sequence[SetScores], model: str, fmr: float) -> float:
    """The threshold `rule` sets for `model` at `fmr` from `sets`."""
    if rule == "celebrity-only":
        chosen = [s for s in sets if s.name == "aligned_celebrities"]
        if not chosen:
            raise ValueError("celebrity-only: aligned_celebrities is not among the sets")
        return threshold_at_fmr(chosen[0].impostor[model], fmr)
    return rule_threshold(rule, [s.impostor[model] for s in sets], fmr)


def shipped_calibration(
    sets: Sequence[SetScores],
    models: Sequence[str],
    rule: str,
    fmr_targets: Sequence[float],
    fusion: FusionFit | None,
    *,
    bootstraps: int = BOOTSTRAPS,
    script: str = "python scripts/fit_thresholds.py",
) -> Calibration:
    """The thresholds file: `rule` over `sets`, with per-set spreads in the provenance."""
    scored = list(with_fusion(sets, fusion)) if fusion is not None else list(sets)
    names = [*models, *([FUSION] if fusion is not None else [])]
    entries: dict[str, ModelCalibration] = {}
    per_set: dict[str, dict[str, object]] = {}
    for model in names:
        genuine = np.concatenate([s.genuine[model] for s in scored])
        impostor = np.concatenate([s.impostor[model] for s in scored])
        thresholds = {f: threshold_by_rule(rule, scored, model, f) for f in fmr_targets}
        # A model's z-norm statistics must be those its fusion was fitted with.
        mean, std = float(impostor.mean()), float(impostor.std())
        if fusion is not None and model in fusion.stats:
            mean, std = fusion.stats[model]
        entries[model] = ModelCalibration(
            thresholds=thresholds,
            fnmr={f: float((genuine < t).mean()) for f, t in thresholds.items()},
            eer=equal_error_rate(genuine, impostor)[0],
            impostor_mean=mean,
            impostor_std=std,
            n_genuine=len(genuine),
            n_impostor=len(impostor),
            weights=dict(fusion.weights) if fusion is not None and model == FUSION else {},
        )
        for s in scored:
            boot = identity_bootstrap_thresholds(
                s.impostor[model], *s.impostor_ids, fmr_targets, n_boot=bootstraps, seed=SEED
            )
            block = per_set.setdefault(s.name, {})
            block[model] = {
                f"{f:g}": {
                    "threshold": threshold_at_fmr(s.impostor[model], f),
                    "bootstrap_95": list(bootstrap_interval(boot[:, i])),
                    "fmr_at_shipped": float((s.impostor[model] >= thresholds[f]).mean()),
                    "fnmr_at_shipped": float((s.genuine[model] < thresholds[f]).mean()),
                }
                for i, f in enumerate(fmr_targets)
            }
    datasets = {
        s.name: {
            "images": s.n_images,
            "identities": s.n_identities,
            "fte": s.n_fte,
            "genuine_pairs": len(s.genuine[names[0]]),
            "impostor_pairs": len(s.impostor[names[0]]),
        }
        for s in scored
    }
    summary = ", ".join(
        f"{s.name} ({s.n_images} images, {s.n_identities} identities)" for s in scored
    )
    record = provenance(
        script=script,
        data=summary,
        split="every pair within each set (pairs never cross sets); calibration figures, "
        "not a held-out test: see docs/calibration-study.md for held-out ones",
        seed=SEED,
        rule=_RULE_TEXT[rule],
        rule_name=rule,
        detector=detector_name(),
        datasets=datasets,
        per_dataset=per_set,
        bootstrap=f"{bootstraps} resamples of identities (with replacement), percentile 95%",
        fte="images with no face: their genuine pairs count as false non-matches (fnmr), "
        "their impostor pairs are left out",
    )
    return Calibration(summary, entries, record)


_RULE_TEXT = {
    "max": "per model and FMR, the highest of the per-set thresholds (the stated FMR holds "
    "on every calibration set)",
    "pooled": "per model and FMR, the threshold on all impostor pairs of all sets together",
    "pooled-equal": "per model and FMR, the threshold on all sets' impostor pairs, each set "
    "weighted equally",
    "celebrity-only": "per model and FMR, the threshold on aligned_celebrities alone",
}


def load_sets(
    models: Sequence[str],
    names: Sequence[str] = CALIBRATION_SETS,
    *,
    quiet: bool = False,
    refresh: bool = False,
) -> list[EmbeddedSet]:
    """Embed (or read from the cache) every calibration set present."""
    sets = []
    for name in names:
        if not (FACES / name).is_dir():
            print(f"{FACES / name} is absent: left out", file=sys.stderr)
            continue
        sets.append(embed_set(name, models, quiet=quiet, refresh=refresh))
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", choices=RULES, default=DEFAULT_RULE)
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help="recognisers to calibrate (arcface is skipped, with the reason, where it is "
        "not installed or its licence not accepted: its thresholds then leave the file)",
    )
    parser.add_argument("--fmr", type=float, nargs="+", default=list(DEFAULT_FMR_TARGETS))
    parser.add_argument("--bootstraps", type=int, default=BOOTSTRAPS)
    parser.add_argument("--refresh", action="store_true", help="re-embed, ignoring the cache")
    parser.add_argument("--out", type=Path, default=ROOT / "src/facescope/match/thresholds.json")
    args = parser.parse_args()
    models, skipped = available_models(args.models)
    for model, why in skipped.items():
        print(f"{model}: skipped ({why})", file=sys.stderr)
    if not models:
        return 1
    embedded = load_sets(models, refresh=args.refresh)
    if len(embedded) < (1 if args.rule == "celebrity-only" else 2):
        print(f"too few calibration sets under {FACES}", file=sys.stderr)
        return 1
    scored = [set_scores(e) for e in embedded]
    fusion = fit_pooled_fusion(scored, models[:2]) if len(models) >= 2 else None
    script = "python scripts/fit_thresholds.py"
    if args.rule != DEFAULT_RULE:
        script += f" --rule {args.rule}"
    if list(args.models) != list(DEFAULT_MODELS):
        script += f" --models {' '.join(args.models)}"
    if tuple(args.fmr) != DEFAULT_FMR_TARGETS:
        script += f" --fmr {' '.join(f'{t:g}' for t in args.fmr)}"
    calibration = shipped_calibration(
        scored, models, args.rule, args.fmr, fusion, bootstraps=args.bootstraps, script=script
    )
    saved = calibration.save(args.out)
    for name, entry in calibration.models.items():
        shown = ", ".join(f"FMR {f:g}: {t:.4f}" for f, t in entry.thresholds.items())
        print(f"{name}: {shown} (pooled FNMR at 1e-3 {entry.fnmr.get(1e-3, float('nan')):.4f})")
    print(f"wrote {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
