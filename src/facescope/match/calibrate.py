"""Calibrate decision thresholds from embeddings of labelled faces.

:func:`calibrate_scores` turns embeddings and identity labels into a
:class:`~facescope.match.thresholds.Calibration`; :func:`facescope.api.calibrate`
does the same from a folder-per-identity tree of photos (it embeds them first).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.errors import CalibrationError
from facescope.heads import provenance
from facescope.match.metrics import equal_error_rate, operating_point
from facescope.match.thresholds import FUSION, Calibration, ModelCalibration

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}
)
DEFAULT_FMR_TARGETS = (1e-2, 1e-3, 1e-4)

Progress = Callable[[Iterable[Path]], Iterable[Path]]


@dataclass(frozen=True)
class LabelledImages:
    """Image paths with identity labels, from a folder-per-identity tree."""

    paths: list[Path]
    identities: list[str]


def folder_per_identity(root: str | os.PathLike[str]) -> LabelledImages:
    """List images under ``root/<identity>/...`` (one sub-folder per person)."""
    base = Path(root)
    if not base.is_dir():
        raise CalibrationError(f"{base}: not a directory (expected one sub-folder per identity)")
    paths: list[Path] = []
    identities: list[str] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(file)
                identities.append(folder.name)
    if len(set(identities)) < 2:
        raise CalibrationError(
            f"{base}: need at least 2 identity sub-folders with images, "
            f"found {len(set(identities))}"
        )
    return LabelledImages(paths, identities)


def pair_scores(
    vectors: npt.NDArray[np.float32], identities: Sequence[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cosine scores of all genuine pairs and all impostor pairs (each pair once)."""
    labels = np.asarray(identities)
    similarity = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    upper = np.triu_indices(len(labels), k=1)
    scores = similarity[upper]
    same = (labels[:, None] == labels[None, :])[upper]
    return scores[same], scores[~same]


@dataclass(frozen=True)
class CalibrationRun:
    """A calibration and what it was computed from."""

    calibration: Calibration
    n_images: int
    n_identities: int
    failures: dict[str, str]


def calibrate_scores(
    vectors: dict[str, npt.NDArray[np.float32]],
    identities: Sequence[str],
    *,
    fmr_targets: Sequence[float] = DEFAULT_FMR_TARGETS,
    source: str = "",
    script: str = "",
) -> Calibration:
    """Thresholds for each model (and their fusion) from embeddings of labelled faces.

    `vectors` maps each model to its (n, d) L2-normalised embeddings, parallel to
    `identities`. The fusion weight is chosen on the same data to maximise the
    true-match rate at the first FMR target (one free parameter), so quote its
    figures as calibrated, not as a held-out test. Embedding the images is the
    caller's part (:func:`facescope.api.calibrate` for a folder of photos).
    """
    counts = np.unique(np.asarray(identities), return_counts=True)[1]
    if len(counts) < 2 or int(counts.max()) < 2:
        raise CalibrationError(
            f"{source or 'calibration set'}: need 2+ identities and at least one with 2+ "
            "usable images"
        )
    models = list(vectors)
    primary = float(fmr_targets[0]) if len(fmr_targets) == 1 else 1e-3
    scores: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {
        model: pair_scores(vectors[model], identities) for model in models
    }
    entries = {model: _model_entry(*scores[model], fmr_targets) for model in models}
    if len(models) >= 2:
        partial = Calibration(source, entries)
        entries[FUSION] = _fusion_entry(partial, scores, models, fmr_targets, primary)
    record = provenance(
        script=script,
        data=source,
        split="every pair of the set (calibration figures, not a held-out test)",
    )
    return Calibration(source, entries, record)


def _model_entry(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    fmr_targets: Sequence[float],
    weights: dict[str, float] | None = None,
) -> ModelCalibration:
    points = [operating_point(genuine, impostor, target) for target in fmr_targets]
    return ModelCalibration(
        thresholds={p.fmr_target: p.threshold for p in points},
        fnmr={p.fmr_target: p.fnmr for p in points},
        eer=equal_error_rate(genuine, impostor)[0],
        impostor_mean=float(impostor.mean()),
        impostor_std=float(impostor.std()),
        n_genuine=len(genuine),
        n_impostor=len(impostor),
        weights=weights or {},
    )


def _fusion_entry(
    partial: Calibration,
    scores: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
    models: Sequence[str],
    fmr_targets: Sequence[float],
    primary: float,
) -> ModelCalibration:
    """Grid-search the fusion weights of two models on TAR at `primary`, then EER."""
    first, second = models[0], models[1]
    best: tuple[float, float, float] | None = None
    for weight in np.round(np.linspace(0.0, 1.0, 21), 2):
        weights = {first: float(weight), second: float(1.0 - weight)}
        fused = Calibration(partial.source, {**partial.models, FUSION: _weights_only(weights)})
        genuine = fused.fuse({m: scores[m][0] for m in models})
        impostor = fused.fuse({m: scores[m][1] for m in models})
        point = operating_point(genuine, impostor, primary)
        key = (-point.fnmr, -point.eer, float(weight))
        if best is None or key > best:
            best = key
    assert best is not None
    weights = {first: best[2], second: round(1.0 - best[2], 2)}
    fused = Calibration(partial.source, {**partial.models, FUSION: _weights_only(weights)})
    genuine = fused.fuse({m: scores[m][0] for m in models})
    impostor = fused.fuse({m: scores[m][1] for m in models})
    return _model_entry(genuine, impostor, fmr_targets, weights)


def _weights_only(weights: dict[str, float]) -> ModelCalibration:
    return ModelCalibration({}, {}, 0.0, 0.0, 1.0, 0, 0, weights)
