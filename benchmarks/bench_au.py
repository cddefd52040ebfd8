"""Geometric action units and the shipped AU expression head on CK+ (and ORL for the neutral).

Meshes every CK+ crop (48x48 grey, upscaled to 192 px with cubic interpolation,
meshed with the box covering the central 90 % of the image) and the ORL faces
(the population neutral: 40 people, mostly neutral expressions), caching the
canonical-aligned meshes to ``out/`` keyed by the mesh settings. Then, on the
``test`` subjects, with the shipped calibration and head (``au_head.json``,
fitted on the ``fit`` subjects by ``scripts/fit_au_head.py``, which reuses this
module's meshes):

1. prints the mean intensity of each AU per expression against the FACS
   prototypes, with the share of prototype AUs whose class ranks in the top 2;
2. reports the head's accuracy, macro-F1, per-class recall and confusion matrix.

    python benchmarks/bench_au.py [--json out/bench_au.json]
"""

from __future__ import annotations

import argparse
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
    default_calibration,
    measures_from_canonical,
)
from facescope.analysis.expression.au_head import AUExpressionHead
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


def macro_f1(truth: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Macro-F1 over the six CK+ classes (labels are class names)."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=list(CLASSES), average="macro"))


def test_scores(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class recall and confusion (rows truth) of class-name labels."""
    pred, true = np.asarray(predicted), np.asarray(truth)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), int)
    for t, p in zip(true, pred, strict=True):
        confusion[CLASSES.index(t), CLASSES.index(p)] += 1
    return {
        "accuracy": float((pred == true).mean()),
        "macro_f1": macro_f1(true, pred),
        "recall": {
            c: float((pred[true == c] == c).mean()) if (true == c).any() else float("nan")
            for c in CLASSES
        },
        "confusion": confusion.tolist(),
    }


def ckplus_au_probabilities(split: str, root: Path | str = DEFAULT_ROOT) -> FloatArray:
    """The shipped head's (n, 7) probabilities per CK+ sample of `split` (load_ckplus order).

    Zero rows where meshing failed. For ``fit`` these are in-sample; the npz written
    by ``scripts/fit_au_head.py`` holds out-of-fold ones for ``fit``.
    """
    samples = load_ckplus(root)
    meshes, _ = mesh_images([s.path for s in samples], "ckplus")
    rows = [i for i, s in enumerate(samples) if s.split == split]
    return AUExpressionHead().predict_proba(measures_of(meshes[rows]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    labels = np.array([s.label for s in samples])
    groups = np.array([s.subject for s in samples])
    test = np.isfinite(measures).all(1) & (split == "test")

    calibration = default_calibration()
    console.print(f"AU calibration: neutral from {calibration.source}")
    raw = au_activations(measures[test], calibration.neutral)
    intensities = np.maximum(raw / calibration.scales, 0.0)
    share = prototype_table(intensities, labels[test].tolist(), console)

    head = AUExpressionHead()
    proba = head.predict_proba(measures[test])
    predicted = np.array(EXPRESSIONS)[proba.argmax(1)]
    scores = test_scores(predicted, labels[test])
    console.print(
        f"AU head on CK+ test ({int(test.sum())} crops, {len(set(groups[test]))} subjects): "
        f"accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}"
    )
    console.print(
        "per-class recall: " + ", ".join(f"{c} {r:.2f}" for c, r in scores["recall"].items())
    )
    table = Table(title="confusion (rows: truth, columns: predicted)")
    table.add_column("")
    for c in CLASSES:
        table.add_column(c[:8], justify="right")
    for k, c in enumerate(CLASSES):
        table.add_row(c, *(str(v) for v in scores["confusion"][k]))
    console.print(table)
    metrics = {
        "mesh_failures": failures,
        "n_test": int(test.sum()),
        "prototype_top2_share": share,
        "head": head.provenance_.get("script", ""),
        **scores,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    sys.exit(main())
