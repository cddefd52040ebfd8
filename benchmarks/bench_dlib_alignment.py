"""dlib alignment benchmark: which way of making dlib's 150x150 chip verifies best.

Issue 20, item 3. On ``<testdata>/faces/aligned_celebrities`` (12 identities x 50
ArcFace-aligned 112x112 crops, one folder per identity) every image is embedded with
dlib's ResNet (``dlib_face_recognition_resnet_model_v1``) through several alignment
paths, and every genuine pair (14,700) and impostor pair (165,000) is scored by cosine
similarity. For each path: TAR at FMR 1e-3 (threshold set on this same set's impostor
scores, so the figures are **in-sample**), EER and the failures to enrol (FTE). An
image that fails to enrol makes every pair it is in a non-match (score -inf).

Paths (all use ``compute_face_descriptor`` on ``get_face_chip(size=150, padding=0.25)``):

* ``a facescope``: facescope's current dlib path,
  ``pipeline.embed_faces(rgb, pipeline.find_faces(rgb), "dlib")``: the crop is taken
  as aligned (ArcFace template landmarks), a dlib-detector-style rectangle is derived
  from those landmarks, dlib's 5-point predictor is seeded with it on a
  replicate-padded copy of the crop;
* ``a' facescope+shape68``: as a, with the 68-point predictor seeded by the same rectangle;
* ``b yunet+shape5``: YuNet box (``detect.detect_faces`` on the crop; on a 32 px
  replicate-padded copy when nothing is found) -> ``dlib.rectangle`` -> 5-point shape
  predictor -> chip;
* ``b' hog+shape5``: face_recognition's own path: dlib's HOG detector (1 upsample),
  largest detection -> 5-point predictor -> chip (``num_jitters=1``, its default);
* ``c yunet+shape68``: as b with the 68-point predictor (face_recognition's "large"
  model). ``num_jitters=1`` is dlib's no-jitter default, so it is the same as b's;
* ``c' hog+shape68``: as b' with the 68-point predictor.

Then the fusion: SFace (``embed_largest_faces(..., ("sface",), assume_aligned=True)``)
alone against sface+dlib fused as ``match.thresholds.Calibration.fuse`` does (each
model z-normalised by its impostor mean/std, weighted sum), with the shipped weights
(sface 0.6, dlib 0.4) and z-norm statistics re-estimated on each dlib path's own
impostor scores, plus the best weight on a 0.05 grid (in-sample, optimistic). A pair
fails in the fusion when either model failed to enrol one of its images.

Run (about 3 minutes on 2 cores)::

    python benchmarks/bench_dlib_alignment.py [--workers 2] [--json out/dlib_alignment.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
FMR = 1e-3
PAD = 32
PATHS = (
    "a facescope",
    "a' facescope+shape68",
    "b yunet+shape5",
    "b' hog+shape5",
    "c yunet+shape68",
    "c' hog+shape68",
)

Vector = npt.NDArray[np.float32]

_STATE: dict[str, Any] = {}


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)
    import dlib

    from facescope.models.registry import verified_path

    _STATE["dlib"] = dlib
    _STATE["shape5"] = dlib.shape_predictor(str(verified_path("dlib_shape5")))
    _STATE["shape68"] = dlib.shape_predictor(str(verified_path("dlib_shape68")))
    _STATE["net"] = dlib.face_recognition_model_v1(str(verified_path("dlib_resnet")))
    _STATE["hog"] = dlib.get_frontal_face_detector()


def _descriptor(image: npt.NDArray[np.uint8], rect: Any, predictor: str) -> Vector:
    dlib = _STATE["dlib"]
    shape = _STATE[predictor](image, rect)
    chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
    return np.asarray(_STATE["net"].compute_face_descriptor(chip, 1), dtype=np.float32)


def _yunet_rect(rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Any, bool] | None:
    from facescope.detect.faces import detect_faces
    from facescope.pipeline import largest

    dlib = _STATE["dlib"]
    for padded in (False, True):
        image = (
            np.asarray(cv2.copyMakeBorder(rgb, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE), np.uint8)
            if padded
            else rgb
        )
        faces = largest(detect_faces(image))
        if len(faces):
            x1, y1, x2, y2 = (round(float(v)) for v in faces.boxes[0])
            return np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2), padded
    return None


def _facescope_rect(rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Any]:
    """facescope's seed: the dlib-style rectangle from the template landmarks, padded image."""
    from facescope.embed.recognizers import dlib_face_rect
    from facescope.pipeline import aligned_faces

    pad = max(rgb.shape[:2]) // 2
    padded = np.asarray(cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE), np.uint8)
    x1, y1, x2, y2 = dlib_face_rect(aligned_faces(rgb).landmarks5[0]) + pad
    return padded, _STATE["dlib"].rectangle(round(x1), round(y1), round(x2), round(y2))


def _hog_rect(rgb: npt.NDArray[np.uint8]) -> Any | None:
    rects = list(_STATE["hog"](rgb, 1))
    return max(rects, key=lambda r: r.area()) if rects else None


def embed_one(path: str) -> dict[str, Any]:
    """All dlib paths for one image: {path name: vector or None, 'yunet_padded': bool}."""
    from facescope.io.image import load_image
    from facescope.pipeline import embed_faces, find_faces

    rgb = np.ascontiguousarray(load_image(path))
    out: dict[str, Any] = {}
    out["a facescope"] = embed_faces(rgb, find_faces(rgb), "dlib").vectors[0]
    out["a' facescope+shape68"] = _descriptor(*_facescope_rect(rgb), "shape68")
    found = _yunet_rect(rgb)
    out["yunet_padded"] = bool(found and found[2])
    if found is None:
        out["b yunet+shape5"] = out["c yunet+shape68"] = None
    else:
        image, rect, _ = found
        out["b yunet+shape5"] = _descriptor(image, rect, "shape5")
        out["c yunet+shape68"] = _descriptor(image, rect, "shape68")
    hog = _hog_rect(rgb)
    out["b' hog+shape5"] = None if hog is None else _descriptor(rgb, hog, "shape5")
    out["c' hog+shape68"] = None if hog is None else _descriptor(rgb, hog, "shape68")
    return out


def cosine_pairs(
    vectors: Sequence[Vector | None], labels: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(genuine, impostor) cosine scores of every pair; -inf where an image failed."""
    ok = np.array([v is not None for v in vectors])
    matrix = np.zeros((len(vectors), 128))
    for i, v in enumerate(vectors):
        if v is not None:
            matrix[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    sim = matrix @ matrix.T
    sim[~ok, :] = -np.inf
    sim[:, ~ok] = -np.inf
    upper = np.triu_indices(len(labels), k=1)
    lab = np.asarray(labels)
    same = (lab[:, None] == lab[None, :])[upper]
    scores = sim[upper]
    return scores[same], scores[~same]


def metrics(gen: npt.NDArray[np.float64], imp: npt.NDArray[np.float64]) -> dict[str, float]:
    """TAR/FMR at the in-sample FMR 1e-3 threshold and EER; also over acquired pairs only."""
    from facescope.match.metrics import equal_error_rate, threshold_at_fmr

    threshold = threshold_at_fmr(imp, FMR)
    eer, _ = equal_error_rate(np.nan_to_num(gen, neginf=-1e9), np.nan_to_num(imp, neginf=-1e9))
    gen_ok, imp_ok = gen[np.isfinite(gen)], imp[np.isfinite(imp)]
    threshold_ok = threshold_at_fmr(imp_ok, FMR)
    return {
        "tar": float((gen >= threshold).mean()),
        "fmr": float((imp >= threshold).mean()),
        "threshold": threshold,
        "eer": eer,
        "tar_acquired": float((gen_ok >= threshold_ok).mean()),
        "eer_acquired": equal_error_rate(gen_ok, imp_ok)[0],
    }


Pairs = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _zfuse(
    s: npt.NDArray[np.float64],
    d: npt.NDArray[np.float64],
    stats: list[tuple[float, float]],
    w: float,
) -> npt.NDArray[np.float64]:
    (sm, ss), (dm, ds) = stats
    return np.asarray(w * (s - sm) / ss + (1 - w) * (d - dm) / ds, dtype=np.float64)


def _fit_tar(s_fit: Pairs, d_fit: Pairs, stats: list[tuple[float, float]], w: float) -> float:
    from facescope.match.metrics import threshold_at_fmr

    th = threshold_at_fmr(_zfuse(s_fit[1], d_fit[1], stats, w), FMR)
    return float((_zfuse(s_fit[0], d_fit[0], stats, w) >= th).mean())


def held_out_fusion(
    sface: Sequence[Vector | None], dlib: Sequence[Vector | None], labels: Sequence[str]
) -> dict[str, float]:
    """2-fold by identity: z-norm, weight and thresholds from one half, TAR on the other.

    Returns the mean over both folds of the held-out TAR (and the FMR actually reached)
    for sface alone and for the sface+dlib fusion.
    """
    from facescope.match.metrics import threshold_at_fmr

    names = sorted(set(labels))
    halves = (set(names[: len(names) // 2]), set(names[len(names) // 2 :]))
    out = {"sface_tar": 0.0, "sface_fmr": 0.0, "fusion_tar": 0.0, "fusion_fmr": 0.0, "w": 0.0}
    for fit, test in (halves, halves[::-1]):
        parts = []
        for group in (fit, test):
            keep = [i for i, lab in enumerate(labels) if lab in group]
            sub = [labels[i] for i in keep]
            parts.append(
                (
                    cosine_pairs([sface[i] for i in keep], sub),
                    cosine_pairs([dlib[i] for i in keep], sub),
                )
            )
        (s_fit, d_fit), (s_test, d_test) = parts
        t = threshold_at_fmr(s_fit[1], FMR)
        out["sface_tar"] += float((s_test[0] >= t).mean()) / 2
        out["sface_fmr"] += float((s_test[1] >= t).mean()) / 2
        finite = [p[1][np.isfinite(p[1])] for p in (s_fit, d_fit)]
        stats = [(float(f.mean()), float(f.std())) for f in finite]
        grid = (round(float(x), 2) for x in np.arange(0.05, 1.0, 0.05))
        w = max(grid, key=lambda x: _fit_tar(s_fit, d_fit, stats, x))
        th = threshold_at_fmr(_zfuse(s_fit[1], d_fit[1], stats, w), FMR)
        out["fusion_tar"] += float((_zfuse(s_test[0], d_test[0], stats, w) >= th).mean()) / 2
        out["fusion_fmr"] += float((_zfuse(s_test[1], d_test[1], stats, w) >= th).mean()) / 2
        out["w"] += w / 2
    return out


def znorm(
    gen: npt.NDArray[np.float64], imp: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    finite = imp[np.isfinite(imp)]
    mean, std = float(finite.mean()), float(finite.std())
    return (gen - mean) / std, (imp - mean) / std


def fused(
    sface: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    dlib: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    w_sface: float,
) -> dict[str, float]:
    (sg, si), (dg, di) = znorm(*sface), znorm(*dlib)
    with np.errstate(invalid="ignore"):
        gen = w_sface * sg + (1 - w_sface) * dg
        imp = w_sface * si + (1 - w_sface) * di
    return metrics(np.nan_to_num(gen, nan=-np.inf), np.nan_to_num(imp, nan=-np.inf))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=TESTDATA / "faces/aligned_celebrities")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"{args.data} is absent: this benchmark needs it", file=sys.stderr)
        return 1

    from facescope.match.calibrate import folder_per_identity
    from facescope.pipeline import embed_largest_faces

    data = folder_per_identity(args.data)
    paths = [str(p) for p in data.paths]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init_worker) as pool:
        rows = list(pool.map(embed_one, paths, chunksize=8))
    dlib_s = time.perf_counter() - start
    batch = embed_largest_faces(paths, ("sface",), assume_aligned=True)
    sface_vectors: list[Vector | None] = [None] * len(paths)
    for vector, index in zip(
        batch.embeddings["sface"].vectors, np.flatnonzero(batch.found), strict=True
    ):
        sface_vectors[int(index)] = vector
    sface = cosine_pairs(sface_vectors, data.identities)

    print(f"{len(paths)} images, {len(set(data.identities))} identities; dlib paths {dlib_s:.0f} s")
    print(f"FMR target {FMR:g}, thresholds in-sample (this set's impostors); FTE pairs non-match")
    report: dict[str, Any] = {"n_images": len(paths), "fmr": FMR, "paths": {}}
    header = (
        f"{'path':<22} {'FTE':>4} {'TAR':>6} {'EER':>6} {'TAR acq':>7} {'EER acq':>7}"
        f"  {'fusion .6/.4':>12}  {'best w':>14}"
    )
    print(header)
    sface_m = metrics(*sface)
    print(
        f"{'sface alone':<22} {int(sum(v is None for v in sface_vectors)):>4} "
        f"{sface_m['tar']:>6.3f} {sface_m['eer']:>6.3f}"
    )
    report["sface"] = sface_m
    for name in PATHS:
        vectors = [row[name] for row in rows]
        pairs = cosine_pairs(vectors, data.identities)
        single = metrics(*pairs)
        shipped = fused(sface, pairs, 0.6)
        grid = {round(w, 2): fused(sface, pairs, w)["tar"] for w in np.arange(0.05, 1.0, 0.05)}
        best_w = max(grid, key=lambda w: grid[w])
        fte = int(sum(v is None for v in vectors))
        print(
            f"{name:<22} {fte:>4} {single['tar']:>6.3f} {single['eer']:>6.3f} "
            f"{single['tar_acquired']:>7.3f} {single['eer_acquired']:>7.3f}  "
            f"{shipped['tar']:>12.3f}  {grid[best_w]:>6.3f} @ {best_w:.2f}"
        )
        report["paths"][name] = {
            "fte": fte,
            "dlib": single,
            "fusion_shipped_weights": shipped,
            "fusion_best": {"w_sface": best_w, "tar": grid[best_w]},
        }
    print("held-out fusion (2-fold by identity, 6 fit / 6 test, mean of both folds):")
    for name in ("a facescope", "a' facescope+shape68", "b yunet+shape5"):
        held = held_out_fusion(sface_vectors, [row[name] for row in rows], data.identities)
        print(
            f"  {name:<22} sface TAR {held['sface_tar']:.3f} (FMR {held['sface_fmr']:.4f})"
            f"  fusion TAR {held['fusion_tar']:.3f} (FMR {held['fusion_fmr']:.4f},"
            f" w {held['w']:.2f})"
        )
        report["paths"][name]["held_out"] = held
    hog_ok = [i for i, row in enumerate(rows) if row["b' hog+shape5"] is not None]
    sub_labels = [data.identities[i] for i in hog_ok]
    print(f"on the {len(hog_ok)} images HOG found (same images for every path):")
    report["hog_subset"] = {"n_images": len(hog_ok)}
    for name in PATHS:
        sub = metrics(*cosine_pairs([rows[i][name] for i in hog_ok], sub_labels))
        print(f"  {name:<22} TAR {sub['tar']:.3f}  EER {sub['eer']:.3f}")
        report["hog_subset"][name] = sub
    padded = sum(row["yunet_padded"] for row in rows)
    print(f"YuNet needed the {PAD} px padded copy for {padded} images")
    report["yunet_padded"] = padded
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
