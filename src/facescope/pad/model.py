"""The trained PAD fusion: per-cue logistic heads stacked by a logistic fusion.

Each cue group (:mod:`facescope.pad.cues`) has its own standardised,
L2-regularised multinomial :class:`~facescope.heads.LogisticHead` over the
classes ``bona_fide`` and the attack species; the fusion is a second head over
the groups' log-probabilities, fitted on out-of-fold group outputs (grouped by
source image, so a photo's synthetic variants never sit on both sides). A patch
head (bona fide vs attack on 32x32 patches) draws the heatmap. The model file
(``facescope-pad/2``) holds the heads as ``facescope-head/1`` documents and the
decision threshold on p(bona fide) as ``facescope-thresholds/2``; loading it
runs no code. Models saved in the older ``facescope-pad-1`` format still load.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._json import write_json
from facescope.heads import (
    HeadError,
    LogisticHead,
    ThresholdPoint,
    Thresholds,
    ThresholdsError,
)
from facescope.pad.cues import PADError

FloatArray = npt.NDArray[np.float64]
BONA_FIDE = "bona_fide"
MODEL_FORMAT = "facescope-pad/2"
#: The format of models saved before the shared head (still read).
LEGACY_FORMAT = "facescope-pad-1"
#: The shipped model file (package data).
SHIPPED = "pad_model.json"
#: L2 strength of every PAD head (scikit-learn's C = 0.3).
L2 = 1 / 0.3
#: What the model's threshold applies to.
SCORE = "p(bona fide) of the PAD fusion; a presentation is live when p >= threshold"


def make_head(
    classes: Sequence[str], feature_names: Sequence[str] | None = None, *, l2: float = L2
) -> LogisticHead:
    """An unfitted PAD head (scikit-learn's lbfgs, as the shipped model was fitted)."""
    return LogisticHead(
        l2=l2, solver="lbfgs", max_iter=3000, class_names=classes, feature_names=feature_names
    )


def fit_head(
    x: npt.ArrayLike,
    y: Sequence[str],
    *,
    classes: Sequence[str],
    feature_names: Sequence[str] | None = None,
    l2: float = L2,
    sample_weight: npt.ArrayLike | None = None,
) -> LogisticHead:
    """A fitted PAD head; :class:`PADError` when the data cannot train it."""
    if len(set(y)) < 2:
        raise PADError("training needs at least two classes (bona fide and one attack species)")
    try:
        return make_head(classes, feature_names, l2=l2).fit(x, list(y), sample_weight)
    except HeadError as exc:
        raise PADError(f"cannot fit a PAD head: {exc}") from None


def group_features(group: str, width: int) -> list[str]:
    """Feature names of a cue group's vector (``colour[0]``, ...)."""
    return [f"{group}[{i}]" for i in range(width)]


def fusion_features(groups: Sequence[str], classes: Sequence[str]) -> list[str]:
    """Feature names of the fusion's input (:func:`stack`): ``log p(print | colour)``, ..."""
    return [f"log p({c} | {g})" for g in groups for c in classes]


def class_logits(head: LogisticHead, x: npt.ArrayLike) -> FloatArray:
    """A head's class scores, (n, classes); two classes split one logit as (-t/2, t/2)."""
    raw = head.decision_function(x)
    if raw.ndim == 1:
        return np.stack([-raw / 2, raw / 2], axis=1)
    return raw


def stack(per_group: Mapping[str, FloatArray], groups: Sequence[str]) -> FloatArray:
    """The fusion's input: the groups' log-probabilities side by side, in `groups` order."""
    return np.hstack([np.log(np.asarray(per_group[g]) + 1e-6) for g in groups])


def pad_thresholds(threshold: float, *, bpcer: float | None = None, source: str = "") -> Thresholds:
    """The model's decision threshold as a :class:`~facescope.heads.Thresholds`."""
    return Thresholds(
        SCORE,
        "bpcer",
        [ThresholdPoint(float(threshold), bpcer)],
        provenance={"source": source} if source else None,
    )


@dataclass(frozen=True)
class PADModel:
    """Group heads, fusion, patch head, decision threshold on p(bona fide), provenance.

    ``meta`` is the model's provenance (``script``, ``data``, ``seed``, ``created``,
    ``metrics``, and ``calibrated_on_real`` / ``threshold_source`` for the threshold).
    """

    groups: dict[str, LogisticHead]
    fusion: LogisticHead
    patch: LogisticHead | None
    thresholds: Thresholds
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """The decision threshold on p(bona fide)."""
        return self.thresholds.threshold()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.fusion.classes_

    @property
    def calibrated(self) -> bool:
        """Whether the threshold was set on the deployment's own real captures.

        ``facescope pad calibrate`` and ``pad train`` set it; the shipped model, whose
        threshold comes from other cameras' captures, is not calibrated.
        """
        return bool(self.meta.get("calibrated_on_real", False))

    @property
    def uncertain_band(self) -> tuple[float, float] | None:
        """The p(live) interval ``[low, high)`` answered ``uncertain``; None when none.

        It applies only until the model is :attr:`calibrated`: on held-out people and
        sessions, live faces scored below `low` and attacks at or above `high` in at most
        about 1% of cases (``scripts/fit_pad.py``), so only decisions outside the band
        are confident on an unknown camera.
        """
        band = self.meta.get("uncertain_band")
        if self.calibrated or not band:
            return None
        low, high = (float(v) for v in band)
        return (low, high) if low < high else None

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
        return class_logits(self.fusion, stack(per_group, list(self.groups)))

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

    def with_threshold(
        self, threshold: float, *, bpcer: float | None = None, **meta: Any
    ) -> PADModel:
        """The same model with a new threshold (set at `bpcer`, if known) and provenance added."""
        if not (0.0 <= threshold <= 1.0) or not np.isfinite(threshold):
            raise PADError(f"a PAD threshold is a probability in [0, 1], got {threshold}")
        merged = {**self.meta, **meta}
        source = str(merged.get("threshold_source", ""))
        thresholds = pad_thresholds(threshold, bpcer=bpcer, source=source)
        return replace(self, thresholds=thresholds, meta=merged)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope-pad/2`` document."""
        return {
            "format": MODEL_FORMAT,
            "groups": {g: m.to_json() for g, m in self.groups.items()},
            "fusion": self.fusion.to_json(),
            "patch": None if self.patch is None else self.patch.to_json(),
            "thresholds": self.thresholds.to_json(),
            "provenance": self.meta,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON (atomically: a partial file never replaces a good one)."""
        return write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "PAD model") -> PADModel:
        """Read a ``facescope-pad/2`` document (or a ``facescope-pad-1`` one, converted)."""
        if data.get("format") == LEGACY_FORMAT:
            return _from_legacy(data)
        if data.get("format") != MODEL_FORMAT:
            raise PADError(f"not a facescope PAD model (format {data.get('format')!r})")
        try:
            groups = {
                g: LogisticHead.from_json(m, f"{source}, group {g}")
                for g, m in data["groups"].items()
            }
            fusion = LogisticHead.from_json(data["fusion"], f"{source}, fusion")
            patch = data.get("patch")
            thresholds = Thresholds.from_json(data["thresholds"], f"{source}, thresholds")
            model = cls(
                groups,
                fusion,
                None if patch is None else LogisticHead.from_json(patch, f"{source}, patch"),
                thresholds,
                dict(data.get("provenance") or {}),
            )
        except (HeadError, ThresholdsError) as exc:
            raise PADError(f"{exc}") from None
        _check_consistent(model, source)
        return model


def _check_consistent(model: PADModel, source: str) -> None:
    if BONA_FIDE not in model.classes:
        raise PADError(f"{source}: the fusion has no {BONA_FIDE!r} class")
    expected = fusion_features(list(model.groups), model.classes)
    if model.fusion.n_features_in_ != len(expected):
        raise PADError(
            f"{source}: the fusion takes {model.fusion.n_features_in_} inputs, but "
            f"{len(model.groups)} groups of {len(model.classes)} classes give {len(expected)}"
        )
    for g, head in model.groups.items():
        if head.classes_ != model.classes:
            raise PADError(f"{source}: group {g} has classes {head.classes_}, not {model.classes}")
    if model.patch is not None and "attack" not in model.patch.classes_:
        raise PADError(f"{source}: the patch head has no 'attack' class")
    if len(model.thresholds.points) != 1:
        raise PADError(
            f"{source}: a PAD model holds one threshold, not {len(model.thresholds.points)}"
        )


def _legacy_head(data: Mapping[str, Any], names: Sequence[str]) -> LogisticHead:
    classes = list(data["classes"])
    document = {
        "format": "facescope-head/1",
        "classes": classes,
        "features": list(names),
        "mean": data["mean"],
        "scale": data["scale"],
        "coef": np.atleast_2d(np.asarray(data["coef"], np.float64)).tolist(),
        "intercept": np.asarray(data["intercept"], np.float64).reshape(-1).tolist(),
        "params": {
            k: v
            for k, v in make_head(classes, names).get_params().items()
            if k not in ("class_names", "feature_names")
        },
    }
    return LogisticHead.from_json(document, "facescope-pad-1 head")


def _from_legacy(data: Mapping[str, Any]) -> PADModel:
    """A ``facescope-pad-1`` document (per-group LinearModel dicts) as a PADModel."""
    try:
        groups = {
            g: _legacy_head(m, group_features(g, len(m["mean"]))) for g, m in data["groups"].items()
        }
        classes = list(data["fusion"]["classes"])
        fusion = _legacy_head(data["fusion"], fusion_features(list(groups), classes))
        patch_data = data.get("patch")
        patch = (
            None
            if patch_data is None
            else _legacy_head(patch_data, group_features("patch", len(patch_data["mean"])))
        )
        meta = dict(data.get("meta", {}))
        meta.setdefault("converted_from", LEGACY_FORMAT)
        threshold = float(data["threshold"])
    except HeadError as exc:
        raise PADError(f"not a valid PAD model: {exc}") from None
    source = str(meta.get("threshold_source", ""))
    model = PADModel(groups, fusion, patch, pad_thresholds(threshold, source=source), meta)
    _check_consistent(model, "facescope-pad-1 model")
    return model


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
        return PADModel.from_dict(json.loads(text), where)
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


__all__ = [
    "BONA_FIDE",
    "MODEL_ENV",
    "PADModel",
    "class_logits",
    "default_model",
    "fit_head",
    "load_model",
    "make_head",
    "shipped_model",
    "stack",
    "threshold_at_bpcer",
]
