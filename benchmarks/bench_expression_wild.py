"""Expressions in the wild: conv-cut beside the bundled models and the ensemble; tiny faces.

On the FER2013 validation split (the fixed, seeded, stratified 10 % of fer2013_train that
``scripts/fit_expression.py`` holds out; FER2013 has no person ids, so it is not
person-disjoint) and on CK+ (927 posed crops, other people; its ``test`` subjects too):
accuracy, macro-F1 and per-class recall of every bundled member (fer, facex,
what-the-face) and of conv-cut weights (the shipped ones, or ``--weights`` files such as the
ablations). Each model sees the whole 48x48 image as its crop. The shipped fusion is
measured end to end, through ``analyze``, on the held-out halves (FER2013's half that
``scripts/fit_expression_ensemble.py`` did not fit on, CK+'s test subjects).

The tiny-face part takes a seeded sample of fer2013_train photos (``--tiny 2000``) and
counts those that get no face: *before*, the detector alone (``find_faces``, auto mode);
*after*, the analysis path, which takes a small image with no detected face as a tight
face crop (:func:`facescope.analysis.analyzer.is_tiny_face_crop`).

    python benchmarks/bench_expression_wild.py [--weights out/convcut.npz ...]
        [--limit N] [--tiny 2000] [--json out/bench_expression_wild.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from facescope._json import write_json
from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.expression.ckplus import DEFAULT_ROOT, load_ckplus
from facescope.analysis.expression.convcut import ConvCutModel
from facescope.analysis.expression.convcut_train import (
    SPLIT_SEED,
    VAL_FRACTION,
    grey_crops,
    load_fer2013,
    stratified_split,
)
from facescope.analysis.expression.ensemble import (
    ExpressionEnsemble,
    label_indices,
    score_predictions,
)
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import MODEL_NAMES, ExpressionModel, make_model
from facescope.analysis.expression.wild import fit_half
from facescope.errors import ModelNotAvailableError
from facescope.pipeline import find_faces

DEFAULT_DATA = Path("../shared/testdata/expression/fer2013_train.npz")
CK_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
console = Console(width=132)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ckplus", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--weights", type=Path, nargs="*", default=[], help="conv-cut files")
    parser.add_argument("--limit", type=int, default=None, help="score N evenly spaced val images")
    parser.add_argument("--tiny", type=int, default=2000, help="photos for the tiny-face rate")
    parser.add_argument("--no-ensemble", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args()


def members(weights: list[Path]) -> dict[str, ExpressionModel]:
    out: dict[str, ExpressionModel] = {}
    for name in MODEL_NAMES:
        model = make_model(name)
        if model.is_available():
            out[name] = model
        else:
            console.print(f"[yellow]{name} unavailable here: skipped")
    if weights:
        for path in weights:
            out[f"convcut:{path.stem}"] = ConvCutModel(path=path)
    else:
        shipped = ConvCutModel()
        if shipped.is_available():
            out["convcut"] = shipped
        else:
            console.print("[yellow]no shipped conv-cut weights: pass --weights")
    return out


def score_all(
    models: dict[str, ExpressionModel],
    crops: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...],
    test: np.ndarray | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs: dict[str, Any] = {name: m.predict_crops for name, m in models.items()}
    for name, run in runs.items():
        started = time.perf_counter()
        probs = run(list(crops))
        seconds = time.perf_counter() - started
        entry = {
            "all": score_predictions(probs, labels, classes).to_dict(),
            "ms_per_face": 1000 * seconds / max(1, len(crops)),
        }
        if test is not None:
            entry["test"] = score_predictions(probs[test], labels[test], classes).to_dict()
        out[name] = entry
    return out


def tiny_failures(images: np.ndarray, n: int) -> dict[str, Any]:
    """Share of photos with no face: the detector alone, then the whole analysis path."""
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    analyzer = Analyzer(AnalyzeOptions(expressions=False, quality=False, max_faces=1))
    before = after = 0
    for i in idx:
        rgb = np.repeat(images[i][:, :, None], 3, axis=2)
        if len(find_faces(rgb)) == 0:
            before += 1
            after += 0 if analyzer.analyze(rgb).faces else 1
    return {"n": len(idx), "seed": 0, "before": before / len(idx), "after": after / len(idx)}


def end_to_end(
    images: list[np.ndarray], labels: np.ndarray, classes: tuple[str, ...]
) -> dict[str, Any]:
    """The analyzer's own top expression per photo (largest face); no face is an error."""
    analyzer = Analyzer(AnalyzeOptions(quality=False, max_faces=1))
    probs = np.zeros((len(images), len(EXPRESSIONS)), np.float32)
    lost = np.zeros(len(images), bool)
    started = time.perf_counter()
    with Progress(transient=True, console=console) as bar:
        task = bar.add_task("analysis path", total=len(images))
        for i, image in enumerate(images):
            rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
            faces = analyzer.analyze(rgb).faces
            if faces and faces[0].expressions:
                probs[i] = [faces[0].expressions[name] for name in EXPRESSIONS]
            else:
                lost[i] = True
            bar.advance(task)
    seconds = time.perf_counter() - started
    scores = score_predictions(probs, labels, classes).to_dict()
    pred = probs.argmax(axis=1)
    scores["accuracy"] = float(np.mean((pred == labels) & ~lost))
    return {"all": scores, "lost": float(lost.mean()), "ms_per_face": 1000 * seconds / len(images)}


def table(title: str, results: dict[str, Any], classes: tuple[str, ...], part: str) -> None:
    grid = Table(title=title)
    for col in ("model", "acc", "macro-F1", *[c[:3] for c in classes], "ms/face"):
        grid.add_column(col)
    for name, entry in results.items():
        s = entry[part]
        grid.add_row(
            name,
            f"{s['accuracy']:.3f}",
            f"{s['macro_f1']:.3f}",
            *[f"{s['recall'][c]:.2f}" for c in classes],
            f"{entry['ms_per_face']:.1f}",
        )
    console.print(grid)


def main() -> int:
    args = arguments()
    report: dict[str, Any] = {"split": f"stratified {VAL_FRACTION:.0%}, seed {SPLIT_SEED}"}
    models = members(args.weights)
    ensemble = None
    if not args.no_ensemble:
        try:
            ensemble = ExpressionEnsemble().load()
        except ModelNotAvailableError as exc:
            console.print(f"[yellow]ensemble unavailable: {exc}")
    if args.data.is_file():
        images, labels = load_fer2013(args.data)
        _, val = stratified_split(labels, VAL_FRACTION, SPLIT_SEED)
        held = ~fit_half(labels[val])
        if args.limit:  # evenly spaced: the file is sorted by class
            pick = np.unique(np.linspace(0, len(val) - 1, args.limit).round().astype(int))
            val, held = val[pick], held[pick]
        fer = score_all(models, images[val], labels[val], EXPRESSIONS)
        report["fer2013_val"] = fer
        table(f"FER2013 validation, whole 48x48 crops ({len(val)})", fer, EXPRESSIONS, "all")
        if ensemble is not None:
            test = val[held]
            e2e = end_to_end(list(images[test]), labels[test], EXPRESSIONS)
            report["fer2013_analysis"] = e2e
            table(
                f"FER2013 held-out half through the analysis path ({len(test)}; "
                f"no face: {e2e['lost']:.1%})",
                {"analyze": e2e},
                EXPRESSIONS,
                "all",
            )
        if args.tiny:
            report["tiny_faces"] = tiny_failures(images, args.tiny)
            t = report["tiny_faces"]
            console.print(
                f"tiny 48x48 photos with no face ({t['n']}): detector alone {t['before']:.1%}, "
                f"analysis path {t['after']:.1%}"
            )
    else:
        console.print(f"[yellow]FER2013 absent at {args.data}")
    try:
        samples = load_ckplus(args.ckplus)
    except FileNotFoundError:
        samples = []
        console.print("[yellow]CK+ absent")
    if samples:
        crops = grey_crops([s.path for s in samples])
        ck_labels = label_indices([s.label for s in samples])
        test = np.array([s.split == "test" for s in samples])
        ck = score_all(models, crops, ck_labels, CK_CLASSES, test)
        report["ckplus"] = ck
        table(f"CK+ test subjects, whole crops ({int(test.sum())})", ck, CK_CLASSES, "test")
        if ensemble is not None:
            e2e = end_to_end(list(crops[test]), ck_labels[test], CK_CLASSES)
            report["ckplus_analysis"] = e2e
            table(
                f"CK+ test subjects through the analysis path (no face: {e2e['lost']:.1%})",
                {"analyze": e2e},
                CK_CLASSES,
                "all",
            )
    report["convcut_ms_per_face"] = convcut_speed(models)
    if report["convcut_ms_per_face"]:
        console.print(f"conv-cut, one face at a time, one thread: {report['convcut_ms_per_face']}")
    if args.json:
        write_json(args.json, report)
    return 0


def convcut_speed(models: dict[str, ExpressionModel]) -> dict[str, float]:
    """Median ms per single 48x48 face, one thread, for each conv-cut member."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(50)]
    out: dict[str, float] = {}
    for name, model in models.items():
        if not name.startswith("convcut"):
            continue
        model.predict_crops(crops[:2])
        times = []
        for crop in crops:
            started = time.perf_counter()
            model.predict_crops([crop], flip=False)
            times.append(1000 * (time.perf_counter() - started))
        out[name] = round(float(np.median(times)), 2)
    return out


if __name__ == "__main__":
    sys.exit(main())
