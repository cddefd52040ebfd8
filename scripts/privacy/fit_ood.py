"""Fit the out-of-domain (non-face) embedding detector of facescope.privacy.ood.

Usage: python scripts/privacy/fit_ood.py [--models sface dlib]

Writes ``src/facescope/privacy/ood_<model>.npz`` (deterministic: fixed seeds).
Only shippable or generated data is used:

* faces: 300 DCGAN prior faces (seed 1; the inversion pool uses seed 0) and the
  100 ``skimage.data.lfw_subset`` faces, each also mirrored (upscaled from 25x25);
* non-faces: the first 50 ``lfw_subset`` non-faces (mirrored too) and synthetic
  textures (seed 1, 17 per kind). The last 50 ``lfw_subset`` non-faces, the
  scikit-image photos and textures of other seeds are left for the benchmark.

Stored: the linear face/non-face head on unit embeddings (logistic regression,
C=0.1, sources weighted equally; its thresholds and fusion inputs use 5-fold
cross-validated scores), the mean and Ledoit-Wolf precision of the fit faces' unit embeddings, the
sign of the norm component, every component's and every fusion's 95%-TAR
threshold on the fit faces, and per fused component set the standardisation and
logistic-regression coefficients (classes and sources weighted equally).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from facescope.evaluate.cache import model_version
from facescope.privacy import ood
from facescope.privacy.invert import DEFAULT_POOL

GAN_FACES, GAN_SEED = 300, 1
TEXTURES_PER_KIND, TEXTURE_SEED = 17, 1
FIT_LFW_NONFACES = 50
LINEAR_C = 0.1


def log(message: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:7.1f} s] {message}", flush=True)


def fit_data(model: str, start: float) -> dict[str, np.ndarray]:
    """Raw features per fit source."""
    faces, nonfaces = ood.lfw_subset_images()
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


def fit_model(model: str, out: Path, start: float) -> None:
    raw = fit_data(model, start)
    names = list(raw)
    features = np.concatenate([raw[n] for n in names]).astype(np.float64)
    source = np.concatenate([[n] * len(raw[n]) for n in names])
    is_face = np.char.startswith(source.astype(str), "face:")
    norms = np.linalg.norm(features, axis=1)
    unit = features / norms[:, None]

    log(f"{model}: Ledoit-Wolf covariance of {is_face.sum()} face embeddings", start)
    shrunk = LedoitWolf().fit(unit[is_face])
    mean, precision = shrunk.location_, shrunk.precision_
    sign = 1.0 if np.log(norms[is_face]).mean() >= np.log(norms[~is_face]).mean() else -1.0
    stored: dict[str, np.ndarray] = {
        "mean": mean.astype(np.float32),
        "precision": precision.astype(np.float32),
        "norm_sign": np.float32(sign),
        "pool_size": np.int64(DEFAULT_POOL),
        "model_version": np.str_(model_version(model)),
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
    head = LogisticRegression(C=LINEAR_C, max_iter=5000).fit(unit, is_face, sample_weight=weights)
    stored["linear:coef"] = head.coef_[0].astype(np.float64)
    stored["linear:intercept"] = np.float64(head.intercept_[0])
    held_out = np.zeros(len(unit))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(unit, source):
        fold = LogisticRegression(C=LINEAR_C, max_iter=5000)
        fold.fit(unit[train], is_face[train], sample_weight=weights[train])
        held_out[test] = fold.decision_function(unit[test])
    # component values with the stored (float32) statistics, exactly as at run time
    np.savez(out, **stored)  # provisional file so component_scores can load it
    ood._stats.pop(model, None)
    log(f"{model}: components (inversion pool of {DEFAULT_POOL} prior faces)", start)
    values = ood.component_scores(unit, model, ood.COMPONENTS, raw_norms=norms)
    values["linear"] = held_out  # out-of-fold: an honest threshold and fusion input
    for name, value in values.items():
        stored[f"threshold:{name}"] = np.float64(quantile_threshold(value[is_face]))

    for key in ood.fusion_names():
        parts = key.split("+")
        x = np.stack([values[p] for p in parts], axis=1)
        loc, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
        z = (x - loc) / scale
        head = LogisticRegression(C=1.0, max_iter=1000).fit(z, is_face, sample_weight=weights)
        logit = z @ head.coef_[0] + head.intercept_[0]
        stored[f"fusion:{key}:loc"] = loc
        stored[f"fusion:{key}:scale"] = scale
        stored[f"fusion:{key}:coef"] = head.coef_[0].astype(np.float64)
        stored[f"fusion:{key}:intercept"] = np.float64(head.intercept_[0])
        stored[f"threshold:{key}"] = np.float64(quantile_threshold(logit[is_face]))
        log(f"{model}: fusion {key}: coef {np.round(head.coef_[0], 3).tolist()}", start)
    np.savez(out, **stored)
    ood._stats.pop(model, None)
    thresholds = {k: round(float(v), 4) for k, v in stored.items() if k.startswith("threshold:")}
    log(f"{model}: wrote {out} ({out.stat().st_size} bytes); {thresholds}", start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(ood.MODELS), choices=ood.MODELS)
    args = parser.parse_args()
    start = time.perf_counter()
    for model in args.models:
        fit_model(model, ood.stats_path(model), start)


if __name__ == "__main__":
    main()
