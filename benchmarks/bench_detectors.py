"""Detector benchmark: YuNet vs RetinaFace MobileNet-0.25 (FTE, SFace TAR, speed, multi-face).

What is measured
----------------
1. Extended Yale B (``<testdata>/faces/extended_yaleb_dev``: 19 people x ~63 greyscale
   168x192 crops under hard lighting). For each detector, every image goes through
   ``facescope.detect.detect_faces(..., options=DetectOptions(detector=...))`` (the same
   scale handling and tight-crop padding for both); the largest face's five landmarks
   align it to the ArcFace template and SFace (fp32, ONNX Runtime) embeds it.

   * FTE: images where no face was found.
   * TAR at FMR 1e-3 over all pairs of the set (genuine: same person; impostor: different
     people), cosine scores; a pair with an FTE image is a non-match (genuine pairs count
     as false non-matches, impostor pairs as correct non-matches), ISO/IEC 19795-1 style.
     Two thresholds: (a) calibrated on this set's own impostor scores (in-sample: it
     flatters both detectors alike), (b) the shipped one,
     ``load_calibration().for_model("sface").threshold(1e-3)``, with the FMR it gives here.

2. Detection time per 640x480 image, one thread (``FACESCOPE_THREADS=1``,
   ``cv2.setNumThreads(1)``): the bundled photos of ``tests/data`` scaled to cover
   640x480 and centre-cropped; median of several passes, models warmed up.

3. Multi-face photos: faces found in ``tests/data/*_left_*_right.jpg`` (two named people
   and a bystander) and in ``<testdata>/faces/public_portraits`` (``labels.csv`` gives
   the number of named people: a photo counts as recalled when at least that many faces
   are found).

How to run
----------
::

    python benchmarks/bench_detectors.py                # ~2-4 minutes on 2 cores
    python benchmarks/bench_detectors.py --json out/bench_detectors.json

The test data root is ``$FACESCOPE_TESTDATA``, else ``../shared/testdata`` next to the
repository.
"""

from __future__ import annotations

import os

os.environ["FACESCOPE_THREADS"] = "1"

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facescope.align.template import warp_to_template
from facescope.detect.faces import DETECTORS, DetectOptions, detect_faces
from facescope.embed.recognizers import sface_recognizer
from facescope.io.image import load_image
from facescope.match.metrics import threshold_at_fmr
from facescope.match.thresholds import load_calibration

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT.parent / "shared" / "testdata"))
YALE = TESTDATA / "faces" / "extended_yaleb_dev"
PORTRAITS = TESTDATA / "faces" / "public_portraits"
DATA = ROOT / "tests" / "data"
FMR = 1e-3


def largest_landmarks(rgb: np.ndarray, detector: str) -> np.ndarray | None:
    faces = detect_faces(rgb, options=DetectOptions(detector=detector))  # type: ignore[arg-type]
    if len(faces) == 0:
        return None
    return np.asarray(faces.landmarks5[int(np.argmax(faces.areas))], np.float32)


def yale(detector: str, images: list[np.ndarray], labels: np.ndarray) -> dict[str, Any]:
    start = time.perf_counter()
    crops, found = [], np.zeros(len(images), bool)
    for i, rgb in enumerate(images):
        points = largest_landmarks(rgb, detector)
        if points is not None:
            found[i] = True
            crops.append(warp_to_template(rgb, points))
    features = sface_recognizer().features_from_crops(np.stack(crops))
    vectors = np.full((len(images), features.shape[1]), np.nan, np.float32)
    vectors[found] = features / np.linalg.norm(features, axis=1, keepdims=True)
    scores = np.nan_to_num(vectors @ vectors.T, nan=-np.inf)  # FTE pairs never match
    upper = np.triu_indices(len(images), k=1)
    pair_scores = scores[upper]
    same = labels[upper[0]] == labels[upper[1]]
    genuine, impostor = pair_scores[same], pair_scores[~same]
    in_sample = threshold_at_fmr(impostor, FMR)
    held_out = _two_fold_by_person(scores, labels)
    shipped = load_calibration().for_model("sface").threshold(FMR)
    acquired = found[upper[0]] & found[upper[1]]
    return {
        "images": len(images),
        "fte": int((~found).sum()),
        "fte_rate": float((~found).mean()),
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "threshold_in_sample": in_sample,
        "tar_in_sample": float((genuine >= in_sample).mean()),
        "tar_2fold_by_person": held_out["tar"],
        "fmr_2fold_by_person": held_out["fmr"],
        "threshold_shipped": shipped,
        "tar_shipped": float((genuine >= shipped).mean()),
        "fmr_shipped": float((impostor >= shipped).mean()),
        "tar_shipped_acquired_pairs_only": float((genuine[acquired[same]] >= shipped).mean()),
        "seconds": time.perf_counter() - start,
    }


def _scrfd_enabled() -> bool:
    """SCRFD runs only where its non-commercial licence was accepted (and is installed)."""
    from facescope.models import consent

    try:
        consent.require("arcface-mbf")
        from facescope.detect.faces import _scrfd

        _scrfd.get()
    except Exception as exc:
        print(f"scrfd skipped: {exc}", flush=True)
        return False
    return True


def _two_fold_by_person(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Threshold at FMR 1e-3 from one half of the people, TAR and FMR on the other half.

    People alternate between the halves in sorted order; both ways round, averaged.
    """
    people = sorted(set(labels.tolist()))
    half = np.isin(labels, people[::2])
    tars, fmrs = [], []
    for fit in (half, ~half):
        results = []
        for mask in (fit, ~fit):
            sub = scores[np.ix_(mask, mask)]
            upper = np.triu_indices(int(mask.sum()), k=1)
            same = labels[mask][upper[0]] == labels[mask][upper[1]]
            results.append((sub[upper][same], sub[upper][~same]))
        threshold = threshold_at_fmr(results[0][1], FMR)
        genuine, impostor = results[1]
        tars.append(float((genuine >= threshold).mean()))
        fmrs.append(float((impostor >= threshold).mean()))
    return {"tar": float(np.mean(tars)), "fmr": float(np.mean(fmrs))}


def cover_640x480(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = max(640 / width, 480 / height)
    size = (max(640, round(width * scale)), max(480, round(height * scale)))
    big = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (big.shape[0] - 480) // 2, (big.shape[1] - 640) // 2
    return np.ascontiguousarray(big[y0 : y0 + 480, x0 : x0 + 640])


def timing(detector: str, images: list[np.ndarray], passes: int) -> dict[str, float]:
    options = DetectOptions(detector=detector)  # type: ignore[arg-type]
    for rgb in images:  # warm-up: model load, first inference
        detect_faces(rgb, options=options)
    per_pass = []
    for _ in range(passes):
        start = time.perf_counter()
        for rgb in images:
            detect_faces(rgb, options=options)
        per_pass.append((time.perf_counter() - start) / len(images) * 1000)
    return {"ms_per_image_median": statistics.median(per_pass), "ms_per_image_min": min(per_pass)}


def multi_face(detector: str) -> dict[str, Any]:
    options = DetectOptions(detector=detector)  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for path in sorted(DATA.glob("*_left_*_right.jpg")):
        out[path.name] = len(detect_faces(load_image(path), options=options))
    if (PORTRAITS / "labels.csv").is_file():
        with (PORTRAITS / "labels.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        counts = [
            (
                len(detect_faces(load_image(PORTRAITS / r["path"]), options=options)),
                int(r["n_faces"]),
            )
            for r in rows
        ]
        out["portraits_recalled"] = f"{sum(f >= n for f, n in counts)}/{len(counts)}"
        out["portraits_faces_found_vs_labelled"] = (
            f"{sum(f for f, _ in counts)} found, {sum(n for _, n in counts)} labelled"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--passes", type=int, default=5, help="timing passes per detector")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    detectors = [d for d in DETECTORS if d != "scrfd" or _scrfd_enabled()]
    results: dict[str, Any] = {"detectors": detectors, "fmr": FMR}
    with (YALE / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    images = [load_image(YALE / r["path"]) for r in rows]
    labels = np.asarray([r["identity"] for r in rows])
    photos = [cover_640x480(load_image(p)) for p in sorted(DATA.glob("*.jpg"))]
    for detector in detectors:
        results[detector] = {
            "yale": yale(detector, images, labels),
            "timing_640x480_1thread": timing(detector, photos, args.passes),
            "multi_face": multi_face(detector),
        }
        print(detector, json.dumps(results[detector], indent=1), flush=True)

    print(
        f"\n| detector | FTE / {len(images)} | TAR@FMR1e-3 in-sample | TAR, 2-fold by person "
        "(FMR there) | TAR at shipped threshold (FMR there) | ms / 640x480, 1 thread |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for detector in detectors:
        y, t = results[detector]["yale"], results[detector]["timing_640x480_1thread"]
        print(
            f"| {detector} | {y['fte']} | {y['tar_in_sample']:.3f} | "
            f"{y['tar_2fold_by_person']:.3f} ({y['fmr_2fold_by_person']:.1e}) | "
            f"{y['tar_shipped']:.3f} ({y['fmr_shipped']:.1e}) | {t['ms_per_image_median']:.1f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
