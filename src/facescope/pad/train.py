"""Fit a :class:`~facescope.pad.model.PADModel` from labelled aligned crops.

Used by ``scripts/fit_pad.py`` (the shipped model, trained on attacks
synthesised from bona fide photos) and by ``facescope pad train`` (the same
fit with a deployment's real attack samples added, weighted up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from facescope.heads import utc_now
from facescope.pad.cues import CROP, CUES, PADError, measure
from facescope.pad.heatmap import patch_features
from facescope.pad.model import (
    BONA_FIDE,
    L2,
    PADModel,
    fit_head,
    fusion_features,
    group_features,
    pad_thresholds,
    stack,
)
from facescope.pad.stem import GROUP as STEM
from facescope.pad.stem import stem_features

Progress = Callable[[int, int], None]


#: Side at which attacks are synthesised before the crop is reduced to 112 px.
SYNTH_SIDE = 224


def synthetic_crop(
    face: npt.NDArray[np.uint8], species: str, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """A bona fide capture or an attack of one aligned crop, back at 112x112.

    The crop is enlarged to 224 px, passed through :func:`facescope.pad.synth.synthesize`
    (attack, then the shared webcam capture) and reduced with area averaging, as a
    camera's frame is when the face is cropped from it.
    """
    from facescope.pad.synth import synthesize

    big = np.asarray(
        cv2.resize(face, (SYNTH_SIDE, SYNTH_SIDE), interpolation=cv2.INTER_CUBIC), np.uint8
    )
    made = synthesize(big, species, rng)
    return np.asarray(cv2.resize(made, (CROP, CROP), interpolation=cv2.INTER_AREA), np.uint8)


def crop_features(
    crops: Sequence[npt.NDArray[np.uint8]],
    *,
    progress: Progress | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Each cue group's vectors for a list of aligned crops, (n, d) per group.

    `groups` None measures every group: the hand-made cues of
    :data:`facescope.pad.cues.CUES` and the learned ``stem`` cue
    (:mod:`facescope.pad.stem`); otherwise only those named (a model's
    ``groups``).
    """
    return crop_features_and_stats(crops, progress=progress, groups=groups)[0]


def crop_features_and_stats(
    crops: Sequence[npt.NDArray[np.uint8]],
    *,
    progress: Progress | None = None,
    groups: Sequence[str] | None = None,
) -> tuple[dict[str, npt.NDArray[np.float64]], list[dict[str, float]]]:
    """:func:`crop_features` plus each crop's readable cue statistics (for evidence)."""
    wanted = [*CUES, STEM] if groups is None else list(groups)
    unknown = [g for g in wanted if g not in CUES and g != STEM]
    if unknown:
        raise PADError(f"unknown PAD cue group(s) {unknown}; known: {sorted([*CUES, STEM])}")
    hand_made = [g for g in wanted if g in CUES]
    rows: dict[str, list[npt.NDArray[np.float64]]] = {g: [] for g in hand_made}
    stats: list[dict[str, float]] = []
    for k, crop in enumerate(crops):
        values = measure(crop, hand_made)
        for group, cue in values.items():
            rows[group].append(cue.vector)
        stats.append({name: v for cue in values.values() for name, v in cue.stats.items()})
        if progress is not None:
            progress(k + 1, len(crops))
    features = {g: np.asarray(v, np.float64).reshape(len(crops), -1) for g, v in rows.items()}
    if STEM in wanted:
        features[STEM] = stem_features(np.asarray(crops, np.uint8).reshape(-1, CROP, CROP, 3))
    return {g: features[g] for g in wanted}, stats


def _folds(sources: npt.NDArray[np.int64], k: int, seed: int) -> npt.NDArray[np.int64]:
    unique = np.unique(sources)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {int(unique[i]): int(f % k) for f, i in enumerate(order)}
    return np.array([fold_of[int(s)] for s in sources])


def fit_model(
    features: dict[str, npt.NDArray[np.float64]],
    labels: Sequence[str],
    sources: Sequence[int],
    *,
    patches: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None = None,
    sample_weight: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    bpcer: float | None = None,
    seed: int = 0,
    folds: int = 5,
    l2: float = L2,
    meta: dict[str, object] | None = None,
) -> PADModel:
    """Group heads + fusion stacked on out-of-fold group outputs (folds by source).

    `threshold` is the decision threshold on p(bona fide) (set at `bpcer`, when
    known); `l2` the L2 strength of every head; `meta` is added to the provenance.
    """
    y = np.asarray(labels)
    if BONA_FIDE not in set(y.tolist()):
        raise PADError(f"training needs {BONA_FIDE!r} samples")
    classes = (BONA_FIDE, *sorted(set(y.tolist()) - {BONA_FIDE}))
    if len(classes) < 2:
        raise PADError("training needs attack samples as well as bona fide ones")
    src = np.asarray(sources, np.int64)
    weight = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    names = {g: group_features(g, x.shape[1]) for g, x in features.items()}
    groups = {
        g: fit_head(x, y.tolist(), classes=classes, feature_names=names[g], l2=l2,
                    sample_weight=weight)
        for g, x in features.items()
    }  # fmt: skip
    # a fold whose training part lacks a class keeps the full models' (in-sample) outputs
    out_of_fold = {g: groups[g].predict_proba(x) for g, x in features.items()}
    fold = _folds(src, folds, seed)
    for f in range(folds):
        train, test = fold != f, fold == f
        if not test.any() or len(set(y[train].tolist())) < len(classes):
            continue
        for g, x in features.items():
            w = None if weight is None else weight[train]
            model = fit_head(x[train], y[train].tolist(), classes=classes,
                             feature_names=names[g], l2=l2, sample_weight=w)  # fmt: skip
            out_of_fold[g][test] = model.predict_proba(x[test])
    stacked = stack(out_of_fold, list(features))
    fusion = fit_head(stacked, y.tolist(), classes=classes, l2=l2, sample_weight=weight,
                      feature_names=fusion_features(list(features), classes))  # fmt: skip
    patch = None
    if patches is not None:
        x_patch, is_attack = patches
        patch_labels = np.where(is_attack, "attack", BONA_FIDE).tolist()
        patch = fit_head(x_patch, patch_labels, classes=(BONA_FIDE, "attack"), l2=l2,
                         feature_names=group_features("patch", x_patch.shape[1]))  # fmt: skip
    info = {"created": utc_now(), "seed": seed, "samples": len(y), "classes": list(classes)}
    info |= meta or {}
    source = str(info.get("threshold_source", ""))
    thresholds = pad_thresholds(threshold, bpcer=bpcer, source=source)
    return PADModel(groups, fusion, patch, thresholds, info)


def patch_training_set(
    crops: Sequence[npt.NDArray[np.uint8]],
    labels: Sequence[str],
    *,
    per_crop: int = 8,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A random subset of patches of every crop, labelled attack unless bona fide."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for crop, label in zip(crops, labels, strict=True):
        rows = patch_features(crop)
        pick = rng.choice(len(rows), size=min(per_crop, len(rows)), replace=False)
        xs.append(rows[pick])
        ys.extend([label != BONA_FIDE] * len(pick))
    return np.vstack(xs), np.asarray(ys, bool)


def _held_out(sources: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Every other file is held out; with one file, the second half of its crops."""
    files = sorted(set(sources))
    if len(files) > 1:
        held_files = set(files[1::2])
        return np.array([s in held_files for s in sources])
    mask = np.zeros(len(sources), bool)
    mask[len(sources) // 2 :] = True
    return mask


def train_from_crops(
    bona_fide: Sequence[npt.NDArray[np.uint8]],
    bona_sources: Sequence[str],
    attacks: Sequence[tuple[str, Sequence[npt.NDArray[np.uint8]], Sequence[str]]] = (),
    *,
    bpcer: float = 0.05,
    real_weight: float = 3.0,
    synthetic: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
) -> PADModel:
    """A deployment's model from its real bona fide and attack crops (``facescope pad train``).

    Synthetic print and replay attacks of the same bona fide crops are added (unless
    `synthetic` is False) so every species keeps examples; real samples weigh
    `real_weight` times more. The threshold is set at `bpcer` on bona fide crops held
    out of a first fit (every other file; with a single file, its second half), then the
    model is refitted on everything with that threshold.
    """
    from facescope.pad.model import threshold_at_bpcer

    if len(bona_fide) == 0:
        raise PADError("training needs bona fide crops; got none")
    crops = list(bona_fide)
    labels = [BONA_FIDE] * len(crops)
    sources = [str(s) for s in bona_sources]
    held_bona = _held_out(sources)
    held = list(held_bona)
    weights = [real_weight] * len(crops)
    # cross-validation groups: each real crop its own, a synthetic crop its bona fide's
    origin = list(range(len(crops)))
    real_attacks = 0
    for species, items, where in attacks:
        if species == BONA_FIDE:
            raise PADError(f"{BONA_FIDE!r} is not an attack species")
        crops += list(items)
        labels += [species] * len(items)
        sources += [str(s) for s in where]
        held += list(_held_out([str(s) for s in where])) if len(items) else []
        weights += [real_weight] * len(items)
        origin += list(range(len(origin), len(origin) + len(items)))
        real_attacks += len(items)
    if synthetic:
        rng = np.random.default_rng(seed)
        for k, crop in enumerate(bona_fide):
            for species in ("print", "replay"):
                crops.append(synthetic_crop(crop, species, rng))
                labels.append(species)
                sources.append(f"synthetic:{sources[k]}")
                held.append(bool(held_bona[k]))
                weights.append(1.0)
                origin.append(k)
    if len(set(labels)) < 2:
        raise PADError("training needs attack samples: real ones, or keep synthetic on")
    features = crop_features(crops, progress=progress)
    ids = np.array(origin)
    y, w, mask = np.asarray(labels), np.asarray(weights), np.asarray(held, bool)
    patches = patch_training_set(crops, labels, seed=seed)
    threshold, how, at = 0.5, "0.5: too few samples to hold any out; calibrate it", None
    if mask.any() and (~mask).any() and set(y[~mask].tolist()) == set(labels):
        first = fit_model({g: x[~mask] for g, x in features.items()}, y[~mask].tolist(),
                          ids[~mask].tolist(), sample_weight=w[~mask], seed=seed)  # fmt: skip
        pick = mask & (y == BONA_FIDE)
        if pick.any():
            live = first.live_probability({g: x[pick] for g, x in features.items()})
            threshold, at = threshold_at_bpcer(live, bpcer), bpcer
            how = f"BPCER {bpcer:g} on {int(pick.sum())} held-out real bona fide crops"
    meta = {"calibrated_on_real": how.startswith("BPCER"), "threshold_source": how,
            "script": "facescope pad train", "data": "a deployment's real captures",
            "real_bona_fide": len(bona_fide), "real_attacks": real_attacks}  # fmt: skip
    return fit_model(features, labels, ids.tolist(), patches=patches, sample_weight=w,
                     threshold=threshold, bpcer=at, seed=seed, meta=meta)  # fmt: skip


__all__ = ["crop_features", "fit_model", "patch_training_set", "synthetic_crop", "train_from_crops"]
