"""Geometric action units and the AU expression head on CK+ (and ORL for the neutral).

Meshes every CK+ crop (48x48 grey, upscaled to 192 px with cubic interpolation,
meshed with the box covering the central 90 % of the image) and the ORL faces
(the population neutral: 40 people, mostly neutral expressions), caching the
canonical-aligned meshes to ``out/`` keyed by the mesh settings. Then:

1. fits the AU scales on the CK+ ``fit`` subjects (the median activation over
   the expressions whose FACS prototype holds the AU) and prints, on the
   ``test`` subjects, the mean intensity of each AU per expression against the
   prototypes, with the share of prototype AUs whose class ranks in the top 2;
2. fits the expression head (standardised multinomial logistic regression on the
   raw measures; C chosen by subject-grouped cross-validation on ``fit``) and
   reports accuracy, macro-F1, per-class recall and the confusion matrix on
   ``test``;
3. writes ``out/ckplus_au_head_probs.npz``: the head's (n, 7) probabilities per
   CK+ sample for each split, in ``load_ckplus(split)`` order (``fit``: out-of-fold
   by subject, so an ensemble weight search on ``fit`` is not fooled; ``test``:
   the final head), and ``out/au_head_ckplus.npy`` (all samples, ``load_ckplus()``
   order) for ``bench_expression.py --extra au_head=out/au_head_ckplus.npy``.

    python benchmarks/bench_au.py [--write-head] [--json out/bench_au.json]

``--write-head`` writes ``src/facescope/analysis/expression/au_head.json``
(AU calibration + head coefficients, with provenance).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.analysis.au import (
    ACTION_UNITS,
    MEASURE_NAMES,
    PROTOTYPES,
    au_activations,
    calibration_payload,
    measures_from_canonical,
)
from facescope.analysis.expression.au_head import HEAD_PATH, softmax
from facescope.analysis.expression.ckplus import DEFAULT_ROOT, load_ckplus
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.geometry import to_canonical
from facescope.analysis.mesh import Mesher
from facescope.io.image import load_image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"
ORL = DEFAULT_ROOT.parent / "faces" / "orl"
#: Mesh settings for the small crops: upscale side, box share of the image, crop scale.
UPSCALE, BOX_SHARE, CROP_SCALE = 192, 0.9, 2.0
CLASSES: tuple[str, ...] = tuple(e for e in EXPRESSIONS if e != "neutral")
SEED = 0
FloatArray = npt.NDArray[np.float64]


def _settings_key() -> str:
    return f"up{UPSCALE}_box{int(BOX_SHARE * 100)}_cs{CROP_SCALE:g}"


def mesh_images(paths: list[Path], name: str) -> tuple[FloatArray, int]:
    """Canonical-aligned meshes (n, 478, 3; NaN where meshing failed) and the failure count.

    Cached in ``out/{name}_meshes_{settings}.npz`` (keyed by the paths too).
    """
    cache = OUT / f"{name}_meshes_{_settings_key()}.npz"
    keys = np.array([str(p.resolve()) for p in paths])
    if cache.is_file():
        stored = np.load(cache)
        if stored["paths"].shape == keys.shape and (stored["paths"] == keys).all():
            meshes = np.asarray(stored["meshes"], np.float64)
            return meshes, int(np.isnan(meshes[:, 0, 0]).sum())
    mesher = Mesher(crop_scale=CROP_SCALE)
    meshes = np.full((len(paths), 478, 3), np.nan)
    for i, path in enumerate(track(paths, description=f"meshing {name}")):
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        factor = UPSCALE / max(h, w)
        big = cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
        bh, bw = big.shape[:2]
        mx, my = bw * (1 - BOX_SHARE) / 2, bh * (1 - BOX_SHARE) / 2
        found = mesher.mesh(big, (mx, my, bw - mx, bh - my))
        if found is not None:
            meshes[i] = to_canonical(found.points)
    mesher.close()
    OUT.mkdir(exist_ok=True)
    np.savez_compressed(cache, meshes=meshes.astype(np.float32), paths=keys)
    return meshes, int(np.isnan(meshes[:, 0, 0]).sum())


def measures_of(meshes: FloatArray) -> FloatArray:
    """(n, m) raw measures; NaN rows where meshing failed."""
    out = np.full((len(meshes), len(MEASURE_NAMES)), np.nan)
    for i, mesh in enumerate(meshes):
        if np.isfinite(mesh).all():
            out[i] = measures_from_canonical(mesh)
    return out


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


def prototype_table(intensities: FloatArray, labels: list[str], console: Console) -> float:
    """Print mean intensity per (AU, class); return the share of prototype AUs ranked top 2."""
    labels_arr = np.array(labels)
    means = np.array([intensities[labels_arr == c].mean(0) for c in CLASSES])  # (6, n_au)
    table = Table(title="CK+ test: mean AU intensity per expression (* = FACS prototype AU)")
    table.add_column("AU")
    for c in CLASSES:
        table.add_column(c[:9], justify="right")
    table.add_column("top class")
    hits = total = 0
    for k, au in enumerate(ACTION_UNITS):
        order = np.argsort(-means[:, k])
        cells = []
        for j, c in enumerate(CLASSES):
            star = "*" if au in PROTOTYPES[c] else ""
            cells.append(f"{means[j, k]:.2f}{star}")
            if star:
                total += 1
                hits += int(j in order[:2])
        table.add_row(au, *cells, CLASSES[order[0]])
    console.print(table)
    share = hits / max(total, 1)
    console.print(f"prototype AUs whose class ranks in the top 2: {hits}/{total} = {share:.0%}")
    return share


def _standardise(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = x.mean(0)
    scale = x.std(0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def fit_head(x: FloatArray, y: npt.NDArray[np.int64], c: float) -> dict[str, Any]:
    """Standardised multinomial logistic regression; returns the JSON-able parameters."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = _standardise(x)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED)
    model.fit((x - mean) / scale, y)
    coef = np.zeros((len(CLASSES), x.shape[1]))
    intercept = np.full(len(CLASSES), -1e3)
    coef[model.classes_] = model.coef_
    intercept[model.classes_] = model.intercept_
    return {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept}


def head_proba(params: dict[str, Any], x: FloatArray) -> FloatArray:
    """(n, 6) probabilities in CLASSES order."""
    z = ((x - params["mean"]) / params["scale"]) @ params["coef"].T + params["intercept"]
    return softmax(np.asarray(z, np.float64))


def out_of_fold(
    x: FloatArray, y: npt.NDArray[np.int64], groups: npt.NDArray[Any], c: float, folds: int = 5
) -> FloatArray:
    """(n, 6) subject-grouped out-of-fold probabilities."""
    from sklearn.model_selection import GroupKFold

    proba = np.zeros((len(x), len(CLASSES)))
    for train, held in GroupKFold(n_splits=folds).split(x, y, groups):
        proba[held] = head_proba(fit_head(x[train], y[train], c), x[held])
    return proba


def macro_f1(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, labels=list(range(len(CLASSES))), average="macro"))


def to_seven(proba6: FloatArray) -> FloatArray:
    """(n, 7) in EXPRESSIONS order, neutral 0; rows of NaN input stay 0."""
    out = np.zeros((len(proba6), len(EXPRESSIONS)))
    out[:, [EXPRESSIONS.index(c) for c in CLASSES]] = np.nan_to_num(proba6)
    return out


def ckplus_au_probabilities(split: str, root: Path | str = DEFAULT_ROOT) -> FloatArray:
    """The shipped head's (n, 7) probabilities per CK+ sample of `split` (load_ckplus order).

    Zero rows where meshing failed. For ``fit`` these are in-sample; the npz written
    by :func:`main` holds out-of-fold ones for ``fit``.
    """
    from facescope.analysis.expression.au_head import AUExpressionHead

    samples = load_ckplus(root)
    meshes, _ = mesh_images([s.path for s in samples], "ckplus")
    rows = [i for i, s in enumerate(samples) if s.split == split]
    return AUExpressionHead().predict_proba(measures_of(meshes[rows]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-head", action="store_true", help="write au_head.json")
    parser.add_argument("--json", type=Path, help="write the metrics here")
    args = parser.parse_args()
    console = Console()
    if not (DEFAULT_ROOT / "labels.csv").is_file():
        console.print(f"CK+ not found at {DEFAULT_ROOT}: skipping (see ../shared/testdata)")
        return
    samples = load_ckplus()
    meshes, failures = mesh_images([s.path for s in samples], "ckplus")
    console.print(f"CK+: {len(samples)} crops, {failures} mesh failures ({_settings_key()})")
    measures = measures_of(meshes)
    split = np.array([s.split for s in samples])
    labels = [s.label for s in samples]
    ok = np.isfinite(measures).all(1)
    fit, test = ok & (split == "fit"), ok & (split == "test")

    # population neutral: median over ORL (mostly neutral faces); else the canonical face
    if (ORL / "labels.csv").is_file():
        with (ORL / "labels.csv").open() as handle:
            orl_paths = [ORL / row["path"] for row in csv.DictReader(handle)]
        orl_meshes, orl_failures = mesh_images(orl_paths, "orl")
        orl = measures_of(orl_meshes)
        neutral = np.nanmedian(orl, axis=0)
        source = f"median over {int(np.isfinite(orl).all(1).sum())} AT&T/ORL faces (40 people)"
        console.print(f"ORL: {len(orl_paths)} faces, {orl_failures} mesh failures")
    else:
        from facescope.analysis.geometry import face_geometry

        neutral = measures_from_canonical(face_geometry().canonical)
        source = "canonical face (ORL absent)"
    fit_labels = [labels[i] for i in np.flatnonzero(fit)]
    test_labels = [labels[i] for i in np.flatnonzero(test)]
    scales = fit_scales(measures[fit], fit_labels, neutral)
    intensities = np.maximum(au_activations(measures[test], neutral) / scales, 0.0)
    share = prototype_table(intensities, test_labels, console)

    # the head: C by subject-grouped CV on fit
    x_all = measures
    y_all = np.array([CLASSES.index(lab) for lab in labels])
    groups = np.array([s.subject for s in samples])
    cv: dict[float, float] = {}
    for c in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        proba = out_of_fold(x_all[fit], y_all[fit], groups[fit], c)
        cv[c] = macro_f1(y_all[fit], proba.argmax(1))
    best_c = max(cv, key=lambda c: cv[c])
    console.print(
        "fit-split 5-fold (by subject) macro-F1 by C: "
        + ", ".join(f"C={c:g}: {f:.3f}" for c, f in cv.items())
        + f" -> C={best_c:g}"
    )
    params = fit_head(x_all[fit], y_all[fit], best_c)
    test_pred = head_proba(params, x_all[test]).argmax(1)
    y_test = y_all[test]
    accuracy = float((test_pred == y_test).mean())
    f1 = macro_f1(y_test, test_pred)
    recall = {
        c: float((test_pred[y_test == k] == k).mean()) if (y_test == k).any() else float("nan")
        for k, c in enumerate(CLASSES)
    }
    console.print(
        f"AU head on CK+ test ({int(test.sum())} crops, {len(set(groups[test]))} subjects): "
        f"accuracy {accuracy:.3f}, macro-F1 {f1:.3f}"
    )
    console.print("per-class recall: " + ", ".join(f"{c} {r:.2f}" for c, r in recall.items()))
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    for t, p in zip(y_test, test_pred, strict=True):
        confusion[t, p] += 1
    table = Table(title="confusion (rows: truth, columns: predicted)")
    table.add_column("")
    for c in CLASSES:
        table.add_column(c[:8], justify="right")
    for k, c in enumerate(CLASSES):
        table.add_row(c, *(str(v) for v in confusion[k]))
    console.print(table)

    # probabilities for the ensemble engineer, per split in load_ckplus(split) order
    oof = np.full((len(samples), len(CLASSES)), np.nan)
    oof[fit] = out_of_fold(x_all[fit], y_all[fit], groups[fit], best_c)
    final = np.full((len(samples), len(CLASSES)), np.nan)
    final[test] = head_proba(params, x_all[test])
    OUT.mkdir(exist_ok=True)
    arrays: dict[str, Any] = {}
    for part, source_proba in (("fit", oof), ("test", final)):
        rows = split == part
        arrays[f"{part}_probs"] = to_seven(source_proba[rows])
        arrays[f"{part}_paths"] = np.array([str(s.path) for s in samples if s.split == part])
        arrays[f"{part}_labels"] = np.array([s.label for s in samples if s.split == part])
        arrays[f"{part}_meshed"] = ok[rows]
    np.savez(OUT / "ckplus_au_head_probs.npz", expressions=np.array(EXPRESSIONS), **arrays)
    console.print(f"wrote {OUT / 'ckplus_au_head_probs.npz'} (fit: out-of-fold; test: final)")
    # the same, all samples in load_ckplus() order: the ensemble search's extra member
    member = to_seven(np.where(np.asarray(fit)[:, None], oof, final))
    np.save(OUT / "au_head_ckplus.npy", member.astype(np.float32))
    console.print(
        f"wrote {OUT / 'au_head_ckplus.npy'}: python benchmarks/bench_expression.py"
        " --extra au_head=out/au_head_ckplus.npy"
    )

    metrics = {
        "mesh_failures": failures,
        "n_test": int(test.sum()),
        "prototype_top2_share": share,
        "cv_macro_f1": {str(c): f for c, f in cv.items()},
        "C": best_c,
        "accuracy": accuracy,
        "macro_f1": f1,
        "recall": recall,
        "confusion": confusion.tolist(),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(metrics, indent=2))
    if args.write_head:
        provenance = {
            "command": "python benchmarks/bench_au.py --write-head",
            "date": dt.date.today().isoformat(),
            "seed": SEED,
            "train": f"CK+ fit subjects ({int(fit.sum())} crops, {len(set(groups[fit]))} "
            "subjects; last frames of posed sequences; contempt excluded)",
            "split": "facescope.analysis.expression.ckplus.subject_split (sha256 of subject id)",
            "mesh": f"48x48 crops upscaled to {UPSCALE} px (cubic), box = central "
            f"{BOX_SHARE:.0%}, crop_scale {CROP_SCALE:g}; {failures} mesh failures",
            "model": f"sklearn LogisticRegression(C={best_c:g}, class_weight='balanced'), "
            "multinomial, on standardised raw measures; C by 5-fold GroupKFold on fit",
            "test": {"accuracy": round(accuracy, 4), "macro_f1": round(f1, 4),
                     "recall": {c: round(r, 4) for c, r in recall.items()}},
        }  # fmt: skip
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
            "head": {
                "features": list(MEASURE_NAMES),
                "classes": list(CLASSES),
                "mean": [round(float(v), 6) for v in params["mean"]],
                "scale": [round(float(v), 6) for v in params["scale"]],
                "coef": [[round(float(v), 6) for v in row] for row in params["coef"]],
                "intercept": [round(float(v), 6) for v in params["intercept"]],
                "provenance": provenance,
            },
        }
        HEAD_PATH.write_text(json.dumps(payload, indent=1) + "\n")
        console.print(f"wrote {HEAD_PATH}")


if __name__ == "__main__":
    sys.exit(main())
