"""Recognition in synthetic weather, with and without restoration (issue 22).

Data (``../shared/testdata``, read in place): the aligned celebrity crops and Extended
Yale B dev (detected with RetinaFace, aligned to the ArcFace 112 template). Identities
are split in two halves by sorted name (:func:`split`): the *fit* half trains the
degradation detectors (``scripts/fit_weather_detectors.py``, and later the learned
restorer); this benchmark measures on the *evaluation* half only. `--per-identity`
crops per person (default 20) are used.

Protocol: every evaluation crop is degraded (:func:`facescope.weather.degrade`, seeded
by its index) and compared with every *clean* crop of the set (probe in weather, clean
enrolment): genuine pairs are the same person's other crops, impostor pairs everyone
else's. For each kind and severity, for the probes as degraded, as restored by the kind's
classical remedy, and as restored by ``auto`` (restore only what the detectors find):
TAR at FMR 1e-3 (threshold from that condition's impostor scores) and EER; the
false-match rate at the shipped SFace threshold; the cosine between a probe's restored
and clean embeddings; PSNR and SSIM to the clean crop, for reference; the detectors'
hit rate; time per face. "clean" is the same with undegraded probes, and ``auto`` on
clean probes measures what gating costs there.

    python benchmarks/bench_weather.py [--per-identity 20] [--severities 1 3 5] \
        [--kinds rain snow ...] [--json out/bench_weather.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import track

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
CACHE = ROOT / "out/weather"
FMR = 1e-3
#: The classical method tried for each kind in the "classical" column (applied whatever
#: the detectors say); ``auto`` applies only its own remedies (restoration.auto.REMEDY).
CLASSICAL = {"haze": "dehaze", "snow": "dehaze", "rain": "dehaze", "motion_blur": "deblur",
             "noise": "denoise", "low_light": "denoise", "jpeg": "denoise"}  # fmt: skip


@dataclass(frozen=True)
class CropSet:
    """Aligned 112x112 RGB crops of one dataset and each crop's identity."""

    name: str
    crops: np.ndarray
    identity: np.ndarray


def _read_rgb(path: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_crops(name: str) -> CropSet | None:
    """The crops of `name` ("celebrities" or "yale"), cached in out/weather; None if absent."""
    from facescope.align.template import warp_to_template
    from facescope.pipeline import find_faces, largest

    folder = {"celebrities": "aligned_celebrities", "yale": "extended_yaleb_dev"}[name]
    labels = TESTDATA / "faces" / folder / "labels.csv"
    if not labels.is_file():
        return None
    cache = CACHE / f"crops_{name}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return CropSet(name, data["crops"], data["identity"])
    with open(labels, newline="") as handle:
        rows = list(csv.DictReader(handle))
    crops, ids = [], []
    for row in track(rows, description=f"aligning {name}"):
        rgb = _read_rgb(labels.parent / row["path"])
        if rgb is None:
            continue
        if name == "celebrities":
            crops.append(cv2.resize(rgb, (112, 112)) if rgb.shape[:2] != (112, 112) else rgb)
            ids.append(row["identity"])
            continue
        face = largest(find_faces(rgb, assume_aligned=False))
        if len(face) == 0:
            continue  # a failure to acquire in clean conditions: not a weather effect
        crops.append(warp_to_template(rgb, face.landmarks5[0]))
        ids.append(row["identity"])
    out = CropSet(name, np.asarray(crops, np.uint8), np.asarray(ids))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, crops=out.crops, identity=out.identity)
    return out


def split(identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fit, evaluation) masks: alternate identities of the sorted names."""
    names = sorted(set(identity.tolist()))
    fit_names = set(names[0::2])
    fit = np.array([i in fit_names for i in identity.tolist()])
    return fit, ~fit


def subsample(mask: np.ndarray, identity: np.ndarray, per_identity: int) -> np.ndarray:
    """Indices of the first `per_identity` crops of each identity within `mask`."""
    keep: list[int] = []
    for name in sorted(set(identity[mask].tolist())):
        keep += np.flatnonzero(mask & (identity == name))[:per_identity].tolist()
    return np.asarray(keep, np.int64)


def _embed(crops: np.ndarray) -> np.ndarray:
    from facescope.embed.recognizers import get_recognizer

    raw = get_recognizer("sface").features_from_crops(np.ascontiguousarray(crops))  # type: ignore[attr-defined]
    return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)


def _scores(probes: np.ndarray, gallery: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, ...]:
    sim = probes @ gallery.T
    same = ids[:, None] == ids[None, :]
    off = ~np.eye(len(ids), dtype=bool)
    return sim[same & off], sim[~same]


def _verification(genuine: np.ndarray, impostor: np.ndarray, shipped: float) -> dict:
    from facescope.match.metrics import equal_error_rate, rates_at, threshold_at_fmr

    t = threshold_at_fmr(impostor, FMR)
    eer, _ = equal_error_rate(genuine, impostor)
    fmr_shipped, fnmr_shipped = rates_at(genuine, impostor, shipped)
    return {"tar": float((genuine >= t).mean()), "eer": float(eer),
            "fmr_at_shipped": fmr_shipped, "tar_at_shipped": 1 - fnmr_shipped}  # fmt: skip


def _psnr_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = float(
        np.mean([peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b, strict=True)])
    )
    ssim = float(np.mean([structural_similarity(x, y, channel_axis=2, data_range=255)
                          for x, y in zip(a, b, strict=True)]))  # fmt: skip
    return psnr, ssim


def run_condition(
    clean: np.ndarray, clean_emb: np.ndarray, ids: np.ndarray, probes: np.ndarray, shipped: float
) -> dict:
    """Recognition, identity similarity and pixel fidelity of `probes` against clean crops."""
    emb = _embed(probes)
    genuine, impostor = _scores(emb, clean_emb, ids)
    out = _verification(genuine, impostor, shipped)
    out["identity_cosine"] = float(np.mean(np.sum(emb * clean_emb, axis=1)))
    out["psnr"], out["ssim"] = _psnr_ssim(probes, clean)
    return out


def main() -> None:
    from facescope.match.thresholds import load_calibration
    from facescope.restoration.auto import restore_image
    from facescope.restoration.detectors import shipped_detectors
    from facescope.weather import KINDS, degrade

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-identity", type=int, default=20)
    parser.add_argument("--severities", type=int, nargs="*", default=[1, 3, 5])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--sets", nargs="*", default=["celebrities", "yale"])
    parser.add_argument(
        "--half",
        choices=["evaluation", "fit"],
        default="evaluation",
        help="which half of the people to measure on (choices are made on fit)",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(stderr=True)
    shipped = load_calibration().for_model("sface").threshold(FMR)
    detectors = shipped_detectors()
    result: dict = {"fmr": FMR, "shipped_threshold": shipped, "half": args.half, "sets": {}}
    for name in args.sets:
        data = load_crops(name)
        if data is None:
            console.print(f"[yellow]{name}: not found under {TESTDATA}: skipped[/]")
            continue
        fit, evaluation = split(data.identity)
        pick = subsample(evaluation if args.half == "evaluation" else fit, data.identity,
                         args.per_identity)  # fmt: skip
        clean, ids = data.crops[pick], data.identity[pick]
        clean_emb = _embed(clean)
        console.print(f"{name}: {len(pick)} {args.half} crops of {len(set(ids.tolist()))} people")
        rows: dict = {}
        base = run_condition(clean, clean_emb, ids, clean, shipped)
        start = time.perf_counter()
        gated = [restore_image(c, "auto", detectors=detectors) for c in clean]
        auto_ms = 1000 * (time.perf_counter() - start) / len(clean)
        rows["clean"] = {"degraded": base,
                         "auto": run_condition(clean, clean_emb, ids,
                                               np.stack([g.image for g in gated]), shipped),
                         "auto_touched": float(np.mean([bool(g.applied) for g in gated])),
                         "auto_ms": auto_ms}  # fmt: skip
        for kind in args.kinds:
            for severity in args.severities:
                key = f"{kind}/{severity}"
                degraded = np.stack([degrade(c, kind, severity, seed=i)
                                     for i, c in enumerate(clean)])  # fmt: skip
                row = {"degraded": run_condition(clean, clean_emb, ids, degraded, shipped)}
                remedy = CLASSICAL.get(kind)
                if remedy is not None:
                    start = time.perf_counter()
                    fixed = np.stack([restore_image(c, remedy).image for c in degraded])
                    row["classical_ms"] = 1000 * (time.perf_counter() - start) / len(clean)
                    row["classical"] = run_condition(clean, clean_emb, ids, fixed, shipped)
                    row["classical_method"] = remedy
                start = time.perf_counter()
                gated = [restore_image(c, "auto", detectors=detectors) for c in degraded]
                row["auto_ms"] = 1000 * (time.perf_counter() - start) / len(clean)
                restored = np.stack([g.image for g in gated])
                row["auto"] = run_condition(clean, clean_emb, ids, restored, shipped)
                detected = [kind in (g.assessment.present if g.assessment else ()) for g in gated]
                row["detected"] = float(np.mean(detected))
                row["auto_applied"] = sorted({s for g in gated for s in g.applied})
                rows[key] = row
                a = row["auto"]["tar"]
                console.print(f"  {key}: TAR degraded {row['degraded']['tar']:.3f}, "
                              f"auto {a:.3f}, detected {row['detected']:.2f}")  # fmt: skip
        result["sets"][name] = rows
        _print_table(console, name, rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {args.json}")


def _print_table(console: Console, name: str, rows: dict) -> None:
    clean = rows["clean"]["degraded"]["tar"]
    lines = [f"\n### {name} (TAR @ FMR 1e-3; clean {clean:.3f}; auto on clean "
             f"{rows['clean']['auto']['tar']:.3f}, touched {rows['clean']['auto_touched']:.0%})\n",
             "| kind/severity | degraded | classical | auto | recovered by auto | detected | "
             "FMR @ shipped (degraded) | identity cos degraded / auto | PSNR degraded / auto |",
             "|" + " --- |" * 9]  # fmt: skip
    for key, row in rows.items():
        if key == "clean":
            continue
        d, a = row["degraded"], row["auto"]
        c = row.get("classical")
        lost = clean - d["tar"]
        recovered = "" if lost <= 0.005 else f"{(a['tar'] - d['tar']) / lost:+.0%}"
        classical = "" if c is None else f"{c['tar']:.3f}"
        lines.append(
            f"| {key} | {d['tar']:.3f} | {classical} | "
            f"{a['tar']:.3f} | {recovered} | {row['detected']:.0%} | {d['fmr_at_shipped']:.2%} | "
            f"{d['identity_cosine']:.3f} / {a['identity_cosine']:.3f} | "
            f"{d['psnr']:.1f} / {a['psnr']:.1f} |"
        )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
