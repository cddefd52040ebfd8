"""Fit the out-of-domain (non-face) embedding detector of facescope.privacy.ood.

Usage: python scripts/fit_ood.py [--models sface dlib] [--out-dir src/facescope/privacy]

Writes ``ood_<model>.npz`` (the fit faces' distribution) and ``ood_<model>.json``
(the heads and thresholds) into ``--out-dir`` (deterministic: fixed seeds).
Only shippable or generated data is used:

* faces: 300 DCGAN prior faces (seed 1; the inversion pool uses seed 0) and the
  100 ``skimage.data.lfw_subset`` faces, each also mirrored (upscaled from 25x25);
* non-faces: the first 50 ``lfw_subset`` non-faces (mirrored too) and synthetic
  textures (seed 1, 17 per kind). The last 50 ``lfw_subset`` non-faces, the
  scikit-image photos and textures of other seeds are left for the benchmark.

Stored: the linear face/non-face :class:`~facescope.heads.LogisticHead` on unit
embeddings (C = 0.1, sources weighted equally; its thresholds and fusion inputs
use 5-fold cross-validated scores), the mean and Ledoit-Wolf precision of the
fit faces' unit embeddings, the sign of the norm component, every component's
and every fusion's 95%-TAR threshold on the fit faces, and per fused component
set a standardised logistic head over the components (classes and sources
weighted equally). Every head is fitted with scikit-learn's lbfgs, as shipped:
with the defaults this reproduces the shipped files (the fusions to 1e-9: their
scales drop a 1e-12 guard). About 3.5 minutes per model on 2 cores (needs torch).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.model_selection import StratifiedKFold

from facescope._json import write_json
from facescope.evaluate.cache import model_version
from facescope.heads import LogisticHead, provenance
from facescope.privacy import ood
from facescope.privacy.invert import DEFAULT_POOL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_ood import lfw_subset_images  # noqa: E402  (the lfw halves are the benchmark's)

GAN_FACES, GAN_SEED = 300, 1
TEXTURES_PER_KIND, TEXTURE_SEED = 17, 1
FIT_LFW_NONFACES = 50
FOLDS, FOLD_SEED = 5, 0


def log(message: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:7.1f} s] {message}", flush=True)


def fit_data(model: str, start: float) -> dict[str, np.ndarray]:
    """Raw features per fit source."""
    faces, nonfaces = lfw_subset_images()
    fit_nonfaces = nonfaces[:FIT_LFW_NONFACES]
    textures = np.concatenate(
        list(ood.synthetic_textures(TEXTURES_PER_KIND, TEXTURE_SEED).values())
    )
    sources = {
        "face:lfw": np.concatenate([faces, faces[:, :, ::-1]]),
        "nonface:lfw": np.concatenate([fit_nonfaces, fit_nonfaces[:, :, ::-1]]),
        "nonface:textures": textures,
    }
    raw = {}
    log(f"{model}: embedding {GAN_FACES} DCGAN faces", start)
    raw["face:gan"] = ood.generated_face_features(GAN_FACES, model, GAN_SEED)
    for name, images in sources.items():
        log(f"{model}: embedding {len(images)} images of {name}", start)
        raw[name] = ood.raw_features(list(images), model)
    return raw


def quantile_threshold(values: np.ndarray) -> float:
    return float(np.quantile(values, 1.0 - ood.TARGET_TAR))


def linear_head() -> LogisticHead:
    """An unfitted linear face/non-face head on unit embeddings."""
    return LogisticHead(
        **ood.LINEAR_PARAMS,
        class_names=ood.CLASSES,
        feature_names=ood.embedding_features(),
    )


def fusion_head(parts: list[str]) -> LogisticHead:
    """An unfitted fusion head over the components `parts`."""
    return LogisticHead(
        **ood.FUSION_PARAMS,
        class_names=ood.CLASSES,
        feature_names=parts,
    )


def fit_model(model: str, out_dir: Path, start: float) -> None:
    raw = fit_data(model, start)
    names = list(raw)
    features = np.concatenate([raw[n] for n in names]).astype(np.float64)
    source = np.concatenate([[n] * len(raw[n]) for n in names])
    is_face = np.char.startswith(source.astype(str), "face:")
    labels = np.where(is_face, "face", "nonface")
    norms = np.linalg.norm(features, axis=1)
    unit = features / norms[:, None]

    log(f"{model}: Ledoit-Wolf covariance of {is_face.sum()} face embeddings", start)
    shrunk = LedoitWolf().fit(unit[is_face])
    sign = 1.0 if np.log(norms[is_face]).mean() >= np.log(norms[~is_face]).mean() else -1.0
    version = model_version(model)
    distribution: dict[str, np.ndarray] = {
        "mean": shrunk.location_.astype(np.float32),
        "precision": shrunk.precision_.astype(np.float32),
        "norm_sign": np.float32(sign),
        "pool_size": np.int64(DEFAULT_POOL),
        "model_version": np.str_(version),
        "shrinkage": np.float32(shrunk.shrinkage_),
    }
    weights = np.zeros(len(source))
    for klass in (True, False):
        members = np.unique(source[is_face == klass])
        for member in members:
            mask = source == member
            weights[mask] = 1.0 / (len(members) * mask.sum())
    weights *= len(weights)
    log(f"{model}: linear head on {len(unit)} unit embeddings", start)
    linear = linear_head().fit(unit, labels, weights)
    held_out = np.zeros(len(unit))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=FOLD_SEED)
    for train, test in folds.split(unit, source):
        fold = linear_head().fit(unit[train], labels[train], weights[train])
        held_out[test] = fold.decision_function(unit[test])
    # component values with the stored statistics (float32 distribution), as at run time
    npz, document = out_dir / f"ood_{model}.npz", out_dir / f"ood_{model}.json"
    thresholds: dict[str, float] = {}
    fusions: dict[str, LogisticHead] = {}
    np.savez(npz, **distribution)  # provisional pair so that component_scores can load it
    write_json(document, ood.heads_document(linear, {}, ood.tar_thresholds({})))
    stats = ood.OODStats.load(model, npz)
    with ood._stats_lock:
        ood._stats[model] = stats
    log(f"{model}: components (inversion pool of {DEFAULT_POOL} prior faces)", start)
    values = ood.component_scores(unit, model, ood.COMPONENTS, raw_norms=norms)
    values["linear"] = held_out  # out-of-fold: an honest threshold and fusion input
    for name, value in values.items():
        thresholds[name] = quantile_threshold(value[is_face])
    for key in ood.fusion_names():
        parts = key.split("+")
        x = np.stack([values[p] for p in parts], axis=1)
        head = fusion_head(parts).fit(x, labels, weights)
        fusions[key] = head
        thresholds[key] = quantile_threshold(head.decision_function(x)[is_face])
        log(f"{model}: fusion {key}: coef {np.round(head.coef_[0], 3).tolist()}", start)
    record = provenance(
        script=f"python scripts/fit_ood.py --models {model}",
        data="faces: 300 DCGAN prior faces (seed 1) + the 100 skimage lfw_subset faces, "
        "mirrored; non-faces: the first 50 lfw_subset non-faces, mirrored, + 102 synthetic "
        "textures (seed 1)",
        split="all of the fit data fits; thresholds at 95% TAR on the fit faces (5-fold "
        "cross-validated scores for the linear component); ../shared/testdata is the test set",
        seed=FOLD_SEED,
        metrics={},
        model_version=version,
    )
    order = {name: thresholds[name] for name in [*ood.COMPONENTS, *ood.fusion_names()]}
    np.savez(npz, **distribution)
    write_json(
        document, ood.heads_document(linear, fusions, ood.tar_thresholds(order), record), indent=1
    )
    with ood._stats_lock:
        ood._stats.pop(model, None)
    log(
        f"{model}: wrote {npz} and {document}; { {k: round(v, 4) for k, v in order.items()} }",
        start,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(ood.MODELS), choices=ood.MODELS)
    parser.add_argument("--out-dir", type=Path, default=ood.HERE)
    args = parser.parse_args()
    start = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        fit_model(model, args.out_dir, start)


if __name__ == "__main__":
    main()
