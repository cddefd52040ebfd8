"""Fit the AU calibration and expression head (``src/facescope/analysis/expression/au_head.json``).

The meshes and measures are those of ``benchmarks/bench_au.py`` (every CK+ crop
upscaled and meshed; the ORL faces for the population neutral; cached in
``out/``). Then, on the CK+ ``fit`` subjects only:

1. the AU scales: per AU, the largest per-class median activation among the
   expressions whose FACS prototype holds the AU (at least 0.5 mm);
2. the expression head: a multinomial :class:`~facescope.heads.LogisticHead` on
   the raw measures (standardised; classes balanced; scikit-learn's lbfgs), its
   L2 strength chosen by 5-fold subject-grouped cross-validation (macro-F1);
   accuracy, macro-F1 and recall on the ``test`` subjects go into its provenance.

Also written, for the ensemble weight search (``scripts/fit_expression_weights.py``):
``out/ckplus_au_head_probs.npz`` (per split, ``load_ckplus(split)`` order: ``fit``
out-of-fold by subject, ``test`` the final head) and ``out/au_head_ckplus.npy``
(all samples, ``load_ckplus()`` order).

Deterministic: with the defaults it reproduces the shipped file (numbers kept to
6 decimals, as shipped). Seconds on 2 cores with the meshes cached (the
first run meshes 1,327 images: a few minutes).

    python scripts/fit_au_head.py [--out src/facescope/analysis/expression/au_head.json]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console

from facescope._json import write_json
from facescope.analysis.au import (
    ACTION_UNITS,
    MEASURE_NAMES,
    PROTOTYPES,
    au_activations,
    calibration_payload,
    measures_from_canonical,
)
from facescope.analysis.expression.au_head import HEAD_PATH
from facescope.analysis.expression.ckplus import DEFAULT_ROOT, load_ckplus
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.heads import LogisticHead, provenance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_au  # noqa: E402  (the meshes and measures are the benchmark's)

OUT = ROOT / "out"
CLASSES = bench_au.CLASSES
#: Candidate L2 strengths (scikit-learn C = 1 / l2), chosen by cross-validation.
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FOLDS = 5
DECIMALS = 6
FloatArray = npt.NDArray[np.float64]


def fit_scales(measures: FloatArray, labels: list[str], neutral: FloatArray) -> FloatArray:
    """Per-AU scale (mm): the largest per-class median activation among the classes whose
    FACS prototype holds the AU (at least 0.5 mm), so 1.0 ~ that class's typical pose."""
    raw = au_activations(measures, neutral)
    labels_arr = np.array(labels)
    scales = np.ones(len(ACTION_UNITS))
    for k, au in enumerate(ACTION_UNITS):
        if au == "AU43":
            continue  # defined scale: relative aperture loss, 1 = closed
        medians = [
            float(np.median(raw[labels_arr == c, k]))
            for c, aus in PROTOTYPES.items()
            if au in aus and (labels_arr == c).any()
        ]
        scales[k] = max(max(medians), 0.5) if medians else 1.0
    return scales


def fit_head(x: FloatArray, labels: npt.NDArray[np.str_], c: float) -> LogisticHead:
    """The expression head at scikit-learn's C = `c` (balanced classes, lbfgs)."""
    head = LogisticHead(
        l2=1.0 / c,
        class_weight="balanced",
        solver="lbfgs",
        max_iter=5000,
        class_names=CLASSES,
        feature_names=MEASURE_NAMES,
    )
    return head.fit(x, labels)


def out_of_fold(
    x: FloatArray, labels: npt.NDArray[np.str_], groups: npt.NDArray[Any], c: float
) -> FloatArray:
    """(n, 6) subject-grouped out-of-fold probabilities."""
    from sklearn.model_selection import GroupKFold

    proba = np.zeros((len(x), len(CLASSES)))
    for train, held in GroupKFold(n_splits=FOLDS).split(x, labels, groups):
        proba[held] = fit_head(x[train], labels[train], c).predict_proba(x[held])
    return proba


def rounded(head: LogisticHead) -> LogisticHead:
    """The head with its numbers kept to DECIMALS decimals (as shipped)."""
    document = head.to_json()
    for key in ("mean", "scale", "intercept"):
        document[key] = [round(v, DECIMALS) for v in document[key]]
    document["coef"] = [[round(v, DECIMALS) for v in row] for row in document["coef"]]
    return LogisticHead.from_json(document)


def population_neutral(console: Console) -> tuple[FloatArray, str]:
    """Median measures over ORL (mostly neutral faces); else the canonical face's."""
    if (bench_au.ORL / "labels.csv").is_file():
        with (bench_au.ORL / "labels.csv").open() as handle:
            orl_paths = [bench_au.ORL / row["path"] for row in csv.DictReader(handle)]
        orl_meshes, orl_failures = bench_au.mesh_images(orl_paths, "orl")
        orl = bench_au.measures_of(orl_meshes)
        console.print(f"ORL: {len(orl_paths)} faces, {orl_failures} mesh failures")
        usable = int(np.isfinite(orl).all(1).sum())
        return np.nanmedian(orl, axis=0), f"median over {usable} AT&T/ORL faces (40 people)"
    from facescope.analysis.geometry import face_geometry

    return measures_from_canonical(face_geometry().canonical), "canonical face (ORL absent)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    args = parser.parse_args()
    console = Console()
    if not (DEFAULT_ROOT / "labels.csv").is_file():
        console.print(f"CK+ not found at {DEFAULT_ROOT} (see ../shared/testdata)")
        return 1
    samples = load_ckplus()
    meshes, failures = bench_au.mesh_images([s.path for s in samples], "ckplus")
    measures = bench_au.measures_of(meshes)
    split = np.array([s.split for s in samples])
    labels = np.array([s.label for s in samples])
    groups = np.array([s.subject for s in samples])
    ok = np.isfinite(measures).all(1)
    fit, test = ok & (split == "fit"), ok & (split == "test")

    neutral, source = population_neutral(console)
    scales = fit_scales(measures[fit], labels[fit].tolist(), neutral)

    cv: dict[float, float] = {}
    for c in C_GRID:
        proba = out_of_fold(measures[fit], labels[fit], groups[fit], c)
        cv[c] = bench_au.macro_f1(labels[fit], np.array(CLASSES)[proba.argmax(1)])
    best_c = max(cv, key=lambda c: cv[c])
    console.print(
        "fit-split 5-fold (by subject) macro-F1 by C: "
        + ", ".join(f"C={c:g}: {f:.3f}" for c, f in cv.items())
        + f" -> C={best_c:g}"
    )
    head = fit_head(measures[fit], labels[fit], best_c)
    scores = bench_au.test_scores(head.predict(measures[test]), labels[test])
    console.print(f"AU head on CK+ test: accuracy {scores['accuracy']:.3f}, "
                  f"macro-F1 {scores['macro_f1']:.3f}")  # fmt: skip
    shipped = rounded(head)
    shipped.set_provenance(
        **provenance(
            script="python scripts/fit_au_head.py",
            data=f"CK+ fit subjects ({int(fit.sum())} crops, {len(set(groups[fit]))} subjects; "
            "last frames of posed sequences; contempt excluded)",
            split="facescope.analysis.expression.ckplus.subject_split (sha256 of subject id)",
            seed=0,
            metrics={
                "test": {
                    "accuracy": round(scores["accuracy"], 4),
                    "macro_f1": round(scores["macro_f1"], 4),
                    "recall": {c: round(r, 4) for c, r in scores["recall"].items()},
                }
            },
            mesh=f"48x48 crops upscaled to {bench_au.UPSCALE} px (cubic), box = central "
            f"{bench_au.BOX_SHARE:.0%}, crop_scale {bench_au.CROP_SCALE:g}; "
            f"{failures} mesh failures",
            l2_choice="1/C, C by 5-fold subject-grouped cross-validation (macro-F1) on fit "
            f"over {', '.join(f'{c:g}' for c in C_GRID)}",
            rounding=f"mean, scale, coef and intercept rounded to {DECIMALS} decimals",
        )
    )
    payload = {
        "action_units": calibration_payload(
            neutral,
            scales,
            source,
            {
                "scale_rule": "largest per-class median activation (mm) over CK+ fit crops "
                "among the classes whose FACS prototype holds the AU, at least 0.5 mm "
                "(AU43: 1 = eyes closed)",
                "prototypes": PROTOTYPES,
            },
        ),
        "head": shipped.to_json(),
    }
    write_json(args.out, payload, indent=1)
    console.print(f"wrote {args.out}")

    # probabilities for the ensemble weight search, per split in load_ckplus(split) order
    oof = np.full((len(samples), len(CLASSES)), np.nan)
    oof[fit] = out_of_fold(measures[fit], labels[fit], groups[fit], best_c)
    final = np.full((len(samples), len(CLASSES)), np.nan)
    final[test] = head.predict_proba(measures[test])
    OUT.mkdir(exist_ok=True)
    arrays: dict[str, Any] = {}
    for part, source_proba in (("fit", oof), ("test", final)):
        rows = split == part
        arrays[f"{part}_probs"] = to_seven(source_proba[rows])
        arrays[f"{part}_paths"] = np.array([str(s.path) for s in samples if s.split == part])
        arrays[f"{part}_labels"] = np.array([s.label for s in samples if s.split == part])
        arrays[f"{part}_meshed"] = ok[rows]
    np.savez(OUT / "ckplus_au_head_probs.npz", expressions=np.array(EXPRESSIONS), **arrays)
    member = to_seven(np.where(np.asarray(fit)[:, None], oof, final))
    np.save(OUT / "au_head_ckplus.npy", member.astype(np.float32))
    console.print(
        f"wrote {OUT / 'ckplus_au_head_probs.npz'} and {OUT / 'au_head_ckplus.npy'} "
        "(fit: out-of-fold; test: final): python scripts/fit_expression_weights.py "
        "--extra au_head=out/au_head_ckplus.npy"
    )
    return 0


def to_seven(proba6: FloatArray) -> FloatArray:
    """(n, 7) in EXPRESSIONS order, neutral 0; rows of NaN input stay 0."""
    out = np.zeros((len(proba6), len(EXPRESSIONS)))
    out[:, [EXPRESSIONS.index(c) for c in CLASSES]] = np.nan_to_num(proba6)
    return out


if __name__ == "__main__":
    sys.exit(main())
