"""Expression accuracy of fer, facex, what-the-face and their ensemble on CK+.

For every CK+ image in ``../shared/testdata/expression`` (927 posed 48x48 grey
crops, contempt excluded, no neutral frames) the face is detected on a 4x
upscale (YuNet); where none is found the whole crop is used (counted). Each
model sees the eye-levelled crop (:func:`expression_crop`, cut from the 48x48
image as analyze() would) at several margins, with and without flip averaging;
the whole 48x48 image is scored as a reference but never chosen. Every choice
(margin, flip, ensemble weights and rule) is made on the ``fit`` subjects only,
by macro-F1 over the six classes present (a ``neutral`` prediction is an
error); results are reported on ``test`` (no subject shared) and on ``all``
(caveat: what-the-face says it was trained on CK+, and facex very likely saw
it). ``scripts/fit_expression_weights.py`` runs the same search and writes the
chosen configuration (the shipped ``weights.json``).

    python benchmarks/bench_expression.py [--json out/bench_expression.json]
        [--extra au_head=out/au_head_ckplus.npy] [--step 0.05]

``--extra NAME=FILE.npy`` adds a member: an (927, 7) float matrix of
probabilities in EXPRESSIONS order, rows in ``load_ckplus()`` order (the AU
head's is written by ``scripts/fit_au_head.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.analysis.expression.ckplus import DEFAULT_ROOT, Sample, load_ckplus
from facescope.analysis.expression.ensemble import (
    WeightSearch,
    combine,
    label_indices,
    score_predictions,
    search_weights,
)
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import MODEL_NAMES, ExpressionModel, make_model
from facescope.analysis.expression.preprocess import expression_crop, whole_image_crop
from facescope.errors import ModelNotAvailableError
from facescope.io.image import load_image
from facescope.pipeline import find_faces, largest

MARGINS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15)
UPSCALE = 4
CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
SHORT = {"anger": "ang", "disgust": "dis", "fear": "fea", "happiness": "hap"}
SHORT |= {"sadness": "sad", "surprise": "sur"}

console = Console()


def crops_for(samples: list[Sample]) -> tuple[dict[str, list[np.ndarray]], int]:
    """Per variant ("whole", "m0.10", ...), one grey crop per sample; and the fallbacks."""
    variants: dict[str, list[np.ndarray]] = {"whole": []}
    variants |= {f"m{m:.2f}": [] for m in MARGINS}
    fallbacks = 0
    for sample in track(samples, description="detect + crop", console=console):
        rgb = load_image(sample.path)
        grey = whole_image_crop(rgb)
        variants["whole"].append(grey)
        big = cv2.resize(rgb, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
        face = largest(find_faces(big, assume_aligned=False))
        for m in MARGINS:
            if len(face):
                box = face.boxes[0] / UPSCALE
                crop = expression_crop(rgb, box, face.landmarks5[0] / UPSCALE, margin=m)
            else:
                crop = grey
            variants[f"m{m:.2f}"].append(crop)
        fallbacks += int(len(face) == 0)
    return variants, fallbacks


def predict_all(
    variants: dict[str, list[np.ndarray]], models: dict[str, ExpressionModel]
) -> dict[tuple[str, str, bool], np.ndarray]:
    """(model, variant, flip) -> (n, 7) probabilities."""
    out: dict[tuple[str, str, bool], np.ndarray] = {}
    jobs = [(m, v, f) for m in models for v in variants for f in (False, True)]
    for name, variant, flip in track(jobs, description="models", console=console):
        out[name, variant, flip] = models[name].predict_crops(variants[variant], flip=flip)
    return out


def recall_cells(scores: Any) -> list[str]:
    return [f"{100 * scores.recall[c]:.0f}" for c in CLASSES]


def arguments(description: str) -> argparse.ArgumentParser:
    """The options of the run (shared with ``scripts/fit_expression_weights.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--step", type=float, default=0.05, help="weight grid step")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=FILE.npy")
    parser.add_argument("--cache", type=Path, default=None, help="npz of model outputs to reuse")
    return parser


def main() -> int:
    args = arguments(__doc__.split("\n\n")[0]).parse_args()
    result = run(args)
    if result is None:
        return 0
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        console.print(f"wrote {args.json}")
    return 0


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Score every model and crop, search the ensemble on fit; the results (None: no CK+)."""
    try:
        samples = load_ckplus(args.root)
    except FileNotFoundError as exc:
        console.print(f"[yellow]skipped: {exc} (../shared/testdata is absent)[/yellow]")
        return None
    labels = label_indices([s.label for s in samples])
    split = np.array([s.split for s in samples])
    masks = {"fit": split == "fit", "test": split == "test", "all": np.ones(len(samples), bool)}
    console.print(
        f"CK+: {len(samples)} images, fit {masks['fit'].sum()}, test {masks['test'].sum()} "
        f"({len({s.subject for s in samples})} subjects)"
    )

    models: dict[str, ExpressionModel] = {}
    skipped: dict[str, str] = {}
    for name in MODEL_NAMES:
        model = make_model(name, num_threads=1)
        try:
            model.load()
        except ModelNotAvailableError as exc:
            skipped[name] = str(exc)
            console.print(f"[yellow]member {name} skipped: {exc}[/yellow]")
            continue
        models[name] = model

    start = time.perf_counter()
    if args.cache is not None and args.cache.is_file():
        data = np.load(args.cache, allow_pickle=False)
        probs = {}
        for key in data.files:
            name, variant, flip = key.split("|")
            probs[name, variant, flip == "1"] = data[key]
        fallbacks = int(data["meta|fallbacks|0"][0]) if "meta|fallbacks|0" in data.files else -1
        probs = {k: v for k, v in probs.items() if k[0] != "meta"}
    else:
        variants, fallbacks = crops_for(samples)
        probs = predict_all(variants, models)
        if args.cache is not None:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            arrays = {f"{n}|{v}|{int(f)}": p for (n, v, f), p in probs.items()}
            arrays["meta|fallbacks|0"] = np.array([fallbacks])
            np.savez_compressed(args.cache, **arrays)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    console.print(
        f"no face found (whole crop used) in {fallbacks} of {len(samples)} images; {seconds:.0f} s"
    )

    def scores(p: np.ndarray, part: str) -> Any:
        return score_predictions(p[masks[part]], labels[masks[part]], CLASSES)

    variants = sorted({v for _, v, _ in probs}, key=lambda v: (v != "whole", v))
    names = sorted({n for n, _, _ in probs}, key=MODEL_NAMES.index)

    # 1. each model alone, every crop variant, flip off/on: macro-F1 on fit (choice) and test
    sweep = Table(title="Each model alone: macro-F1 % on fit / test, by crop and flip")
    sweep.add_column("model")
    for variant in variants:
        sweep.add_column(variant, justify="right")
    sweep_rows: list[dict[str, Any]] = []
    for name in names:
        for flip in (False, True):
            cells = []
            for variant in variants:
                fit = scores(probs[name, variant, flip], "fit")
                test = scores(probs[name, variant, flip], "test")
                cells.append(f"{100 * fit.macro_f1:.1f} / {100 * test.macro_f1:.1f}")
                sweep_rows.append(
                    {
                        "model": name,
                        "variant": variant,
                        "flip": flip,
                        "fit": fit.to_dict(),
                        "test": test.to_dict(),
                    }
                )
            sweep.add_row(f"{name}{' +flip' if flip else ''}", *cells)
    console.print(sweep)

    # 2. extra members (same samples, EXPRESSIONS order)
    extra: dict[str, np.ndarray] = {}
    for item in args.extra:
        key, _, path = item.partition("=")
        matrix = np.load(path).astype(np.float32)
        if matrix.shape != (len(samples), len(EXPRESSIONS)):
            console.print(f"[red]extra {key}: shape {matrix.shape}, need ({len(samples)}, 7)[/red]")
            raise SystemExit(2)
        extra[key] = matrix

    # 3. ensemble: for each (variant, flip) search weights on fit; keep the best on fit
    searches: dict[tuple[str, bool], WeightSearch] = {}
    fit_labels = labels[masks["fit"]]
    for variant in track(variants, description="weight search", console=console):
        for flip in (False, True):
            members = {n: probs[n, variant, flip][masks["fit"]] for n in names}
            members |= {k: v[masks["fit"]] for k, v in extra.items()}
            searches[variant, flip] = search_weights(
                members, fit_labels, step=args.step, classes=CLASSES
            )
    # the whole 48x48 crop is a reference only: analyze() always crops a detected face
    candidates = [k for k in searches if k[0] != "whole"]
    best_variant, best_flip = max(candidates, key=lambda k: (searches[k].score, -k[1]))
    best = searches[best_variant, best_flip]
    ens_table = Table(title="Ensemble: weights chosen on fit per crop/flip (macro-F1 %)")
    for column in ("crop", "flip", "rule", "weights", "fit", "test", "all"):
        ens_table.add_column(column, justify="right")
    ens_rows: list[dict[str, Any]] = []
    for (variant, flip), search in searches.items():
        members_all = {n: probs[n, variant, flip] for n in names} | extra
        pooled = combine(members_all, search.weights, search.rule)
        row = {
            "variant": variant,
            "flip": flip,
            "rule": search.rule,
            "weights": search.weights,
            **{part: scores(pooled, part).to_dict() for part in masks},
        }
        ens_rows.append(row)
        ens_table.add_row(
            variant,
            "on" if flip else "off",
            search.rule,
            " ".join(f"{k}={v:.2f}" for k, v in search.weights.items()),
            *(f"{100 * row[p]['macro_f1']:.1f}" for p in ("fit", "test", "all")),
        )
    console.print(ens_table)

    # 4. the headline table at the chosen crop: each model (flip off/on) and the ensemble
    headline = Table(
        title=f"CK+ at the chosen crop {best_variant} (chosen on fit): "
        "accuracy, macro-F1, recall % (test | all)"
    )
    for column in ("member", "flip", "part", "acc", "macro-F1", *(SHORT[c] for c in CLASSES)):
        headline.add_column(column, justify="right")
    headline_rows: list[dict[str, Any]] = []

    def add(label: str, flip: bool, p: np.ndarray) -> None:
        for part in ("test", "all"):
            s = scores(p, part)
            headline_rows.append({"member": label, "flip": flip, "part": part, **s.to_dict()})
            headline.add_row(
                label,
                "on" if flip else "off",
                part,
                f"{100 * s.accuracy:.1f}",
                f"{100 * s.macro_f1:.1f}",
                *recall_cells(s),
            )

    for name in names:
        for flip in (False, True):
            add(name, flip, probs[name, best_variant, flip])
    for key in extra:
        add(key, False, extra[key])
    for flip in (False, True):
        search = searches[best_variant, flip]
        members_all = {n: probs[n, best_variant, flip] for n in names} | extra
        add("ensemble", flip, combine(members_all, search.weights, search.rule))
    equal = {n: 1.0 for n in names}
    add(
        "equal mean",
        best_flip,
        combine({n: probs[n, best_variant, best_flip] for n in names}, equal),
    )
    console.print(headline)

    console.print(
        f"chosen on fit: crop {best_variant}, flip {'on' if best_flip else 'off'}, rule "
        f"{best.rule}, weights {best.weights} (fit macro-F1 {100 * best.score:.1f}, "
        f"{best.n_evaluated} combinations per crop/flip, step {args.step})"
    )
    return {
        "date": dt.date.today().isoformat(),
        "n": len(samples),
        "n_fit": int(masks["fit"].sum()),
        "fallbacks": fallbacks,
        "skipped": skipped,
        "seconds": seconds,
        "variants": variants,
        "chosen": {
            "variant": best_variant,
            "flip": best_flip,
            "rule": best.rule,
            "weights": best.weights,
            "fit_macro_f1": best.score,
        },
        "sweep": sweep_rows,
        "ensembles": ens_rows,
        "headline": headline_rows,
    }


if __name__ == "__main__":
    sys.exit(main())
