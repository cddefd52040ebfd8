"""Out-of-domain (non-face) embedding detection: facescope.privacy.ood per model and method.

Faces: ``../shared/testdata/faces/aligned_celebrities`` and ``orl`` (through the
normal pipeline and the evaluation cache, raw norms included); skipped with a
message when absent. Non-faces, per category, embedded from the image resized
to the model's input (SFace 112x112 crop, dlib 150x150 chip):

* ``skimage photos``: scikit-image's sample photos (not ``astronaut``, which is
  a portrait), whole and four random crops each; never used in fitting;
* ``lfw non-faces (held out)``: the last 50 ``lfw_subset`` non-faces (the first
  50 are fit data);
* ``textures``: synthetic textures of a seed the fit never saw (same kinds as
  the fit textures: new draws, not a new category);
* ``blank frames``: one-colour frames (same caveat).

``generated faces`` (200 DCGAN prior faces of a new seed) are faces, reported
on their own. Per method: AUROC (real faces vs every non-face), the non-face
accept rate at 95% TAR on the real faces, and at the default threshold (95% TAR
on the fit faces) the FRR on real faces, the accept rate per non-face category
and of the generated faces.

    python benchmarks/bench_ood.py [--json out/ood/metrics.json] [--plot docs/privacy/ood_roc.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from facescope.evaluate.cache import EmbeddingCache, embed_dataset, file_sha256
from facescope.evaluate.datasets import load_dataset
from facescope.privacy import ood

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
FACE_SETS = ("aligned_celebrities", "orl")
PHOTOS = (
    "brick",
    "camera",
    "cat",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "rocket",
    "text",
)
METHODS = (
    "linear",
    "mahalanobis",
    "inversion",
    "linear+inversion",
    "norm",
    "linear+norm",
    "fusion",
)
GENERATED = "generated faces"


def real_faces(model: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Unit vectors and raw norms of the shared face sets (largest face per image)."""
    cache = EmbeddingCache()
    vectors, norms, counts = [], [], {}
    for name in FACE_SETS:
        folder = TESTDATA / "faces" / name
        if not (folder / "labels.csv").is_file():
            print(f"  {folder} absent: skipped")
            continue
        dataset = load_dataset(folder)
        embedded = embed_dataset(dataset, [model], cache=cache)
        shas = [file_sha256(p) for p in dataset.paths]
        entries = cache.get_many(shas, model, None)
        keep = [
            i
            for i, sha in enumerate(shas)
            if embedded.found[i] and sha in entries and entries[sha].norm is not None
        ]
        vectors.append(embedded.vectors[model][keep])
        norms.append(np.array([entries[shas[i]].norm for i in keep], np.float64))
        counts[name] = len(keep)
        print(f"  {name}: {len(keep)} faces ({len(dataset.paths) - len(keep)} not found)")
    if not vectors:
        return np.zeros((0, 128), np.float32), np.zeros(0), counts
    return np.concatenate(vectors), np.concatenate(norms), counts


def lfw_subset_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's ``lfw_subset``: (100 faces, 100 non-faces), 25x25 grey uint8.

    Fit data of ``scripts/fit_ood.py`` (the faces, the first 50 non-faces) and test
    data here (the last 50 non-faces); scikit-image is a dev dependency only.
    """
    from skimage import data

    pixels = (np.asarray(data.lfw_subset()) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
    return pixels[:100], pixels[100:]


def photo_images(rng: np.random.Generator) -> list[np.ndarray]:
    from skimage import data

    images = []
    for name in PHOTOS:
        photo = np.asarray(getattr(data, name)())
        if photo.dtype != np.uint8:
            photo = (np.clip(photo, 0, 1) * 255).astype(np.uint8)
        images.append(photo)
        height, width = photo.shape[:2]
        for _ in range(4):
            side = int(rng.integers(min(height, width) // 4, min(height, width) // 2 + 1))
            y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            images.append(photo[y : y + side, x : x + side])
    return images


def categories(model: str) -> dict[str, np.ndarray]:
    """Raw features per non-face category, and of the generated faces."""
    rng = np.random.default_rng(2)
    _, lfw_nonfaces = lfw_subset_images()
    textures = ood.synthetic_textures(10, seed=2)
    blank = textures.pop("blank")
    images: dict[str, list[np.ndarray]] = {
        "skimage photos": photo_images(rng),
        "lfw non-faces (held out)": list(lfw_nonfaces[50:]),
        "textures": [t for kind in textures.values() for t in kind],
        "blank frames": [
            *blank,
            *np.stack([np.full((112, 112, 3), v, np.uint8) for v in (0, 255)]),
        ],
    }
    raw = {name: ood.raw_features(items, model) for name, items in images.items()}
    raw[GENERATED] = ood.generated_face_features(200, model, seed=2)
    return raw


def evaluate(model: str) -> dict[str, Any] | None:
    start = time.perf_counter()
    print(f"{model}: real faces")
    faces, face_norms, counts = real_faces(model)
    if not len(faces):
        print(f"{model}: no face data under {TESTDATA}; skipped")
        return None
    print(f"{model}: non-face categories and generated faces")
    raw = categories(model)
    stats = ood.load_stats(model)
    result: dict[str, Any] = {
        "faces": counts,
        "nonfaces": {k: len(v) for k, v in raw.items() if k != GENERATED},
        "generated_faces": len(raw[GENERATED]),
        "methods": {},
    }
    for method in METHODS:
        key = ood.canonical(ood.resolve_method(method, has_norm=True))
        scores = {
            "real faces": ood.face_embedding_scores(
                faces, model, raw_norms=face_norms, method=method
            )
        }
        for name, features in raw.items():
            norms = np.linalg.norm(features, axis=1)
            scores[name] = ood.face_embedding_scores(
                features, model, raw_norms=norms, method=method
            )
        nonface = np.concatenate(
            [v for k, v in scores.items() if k not in ("real faces", GENERATED)]
        )
        real = scores["real faces"]
        labels = np.r_[np.ones(len(real)), np.zeros(len(nonface))]
        joined = np.r_[real, nonface]
        at_tar = float(np.quantile(real, 1.0 - ood.TARGET_TAR))
        threshold = stats.thresholds[key]
        fpr, tpr, _ = roc_curve(labels, joined)
        result["methods"][method] = {
            "components": key,
            "auroc": float(roc_auc_score(labels, joined)),
            "nonface_accept_at_95tar": float((nonface >= at_tar).mean()),
            "threshold": threshold,
            "frr_real_faces": float((real < threshold).mean()),
            "nonface_accept_at_threshold": float((nonface >= threshold).mean()),
            "accept_at_threshold": {
                name: float((values >= threshold).mean())
                for name, values in scores.items()
                if name != "real faces"
            },
            "auroc_per_category": {
                name: float(
                    roc_auc_score(
                        np.r_[np.ones(len(real)), np.zeros(len(values))], np.r_[real, values]
                    )
                )
                for name, values in scores.items()
                if name not in ("real faces", GENERATED)
            },
            "roc": {
                "fpr": fpr[:: max(1, len(fpr) // 200)].tolist(),
                "tpr": tpr[:: max(1, len(tpr) // 200)].tolist(),
            },
        }
        row = result["methods"][method]
        print(
            f"  {model:5s} {method:22s} AUROC {row['auroc']:.3f}  non-face accept@95%TAR "
            f"{row['nonface_accept_at_95tar']:.3f}  FRR@thr {row['frr_real_faces']:.3f}  "
            f"non-face accept@thr {row['nonface_accept_at_threshold']:.3f}  "
            f"generated accept@thr {row['accept_at_threshold'][GENERATED]:.3f}"
        )
    result["seconds"] = time.perf_counter() - start
    return result


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 5), squeeze=False)
    for ax, (model, result) in zip(axes[0], results.items(), strict=True):
        for method, row in result["methods"].items():
            ax.plot(row["roc"]["fpr"], row["roc"]["tpr"], label=f"{method} ({row['auroc']:.3f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
        ax.set_title(f"{model}: real faces vs non-faces")
        ax.set_xlabel("non-face accept rate")
        ax.set_ylabel("face accept rate")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "out/ood/metrics.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/privacy/ood_roc.png")
    parser.add_argument("--models", nargs="+", default=list(ood.MODELS), choices=ood.MODELS)
    args = parser.parse_args()
    results = {}
    for model in args.models:
        found = evaluate(model)
        if found is not None:
            results[model] = found
    if not results:
        print(f"no face data under {TESTDATA}: nothing measured")
        return 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    trimmed = {
        m: {
            **r,
            "methods": {
                k: {x: y for x, y in v.items() if x != "roc"} for k, v in r["methods"].items()
            },
        }
        for m, r in results.items()
    }
    args.json.write_text(json.dumps(trimmed, indent=2), encoding="utf-8")
    print(f"wrote {args.json}")
    plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
