"""The trained PAD fusion: per-cue linear models stacked by a linear fusion.

Each cue group (:mod:`facescope.pad.cues`) has its own standardised,
L2-regularised multinomial logistic regression over the classes
``bona_fide`` and the attack species; the fusion is a second logistic
regression over the groups' log-probabilities, fitted on out-of-fold group
outputs (grouped by source image, so a photo's synthetic variants never sit
on both sides). A patch model (bona fide vs attack on 32x32 patches) draws the
heatmap. Everything is stored as plain numbers in JSON and evaluated with
numpy: loading a model runs no code.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.pad.cues import PADError

FloatArray = npt.NDArray[np.float64]
BONA_FIDE = "bona_fide"
MODEL_FORMAT = "facescope-pad-1"
#: The shipped model file (package data).
SHIPPED = "pad_model.json"


@dataclass(frozen=True)
class LinearModel:
    """Standardise, then softmax(x @ coef.T + intercept); two classes use one logit."""

    classes: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: FloatArray

    def logits(self, x: npt.ArrayLike) -> FloatArray:
        """Class scores before the softmax, (n, classes)."""
        z = (np.atleast_2d(np.asarray(x, np.float64)) - self.mean) / self.scale
        raw = z @ self.coef.T + self.intercept
        if len(self.classes) == 2 and raw.shape[1] == 1:
            raw = np.hstack([-raw / 2, raw / 2])
        return np.asarray(raw, np.float64)

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Class probabilities, (n, classes)."""
        logits = self.logits(x)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True), np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            tuple(data["classes"]),
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64),
            np.atleast_2d(np.asarray(data["coef"], np.float64)),
            np.asarray(data["intercept"], np.float64).reshape(-1),
        )


def fit_linear(
    x: npt.ArrayLike,
    y: Sequence[str],
    *,
    c: float = 0.3,
    sample_weight: npt.ArrayLike | None = None,
    classes: Sequence[str] | None = None,
) -> LinearModel:
    """A standardised L2 logistic regression (scikit-learn's lbfgs) as a :class:`LinearModel`."""
    from sklearn.linear_model import LogisticRegression

    data = np.asarray(x, np.float64)
    labels = np.asarray(y)
    names = tuple(classes) if classes is not None else tuple(sorted(set(labels.tolist())))
    if len(set(labels.tolist())) < 2:
        raise PADError("training needs at least two classes (bona fide and one attack species)")
    mean = data.mean(axis=0)
    scale = data.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit((data - mean) / scale, labels, sample_weight=sample_weight)
    order = [list(model.classes_).index(name) for name in names if name in model.classes_]
    if len(model.classes_) == 2:
        coef, intercept = model.coef_, model.intercept_
        if model.classes_[1] != names[1]:
            coef, intercept = -coef, -intercept
    else:
        coef, intercept = model.coef_[order], model.intercept_[order]
    return LinearModel(names, mean, scale, np.asarray(coef), np.asarray(intercept))


def stack(per_group: Mapping[str, FloatArray], groups: Sequence[str]) -> FloatArray:
    """The fusion's input: the groups' log-probabilities side by side, in `groups` order."""
    return np.hstack([np.log(np.asarray(per_group[g]) + 1e-6) for g in groups])


@dataclass(frozen=True)
class PADModel:
    """Group models, fusion, patch model, decision threshold on p(bona fide), provenance."""

    groups: dict[str, LinearModel]
    fusion: LinearModel
    patch: LinearModel | None
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.fusion.classes

    @property
    def species(self) -> tuple[str, ...]:
        """The attack species the model tells apart."""
        return tuple(c for c in self.classes if c != BONA_FIDE)

    def group_proba(self, features: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
        """Each group's class probabilities, (n, classes)."""
        missing = [g for g in self.groups if g not in features]
        if missing:
            raise PADError(f"PAD features lack cue group(s) {missing}")
        return {g: m.predict_proba(features[g]) for g, m in self.groups.items()}

    def fusion_logits(self, per_group: Mapping[str, FloatArray]) -> FloatArray:
        """The fusion's class logits from the groups' probabilities (:meth:`group_proba`)."""
        return self.fusion.logits(stack(per_group, list(self.groups)))

    def fused_logits(self, features: Mapping[str, FloatArray]) -> FloatArray:
        """The fusion's class logits from the cue features."""
        return self.fusion_logits(self.group_proba(features))

    def predict_proba(self, features: Mapping[str, FloatArray]) -> FloatArray:
        """Fused class probabilities, (n, classes)."""
        logits = self.fused_logits(features)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True), np.float64)

    def live_probability(self, features: Mapping[str, FloatArray]) -> FloatArray:
        """p(bona fide), (n,)."""
        return self.predict_proba(features)[:, self.classes.index(BONA_FIDE)]

    def with_threshold(self, threshold: float, **meta: Any) -> PADModel:
        """The same model with a new decision threshold (and provenance added)."""
        if not (0.0 <= threshold <= 1.0) or not np.isfinite(threshold):
            raise PADError(f"a PAD threshold is a probability in [0, 1], got {threshold}")
        return replace(self, threshold=float(threshold), meta={**self.meta, **meta})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "groups": {g: m.to_dict() for g, m in self.groups.items()},
            "fusion": self.fusion.to_dict(),
            "patch": None if self.patch is None else self.patch.to_dict(),
            "threshold": self.threshold,
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (atomically: a partial file never replaces a good one)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        partial.replace(target)
        return target

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PADModel:
        if data.get("format") != MODEL_FORMAT:
            raise PADError(f"not a facescope PAD model (format {data.get('format')!r})")
        patch = data.get("patch")
        return cls(
            {g: LinearModel.from_dict(m) for g, m in data["groups"].items()},
            LinearModel.from_dict(data["fusion"]),
            None if patch is None else LinearModel.from_dict(patch),
            float(data["threshold"]),
            dict(data.get("meta", {})),
        )


def load_model(path: str | os.PathLike[str] | None = None) -> PADModel:
    """The model at `path`, or the shipped one; a clear :class:`PADError` when unusable."""
    try:
        if path is None:
            text = resources.files("facescope.pad").joinpath(SHIPPED).read_text("utf-8")
            where = f"the shipped {SHIPPED}"
        else:
            text = Path(path).read_text(encoding="utf-8")
            where = str(path)
    except FileNotFoundError as exc:
        raise PADError(f"PAD model file not found: {path or SHIPPED}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PADError(f"cannot read PAD model {path}: {exc}") from exc
    try:
        return PADModel.from_dict(json.loads(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PADError):
            raise
        raise PADError(f"{where} is not a valid PAD model: {exc}") from exc


_SHARED: PADModel | None = None


def shipped_model() -> PADModel:
    """The shipped model, loaded once."""
    global _SHARED
    if _SHARED is None:
        _SHARED = load_model()
    return _SHARED


#: Environment variable naming a calibrated or retrained model to use by default.
MODEL_ENV = "FACESCOPE_PAD_MODEL"


def default_model() -> PADModel:
    """The model named by ``FACESCOPE_PAD_MODEL`` (a calibrated one), else the shipped one."""
    value = os.environ.get(MODEL_ENV)
    return load_model(value) if value else shipped_model()


def threshold_at_bpcer(live_scores: npt.ArrayLike, bpcer: float) -> float:
    """The p(live) threshold that rejects `bpcer` of these bona fide presentations."""
    scores = np.asarray(live_scores, np.float64).ravel()
    if scores.size == 0:
        raise PADError("calibration needs bona fide scores; got none")
    if not np.all(np.isfinite(scores)):
        raise PADError("calibration scores contain NaN or infinity")
    if not 0.0 <= bpcer < 1.0:
        raise PADError(f"BPCER must be in [0, 1), got {bpcer}")
    ordered = np.sort(scores)
    k = int(np.floor(bpcer * len(ordered)))  # reject the k lowest
    if k == 0:
        return float(max(0.0, np.nextafter(ordered[0], -np.inf)))
    return float((ordered[k - 1] + ordered[k]) / 2)


def stamp() -> str:
    """Now, for provenance."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "BONA_FIDE",
    "MODEL_ENV",
    "LinearModel",
    "PADModel",
    "default_model",
    "fit_linear",
    "load_model",
    "shipped_model",
    "stack",
    "threshold_at_bpcer",
]
