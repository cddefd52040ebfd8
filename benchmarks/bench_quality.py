"""Evaluate the shipped face-quality score: error versus discard (ISO/IEC 29794-1).

Probes are the 600 aligned calibration crops (``../shared/testdata/faces/
aligned_celebrities``), each padded into a 224x224 scene, plus synthetic
degradations of each (downscale, Gaussian and motion blur, darkening,
over-exposure, JPEG, noise, rotation, occlusion patches, border cuts). Every
probe goes through the runtime path: YuNet detection, alignment to the 112x112
template, quality components, SFace embedding. Its genuine comparisons are
against the identity's other *clean* crops; a comparison succeeds when its
cosine passes the bundled SFace threshold at FMR 1e-3.

The shipped score (``quality_model.json``, fitted on half the identities by
``scripts/fit_quality.py``, which reuses this module's probes and curves) is
measured on the other half, the identities its provenance holds out: the
error-versus-discard curves (FNMR at the threshold after dropping the
lowest-quality comparisons; pair quality = the smaller of the two faces') for
the score, each single component and random discard, on the untouched
calibration set and on the degraded set.

    python benchmarks/bench_quality.py [--json out/bench_quality.json]
        [--plot docs/quality_edc.png] [--variants 6] [--seed 0]

Embeddings and components are cached in ``out/quality_cache`` (delete to redo).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image
from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.align.template import warp_to_template
from facescope.embed.recognizers import sface_recognizer
from facescope.match.thresholds import load_calibration
from facescope.pipeline import find_faces, normalise
from facescope.quality.assess import (
    FEATURES,
    error_versus_discard,
    load_quality_model,
    quality_from_crop,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "../shared/testdata/faces/aligned_celebrities"
CACHE = ROOT / "out/quality_cache"
FMR = 1e-3
PAD = 56
FRACTIONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
REPORTED = (0.0, 0.1, 0.2, 0.3)
console = Console(stderr=True)

#: Single components compared with the fitted score, each oriented so that
#: higher is better.
COMPONENTS: dict[str, Callable[[dict[str, npt.NDArray[np.float64]]], npt.NDArray[np.float64]]] = {
    "eye_distance": lambda c: c["eye_distance"],
    "sharpness": lambda c: c["sharpness"],
    "exposure": lambda c: -np.abs(c["brightness"] - 128.0),
    "contrast": lambda c: c["contrast"],
    "frontal_pose": lambda c: -np.hypot(c["yaw"], c["pitch"]),
    "border_cut": lambda c: -c["border_cut"],
    "occlusion": lambda c: -c["occlusion"],
    "confidence": lambda c: c["confidence"],
}
RAW = (
    "eye_distance",
    "sharpness",
    "brightness",
    "clipped",
    "contrast",
    "yaw",
    "pitch",
    "roll",
    "border_cut",
    "occlusion",
    "asymmetry",
    "confidence",
)


# ---- degradations -----------------------------------------------------------------


def _odd(value: float) -> int:
    return max(3, int(value) // 2 * 2 + 1)


def degrade(scene: npt.NDArray[np.uint8], rng: np.random.Generator) -> tuple[Any, str]:
    """Apply one or two random degradations to a 224x224 scene; return it and a label."""
    ops = ["down", "gauss", "motion", "dark", "bright", "jpeg", "noise", "rotate", "occlude", "cut"]
    chosen = list(rng.choice(ops, size=int(rng.choice([1, 2], p=[0.6, 0.4])), replace=False))
    while {"cut", "down"} <= set(chosen):  # padding a small image would hide the cut
        chosen = list(rng.choice(ops, size=2, replace=False))
    # Geometry first (cuts and rotation), then optics, then the sensor and codec.
    order = {
        name: i
        for i, name in enumerate(
            [
                "occlude",
                "rotate",
                "cut",
                "gauss",
                "motion",
                "down",
                "dark",
                "bright",
                "noise",
                "jpeg",
            ]
        )
    }
    chosen.sort(key=order.__getitem__)
    image: Any = scene.astype(np.float64)
    labels = []
    for op in chosen:
        if op == "cut":
            fraction = rng.uniform(0.1, 0.55)
            edge = int(PAD + fraction * 112)
            side = rng.integers(4)
            if side == 0:
                image = image[:, edge:]
            elif side == 1:
                image = image[:, : image.shape[1] - edge]
            elif side == 2:
                image = image[edge:]
            else:
                image = image[: image.shape[0] - edge]
            labels.append(f"cut{fraction:.2f}")
        elif op == "rotate":
            angle = rng.uniform(-60, 60)
            h, w = image.shape[:2]
            matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            image = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
            labels.append(f"rot{angle:.0f}")
        elif op == "occlude":
            ow, oh = (int(rng.uniform(0.3, 0.6) * 112) for _ in range(2))
            x = int(rng.uniform(PAD, PAD + 112 - ow))
            y = int(rng.uniform(PAD + 20, PAD + 112 - oh))
            if rng.random() < 0.5:
                image[y : y + oh, x : x + ow] = rng.uniform(0, 255, 3)
            else:
                image[y : y + oh, x : x + ow] = rng.uniform(0, 255, (oh, ow, 3))
            labels.append(f"occ{ow}x{oh}")
        elif op == "gauss":
            sigma = rng.uniform(1.0, 5.0)
            image = cv2.GaussianBlur(image, (0, 0), sigma)
            labels.append(f"gauss{sigma:.1f}")
        elif op == "motion":
            length = _odd(rng.uniform(5, 23))
            kernel: Any = np.zeros((length, length))
            kernel[length // 2] = 1.0 / length
            rotation = cv2.getRotationMatrix2D(
                (length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0
            )
            kernel = cv2.warpAffine(kernel, rotation, (length, length))
            image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-9))
            labels.append(f"motion{length}")
        elif op == "down":
            scale = rng.uniform(0.15, 0.8)
            h, w = image.shape[:2]
            size = (max(8, round(w * scale)), max(8, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            if min(image.shape[:2]) < 160:  # a small face in a larger photo
                grow = 160 - min(image.shape[:2])
                image = cv2.copyMakeBorder(
                    image,
                    grow // 2,
                    grow - grow // 2,
                    grow // 2,
                    grow - grow // 2,
                    cv2.BORDER_REPLICATE,
                )
            labels.append(f"down{scale:.2f}")
        elif op == "dark":
            gain, gamma = rng.uniform(0.12, 0.5), rng.uniform(1.0, 2.0)
            image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** gamma * gain
            labels.append(f"dark{gain:.2f}")
        elif op == "bright":
            gain, lift = rng.uniform(1.5, 3.5), rng.uniform(0, 60)
            image = image * gain + lift
            labels.append(f"bright{gain:.1f}")
        elif op == "noise":
            sigma = rng.uniform(8, 40)
            image = image + rng.normal(0, sigma, image.shape)
            labels.append(f"noise{sigma:.0f}")
        elif op == "jpeg":
            quality = int(rng.uniform(3, 25))
            _, data = cv2.imencode(
                ".jpg", np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
            )
            image = np.asarray(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), np.float64)
            labels.append(f"jpeg{quality}")
    return np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8)), "+".join(labels)


# ---- measuring --------------------------------------------------------------------


def measure(rgb: npt.NDArray[np.uint8]) -> tuple[dict[str, float], npt.NDArray[np.uint8]] | None:
    """Detect the most central face; return its raw components and aligned crop."""
    faces = find_faces(rgb, assume_aligned=False)
    if len(faces) == 0:
        return None
    centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
    middles = faces.landmarks5.mean(axis=1)
    index = int(np.argmin(np.linalg.norm(middles - centre, axis=1) / np.sqrt(faces.areas + 1)))
    crop = warp_to_template(rgb, faces.landmarks5[index])
    quality = quality_from_crop(
        crop,
        faces.landmarks5[index],
        faces.boxes[index],
        float(faces.scores[index]),
        image_shape=rgb.shape,
    )
    return {name: float(getattr(quality, name)) for name in RAW}, crop


def build(paths: list[Path], variants: int, seed: int) -> dict[str, npt.NDArray[Any]]:
    """Measure clean crops and their degraded variants (cached)."""
    key = hashlib.sha256(
        json.dumps([str(p.name) for p in paths] + [variants, seed, 2]).encode()
    ).hexdigest()[:12]
    cached = CACHE / f"probes_{key}.npz"
    if cached.exists():
        console.print(f"using cached measurements {cached}")
        return dict(np.load(cached))
    rng = np.random.default_rng(seed)
    recognizer = sface_recognizer()
    source, kind, found, labels, raw, crops = [], [], [], [], [], []
    originals = []
    for index, path in enumerate(track(paths, description="measuring probes", console=console)):
        crop = np.asarray(Image.open(path).convert("RGB"), np.uint8)
        originals.append(crop)
        scene = np.asarray(
            cv2.copyMakeBorder(crop, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE), np.uint8
        )
        for variant in range(variants + 1):
            image, label = (scene, "clean") if variant == 0 else degrade(scene, rng)
            measured = measure(image)
            source.append(index)
            kind.append(0 if variant == 0 else 1)
            labels.append(label)
            found.append(measured is not None)
            raw.append([np.nan] * len(RAW) if measured is None else [measured[0][n] for n in RAW])
            # The clean probe is embedded as the calibration embeds it: the crop itself.
            if variant == 0:
                crops.append(crop)
            else:
                crops.append(measured[1] if measured is not None else crop)
    vectors = []
    for start in track(range(0, len(crops), 64), description="embedding", console=console):
        vectors.append(recognizer.features_from_crops(np.stack(crops[start : start + 64])))
    clean_vectors = normalise(recognizer.features_from_crops(np.stack(originals)), "sface")
    result = {
        "source": np.asarray(source),
        "kind": np.asarray(kind),
        "found": np.asarray(found),
        "label": np.asarray(labels),
        "raw": np.asarray(raw, np.float64),
        "vectors": normalise(np.concatenate(vectors), "sface").vectors,
        "clean_vectors": clean_vectors.vectors,
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cached, **result)  # type: ignore[arg-type]
    return result


def feature_matrix(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Model inputs from raw component columns (the same mapping as the library)."""
    from facescope.quality.assess import _feature_row

    return np.stack([_feature_row(dict(zip(RAW, row, strict=True))) for row in raw])


def auc(score: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve of `score` for `positive` (Mann-Whitney, ties halved)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / max(n_pos * n_neg, 1))


def pairs(
    probes: npt.NDArray[np.int64],
    data: dict[str, npt.NDArray[Any]],
    identity: npt.NDArray[np.int64],
    clean_index: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Genuine comparisons (probe row, gallery image, cosine) against other clean crops."""
    rows, gallery, scores = [], [], []
    clean = data["clean_vectors"]
    for row in probes:
        src = int(data["source"][row])
        mates = np.flatnonzero((identity == identity[src]) & (np.arange(len(identity)) != src))
        rows.append(np.full(len(mates), row))
        gallery.append(mates)
        scores.append(clean[mates] @ data["vectors"][row])
    del clean_index
    return np.concatenate(rows), np.concatenate(gallery), np.concatenate(scores)


@dataclass(frozen=True)
class ProbeSet:
    """The measured probes and their genuine comparisons."""

    names: list[str]
    identity: npt.NDArray[np.int64]  # per calibration image
    data: dict[str, npt.NDArray[Any]]
    threshold: float
    success: npt.NDArray[np.float64]  # per probe: share of its genuine comparisons that pass
    pair_rows: npt.NDArray[np.int64]
    pair_gallery: npt.NDArray[np.int64]
    pair_scores: npt.NDArray[np.float64]

    @property
    def found(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.data["found"], bool)

    def features(self) -> npt.NDArray[np.float64]:
        """Model inputs per probe (zeros where no face was found)."""
        out = np.zeros((len(self.found), len(FEATURES)))
        out[self.found] = feature_matrix(self.data["raw"][self.found])
        return out


def load_probes(variants: int, seed: int) -> ProbeSet | None:
    """Measure (or read from the cache) the probes; None without the calibration set."""
    labels_csv = DATA / "labels.csv"
    if not labels_csv.exists():
        return None
    with labels_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    paths = [DATA / r["path"] for r in rows]
    names = sorted({r["identity"] for r in rows})
    identity = np.array([names.index(r["identity"]) for r in rows])
    started = time.perf_counter()
    data = build(paths, variants, seed)
    console.print(f"{len(data['source'])} probes measured in {time.perf_counter() - started:.0f} s")
    threshold = load_calibration(None).for_model("sface").threshold(FMR)
    found = data["found"].astype(bool)
    # Success rate of each probe's genuine comparisons (the regression target).
    p_rows, p_gallery, p_scores = pairs(
        np.flatnonzero(found), data, identity, np.zeros(0, np.int64)
    )
    success = np.zeros(len(found))
    np.add.at(success, p_rows, (p_scores >= threshold).astype(float))
    counts = np.bincount(p_rows, minlength=len(found))
    success = np.divide(success, np.maximum(counts, 1))
    return ProbeSet(names, identity, data, threshold, success, p_rows, p_gallery, p_scores)


def split_identities(names: list[str], rng: np.random.Generator) -> tuple[set[int], set[int]]:
    """The seeded subject split: (fit identities, held-out identities), as indices."""
    fit_ids = set(rng.choice(len(names), len(names) // 2, replace=False).tolist())
    return fit_ids, set(range(len(names))) - fit_ids


def evaluate(
    probes: ProbeSet,
    quality: npt.NDArray[np.float64],
    fit_ids: set[int],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Error-versus-discard curves and the enrolment gate on the identities not in `fit_ids`."""
    data, identity, names, found = probes.data, probes.identity, probes.names, probes.found
    threshold, success = probes.threshold, probes.success
    p_rows, p_gallery, p_scores = probes.pair_rows, probes.pair_gallery, probes.pair_scores
    probe_identity = identity[data["source"]]
    in_fit = np.isin(probe_identity, sorted(fit_ids))
    # Quality of each clean gallery image = its clean probe's quality.
    clean_rows = np.flatnonzero(data["kind"] == 0)
    clean_quality = np.zeros(len(identity))
    clean_found = np.zeros(len(identity), bool)
    clean_quality[data["source"][clean_rows]] = quality[clean_rows]
    clean_found[data["source"][clean_rows]] = found[clean_rows]
    raw_all = {name: data["raw"][:, i] for i, name in enumerate(RAW)}

    report: dict[str, Any] = {
        "threshold": threshold,
        "fmr": FMR,
        "fractions": list(FRACTIONS),
        "split": {
            "fit": [names[i] for i in sorted(fit_ids)],
            "test": [names[i] for i in sorted(set(range(len(names))) - fit_ids)],
        },
        "sets": {},
    }
    test_mask_pairs = ~np.isin(probe_identity[p_rows], sorted(fit_ids))
    for set_name, kind in (("clean", 0), ("degraded", 1)):
        select = test_mask_pairs & (data["kind"][p_rows] == kind) & clean_found[p_gallery]
        rows_, gallery_, scores_ = p_rows[select], p_gallery[select], p_scores[select]
        if kind == 0:
            # Untouched set: unique unordered pairs, each probe is a clean crop.
            keep = data["source"][rows_] < gallery_
            rows_, gallery_, scores_ = rows_[keep], gallery_[keep], scores_[keep]
        fta = float(1 - found[(data["kind"] == kind) & ~in_fit].mean())
        # Random order first, so that ties in a component are broken at random.
        shuffle = rng.permutation(len(scores_))
        rows_, gallery_, scores_ = rows_[shuffle], gallery_[shuffle], scores_[shuffle]

        def pair_quality(
            value: npt.NDArray[np.float64],
            gallery_value: npt.NDArray[np.float64],
            kind: int = kind,
            rows: Any = rows_,
            mates: Any = gallery_,
        ) -> Any:
            # Clean pairs: both faces are probes (the smaller quality, ISO/IEC 29794-1).
            # Degraded probes meet clean enrolment photos: the probe's quality.
            if kind == 0:
                return np.minimum(value[rows], gallery_value[mates])
            return value[rows]

        curves: dict[str, list[float]] = {}
        pair_q = pair_quality(quality, clean_quality)
        curves["fitted score"] = error_versus_discard(scores_, pair_q, threshold, FRACTIONS)
        for comp, orient in COMPONENTS.items():
            value = orient(raw_all)
            gallery_value = np.zeros(len(identity))
            gallery_value[data["source"][clean_rows]] = value[clean_rows]
            q = pair_quality(value, gallery_value)
            curves[comp] = error_versus_discard(scores_, q, threshold, FRACTIONS)
        randoms = [
            error_versus_discard(scores_, rng.random(len(scores_)), threshold, FRACTIONS)
            for _ in range(20)
        ]
        curves["random"] = list(np.mean(randoms, axis=0))
        failed = scores_ < threshold
        report["sets"][set_name] = {
            "comparisons": len(scores_),
            "probes": len(np.unique(rows_)),
            "failure_to_acquire": fta,
            "auc_failure": auc(-pair_q, failed),
            "curves": curves,
        }
    # Enrolment default: share of held-out clean photos refused at candidate thresholds.
    held_clean = (data["kind"] == 0) & ~in_fit & found
    held_degraded = (data["kind"] == 1) & ~in_fit & found
    gate = {}
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        accepted = held_degraded & (quality >= t)
        gate[str(t)] = {
            "clean_refused": float((quality[held_clean] < t).mean()),
            "degraded_refused": float((quality[held_degraded] < t).mean()),
            "degraded_accepted_success": float(success[accepted].mean()) if accepted.any() else 0,
            "degraded_refused_success": float(success[held_degraded & (quality < t)].mean())
            if (held_degraded & (quality < t)).any()
            else 0,
        }
    report["enrolment_gate"] = gate
    return report


def held_out_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a fitted score records: AUC(failure) and FNMR at 0-30 % discard per set."""
    return {
        s: {
            "auc_failure": round(v["auc_failure"], 4),
            "fnmr_at_discard": {
                str(f): round(c, 4)
                for f, c in zip(FRACTIONS, v["curves"]["fitted score"], strict=True)
                if f in REPORTED
            },
        }
        for s, v in report["sets"].items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=6, help="degraded copies per crop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the curves as JSON here")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/quality_edc.png")
    args = parser.parse_args()
    probes = load_probes(args.variants, args.seed)
    if probes is None:
        console.print(f"skipped: {DATA} is absent (the calibration set is needed)")
        return 0
    model = load_quality_model()
    held_out = set(model.provenance_.get("test_identities", []))
    rng = np.random.default_rng(args.seed)
    fit_ids, _ = split_identities(probes.names, rng)  # the same random stream as the fit
    if held_out and held_out != {probes.names[i] for i in set(range(len(probes.names))) - fit_ids}:
        console.print("[yellow]the seed's split is not the model's: using the model's[/yellow]")
        fit_ids = {i for i, name in enumerate(probes.names) if name not in held_out}
    features = probes.features()
    quality = np.zeros(len(probes.found))
    success = model.classes_.index("success")
    quality[probes.found] = model.predict_proba(features[probes.found])[:, success]
    report = evaluate(probes, quality, fit_ids, rng)
    report["coefficients"] = dict(
        zip(FEATURES, [round(float(c), 4) for c in model.coef_[0]], strict=True)
    )
    show(report)
    plot(report, args.plot)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        console.print(f"wrote {args.json}")
    return 0


def show(report: dict[str, Any]) -> None:
    """Print the FNMR-at-discard tables."""
    out = Console()
    for set_name, entry in report["sets"].items():
        table = Table(
            title=f"{set_name} held-out: FNMR at FMR {report['fmr']:g} vs discard "
            f"({entry['comparisons']} comparisons, AUC(failure) "
            f"{entry['auc_failure']:.3f}, FTA {entry['failure_to_acquire']:.3f})"
        )
        table.add_column("quality")
        for f in REPORTED:
            table.add_column(f"{100 * f:.0f}%", justify="right")
        for name, curve in entry["curves"].items():
            values = dict(zip(report["fractions"], curve, strict=True))
            table.add_row(name, *(f"{values[f]:.4f}" for f in REPORTED))
        out.print(table)
    gate = Table(title="enrolment gate on held-out identities")
    for col in (
        "min_quality",
        "clean refused",
        "degraded refused",
        "accepted success",
        "refused success",
    ):
        gate.add_column(col, justify="right")
    for t, v in report["enrolment_gate"].items():
        gate.add_row(
            t,
            f"{v['clean_refused']:.3f}",
            f"{v['degraded_refused']:.3f}",
            f"{v['degraded_accepted_success']:.3f}",
            f"{v['degraded_refused_success']:.3f}",
        )
    out.print(gate)
    out.print("coefficients (standardised):", report["coefficients"])


def plot(report: dict[str, Any], target: Path) -> None:
    """Error-versus-discard curves, one panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, (set_name, entry) in zip(axes, report["sets"].items(), strict=True):
        x = 100 * np.asarray(report["fractions"])
        for name, curve in entry["curves"].items():
            style = {
                "fitted score": dict(lw=2.5, color="black"),
                "random": dict(lw=1.5, color="grey", ls="--"),
            }.get(name, dict(lw=1, alpha=0.8))
            axis.plot(x, curve, label=name, **style)
        axis.set_title(f"{set_name} (held-out identities, {entry['comparisons']} pairs)")
        axis.set_xlabel("lowest-quality comparisons discarded (%)")
        axis.set_ylabel(f"FNMR at FMR {report['fmr']:g}")
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle("Error versus discard: SFace, aligned_celebrities")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    console.print(f"wrote {target}")


if __name__ == "__main__":
    sys.exit(main())
