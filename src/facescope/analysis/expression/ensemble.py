"""The expression ensemble, its scoring, and the weight search that configures it.

:class:`ExpressionEnsemble` runs the available members (fer, facex,
what-the-face) on one eye-levelled grey crop per face and combines their
probabilities with the weights in ``weights.json`` (chosen on the CK+ ``fit``
subjects by macro-F1 by ``scripts/fit_expression_weights.py``). A member that
cannot load here (what-the-face without torch) is skipped, noted in
``skipped_``, and the remaining weights are renormalised.

Any other member (the geometric action-unit head, say) joins as one more entry
of a ``name -> (n, 7)`` probability mapping in EXPRESSIONS order, both in
:func:`search_weights` and in :meth:`ExpressionEnsemble.predict_proba`
(``extra=``).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import (
    MODEL_NAMES,
    TRAINED_MODEL_NAMES,
    ExpressionModel,
    GreyCrops,
    make_model,
)
from facescope.analysis.expression.preprocess import DEFAULT_MARGIN, expression_crops
from facescope.errors import ModelNotAvailableError
from facescope.types import Faces

FloatArray = npt.NDArray[np.float32]
log = logging.getLogger(__name__)

#: The weights file shipped with the package.
WEIGHTS_PATH = Path(__file__).with_name("weights.json")
#: Combination rules: weighted arithmetic mean of probabilities, or weighted
#: geometric mean (log-linear pooling) renormalised.
RULES: tuple[str, ...] = ("mean", "log")


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ExpressionScores:
    """Accuracy, macro-F1 and per-class recall of top-1 predictions.

    Attributes:
        n: number of samples.
        accuracy: fraction whose top class is the label.
        macro_f1: mean F1 over ``classes`` (the labels present); a prediction of
            a class outside them (``neutral`` on CK+) is simply an error.
        recall: per class in ``classes``, the fraction of its samples found.
        confusion: (len(classes), 7) counts, rows = true class in ``classes``
            order, columns = predicted class in EXPRESSIONS order.
        classes: the class names scored.
    """

    n: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    confusion: npt.NDArray[np.int64]
    classes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "recall": dict(self.recall),
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
        }


def label_indices(labels: Sequence[str]) -> npt.NDArray[np.int64]:
    """Expression names -> indices into EXPRESSIONS."""
    return np.array([EXPRESSIONS.index(name) for name in labels], np.int64)


def score_predictions(
    probs: npt.ArrayLike, labels: npt.ArrayLike, classes: Sequence[str] | None = None
) -> ExpressionScores:
    """Score (n, 7) probabilities against labels (EXPRESSIONS indices).

    Args:
        probs: (n, 7) scores in EXPRESSIONS order (only the argmax is used).
        labels: (n,) true indices into EXPRESSIONS.
        classes: the classes to average F1 over; default the labels present.
    """
    p = np.asarray(probs, np.float64).reshape(-1, len(EXPRESSIONS))
    y = np.asarray(labels, np.int64).reshape(-1)
    if len(p) != len(y):
        raise ValueError(f"{len(p)} predictions for {len(y)} labels")
    names = (
        tuple(classes)
        if classes is not None
        else tuple(EXPRESSIONS[i] for i in sorted(set(y.tolist())))
    )
    pred = p.argmax(axis=1) if len(p) else np.zeros(0, np.int64)
    confusion = np.zeros((len(names), len(EXPRESSIONS)), np.int64)
    for row, name in enumerate(names):
        mask = y == EXPRESSIONS.index(name)
        confusion[row] = np.bincount(pred[mask], minlength=len(EXPRESSIONS))
    recall: dict[str, float] = {}
    f1s: list[float] = []
    for row, name in enumerate(names):
        k = EXPRESSIONS.index(name)
        tp = float(confusion[row, k])
        support = float(confusion[row].sum())
        predicted = float(np.sum(pred == k))
        rec = tp / support if support else 0.0
        prec = tp / predicted if predicted else 0.0
        recall[name] = rec
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0)
    accuracy = float(np.mean(pred == y)) if len(y) else 0.0
    return ExpressionScores(
        len(y), accuracy, float(np.mean(f1s)) if f1s else 0.0, recall, confusion, names
    )


# ---------------------------------------------------------------- combination


def combine(
    member_probs: Mapping[str, npt.ArrayLike],
    weights: Mapping[str, float],
    rule: str = "mean",
) -> FloatArray:
    """Combine members' (n, 7) probabilities with weights; rows sum to 1.

    Members named in ``weights`` but absent from ``member_probs`` (or given weight
    0) are left out and the rest renormalised; members without a weight are
    ignored.

    Args:
        member_probs: name -> (n, 7) probabilities in EXPRESSIONS order.
        weights: name -> non-negative weight.
        rule: ``"mean"`` (weighted mean of probabilities) or ``"log"`` (weighted
            mean of log-probabilities, i.e. a geometric pool, renormalised).

    Raises:
        ValueError: unknown rule, no member with positive weight, or shapes differ.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {RULES}")
    used = [(name, float(w)) for name, w in weights.items() if w > 0 and name in member_probs]
    if not used:
        raise ValueError(
            f"no member with a positive weight among {sorted(member_probs)}; weights {weights}"
        )
    total = sum(w for _, w in used)
    arrays = [np.asarray(member_probs[name], np.float64) for name, _ in used]
    shape = arrays[0].shape
    if len(shape) != 2 or shape[1] != len(EXPRESSIONS) or any(a.shape != shape for a in arrays):
        raise ValueError(
            f"member probabilities must all be (n, 7); got {[a.shape for a in arrays]}"
        )
    arrays = _with_neutral(used, arrays)
    if rule == "mean":
        out = sum(w / total * a for (_, w), a in zip(used, arrays, strict=True))
    else:
        logp = sum(
            w / total * np.log(np.clip(a, 1e-6, 1.0))
            for (_, w), a in zip(used, arrays, strict=True)
        )
        logp = np.asarray(logp) - np.max(logp, axis=1, keepdims=True)
        out = np.exp(logp)
    out = np.asarray(out, np.float64)
    return np.asarray(out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12), dtype=np.float32)


#: Members that know no neutral class (trained on CK+, which has no neutral frames): their
#: neutral column is 0. In a pool, each takes its neutral probability from the other members
#: (their weighted mean) and scales its six expressions by the rest, so it decides *which*
#: expression and leaves *whether any* to the members that have seen neutral faces.
NEUTRAL_FREE = frozenset({"au_head"})
NEUTRAL = EXPRESSIONS.index("neutral")
assert len(EXPRESSIONS) - 1 == NEUTRAL


def _with_neutral(
    used: list[tuple[str, float]], arrays: list[npt.NDArray[np.float64]]
) -> list[npt.NDArray[np.float64]]:
    others = [(w, a) for (name, w), a in zip(used, arrays, strict=True) if name not in NEUTRAL_FREE]
    if not others or len(others) == len(arrays):
        return arrays
    weight = sum(w for w, _ in others)
    neutral = np.sum([w * a[:, NEUTRAL] for w, a in others], axis=0) / weight
    out = []
    for (name, _), a in zip(used, arrays, strict=True):
        if name in NEUTRAL_FREE:
            six = a[:, :NEUTRAL] / np.maximum(a[:, :NEUTRAL].sum(axis=1, keepdims=True), 1e-12)
            a = np.concatenate([six * (1.0 - neutral)[:, None], neutral[:, None]], axis=1)
        out.append(a)
    return out


def simplex_grid(k: int, step: float) -> Iterator[tuple[float, ...]]:
    """All weight vectors of length ``k`` on the simplex with the given step (sum 1)."""
    if k < 1:
        return
    n = round(1.0 / step)
    if abs(n * step - 1.0) > 1e-9:
        raise ValueError(f"step must divide 1, got {step}")
    for cuts in itertools.combinations(range(n + k - 1), k - 1):
        parts = np.diff([-1, *cuts, n + k - 1]) - 1
        yield tuple(float(p) / n for p in parts)


@dataclass(frozen=True)
class WeightSearch:
    """The outcome of :func:`search_weights`.

    Attributes:
        weights: member -> weight (sum 1) of the best combination.
        rule: its combination rule.
        score: its value of the metric on the search samples.
        scores: its full scores on the search samples.
        n_evaluated: combinations tried.
        step: the grid step.
        ranking: the best few (score, rule, weights), best first.
    """

    weights: dict[str, float]
    rule: str
    score: float
    scores: ExpressionScores
    n_evaluated: int
    step: float
    ranking: list[tuple[float, str, dict[str, float]]] = field(default_factory=list)


def search_weights(
    member_probs: Mapping[str, npt.ArrayLike],
    labels: npt.ArrayLike,
    *,
    step: float = 0.05,
    rules: Sequence[str] = RULES,
    metric: str = "macro_f1",
    classes: Sequence[str] | None = None,
    keep: int = 10,
) -> WeightSearch:
    """Grid search over the weight simplex (and the rule) for the best metric.

    Every member is a ``name -> (n, 7)`` probability matrix in EXPRESSIONS order
    on the same ``n`` samples, so an extra member is just one more entry.
    Ties in the metric go to higher accuracy, then to the more even weights
    (higher entropy), then to the earlier rule in ``rules``.

    Args:
        member_probs: name -> (n, 7) probabilities.
        labels: (n,) true indices into EXPRESSIONS.
        step: grid step on each weight (must divide 1).
        rules: combination rules to try (see :func:`combine`).
        metric: ``"macro_f1"`` or ``"accuracy"``.
        classes: classes scored (default the labels present).
        keep: how many of the best to keep in ``ranking``.
    """
    if metric not in ("macro_f1", "accuracy"):
        raise ValueError(f"unknown metric {metric!r}")
    names = list(member_probs)
    if not names:
        raise ValueError("no members to search over")
    arrays = {name: np.asarray(member_probs[name], np.float32) for name in names}
    y = np.asarray(labels, np.int64)
    results: list[tuple[tuple[float, float, float, int], str, dict[str, float]]] = []
    n_evaluated = 0
    for rule_rank, rule in enumerate(rules):
        for vector in simplex_grid(len(names), step):
            weights = dict(zip(names, vector, strict=True))
            scores = score_predictions(combine(arrays, weights, rule), y, classes)
            value = scores.macro_f1 if metric == "macro_f1" else scores.accuracy
            w = np.array([v for v in vector if v > 0])
            entropy = float(-(w * np.log(w)).sum())
            key = (round(value, 9), round(scores.accuracy, 9), round(entropy, 9), -rule_rank)
            results.append((key, rule, weights))
            n_evaluated += 1
    results.sort(key=lambda item: item[0], reverse=True)
    best_key, best_rule, best_weights = results[0]
    best_scores = score_predictions(combine(arrays, best_weights, best_rule), y, classes)
    ranking = [(key[0], rule, weights) for key, rule, weights in results[:keep]]
    return WeightSearch(
        best_weights, best_rule, best_key[0], best_scores, n_evaluated, step, ranking
    )


# ---------------------------------------------------------------- the ensemble


def load_weights(path: Path | str = WEIGHTS_PATH) -> dict[str, Any]:
    """Read a weights file: ``members`` (name -> weight), ``rule``, ``margin``, ``flip``."""
    with Path(path).open(encoding="utf-8") as handle:
        config: dict[str, Any] = json.load(handle)
    if not isinstance(config.get("members"), dict) or not config["members"]:
        raise ValueError(f"{path}: 'members' must map member names to weights")
    return config


class ExpressionEnsemble:
    """Seven-expression probabilities for faces, from a weighted pool of models.

    Hyper-parameters left as None are read from ``weights_path`` (the shipped
    ``weights.json`` by default) when the ensemble first loads. Learned or
    resolved state ends with ``_``.

    Args:
        weights: member -> weight; overrides the file's. Names other than
            fer/facex/what_the_face are *extra* members whose probabilities the
            caller passes to :meth:`predict_proba` (``extra=``).
        rule: ``"mean"`` or ``"log"`` (see :func:`combine`).
        margin: crop margin (fraction of the box side, each side).
        flip: average each model over the crop and its mirror image.
        weights_path: the weights file.
        num_threads: runtime threads per model (1 by default).

    Attributes (after :meth:`load`):
        weights_: member -> weight as configured (before renormalising).
        members_: the model members that loaded here.
        skipped_: member -> why it is not used (e.g. torch missing).
        rule_, margin_, flip_: the resolved hyper-parameters.
        stack_: the stacked fusion (:mod:`~facescope.analysis.expression.stack`) named
            by the weights file's ``stack`` entry, used instead of the weighted pool
            when every member it needs loaded and no ``weights`` were given; else None.
        provenance_: the weights file's provenance block (empty if none).
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        rule: str | None = None,
        margin: float | None = None,
        flip: bool | None = None,
        weights_path: Path | str | None = None,
        num_threads: int = 1,
    ) -> None:
        self.weights = dict(weights) if weights is not None else None
        self.rule = rule
        self.margin = margin
        self.flip = flip
        self.weights_path = weights_path
        self.num_threads = num_threads
        self._lock = threading.Lock()
        self._models: dict[str, ExpressionModel] = {}

    def load(self) -> ExpressionEnsemble:
        """Resolve the configuration and load every model member that can load here."""
        with self._lock:
            if hasattr(self, "weights_"):
                return self
            need_file = self.weights is None or self.rule is None
            need_file = need_file or self.margin is None or self.flip is None
            config = load_weights(self.weights_path or WEIGHTS_PATH) if need_file else {}
            weights = dict(self.weights if self.weights is not None else config["members"])
            if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
                raise ValueError(f"weights must be non-negative with one positive: {weights}")
            rule = self.rule if self.rule is not None else str(config.get("rule", "mean"))
            if rule not in RULES:
                raise ValueError(f"unknown rule {rule!r}; known: {RULES}")
            margin = self.margin if self.margin is not None else config.get("margin")
            flip = self.flip if self.flip is not None else config.get("flip", False)
            stack = None
            if self.weights is None and config.get("stack"):
                from facescope.analysis.expression.stack import StackedFusion

                stack_path = Path(self.weights_path or WEIGHTS_PATH).with_name(config["stack"])
                stack = StackedFusion.load(stack_path)
            wanted = {n: w for n, w in weights.items() if w > 0}
            for name in stack.crop_members if stack is not None else ():
                wanted.setdefault(name, 0.0)
            models: dict[str, ExpressionModel] = {}
            skipped: dict[str, str] = {}
            for name in wanted:
                if name not in MODEL_NAMES + TRAINED_MODEL_NAMES:
                    continue
                model = make_model(name, self.num_threads)
                try:
                    model.load()
                except ModelNotAvailableError as exc:
                    skipped[name] = str(exc)
                    log.warning("expression member %s skipped: %s", name, exc)
                    continue
                models[name] = model
            if stack is not None and any(m not in models for m in stack.crop_members):
                absent = [m for m in stack.crop_members if m not in models]
                skipped["stack"] = f"stacked fusion needs {absent}: weighted pool used"
                stack = None
            if stack is None:  # the weighted pool runs only its weighted members
                models = {n: m for n, m in models.items() if weights.get(n, 0.0) > 0}
            if not models:
                raise ModelNotAvailableError(
                    "no expression model could be loaded: " + "; ".join(skipped.values())
                )
            self.stack_ = stack
            self._models = models
            self.rule_ = rule
            self.margin_ = float(DEFAULT_MARGIN if margin is None else margin)
            self.flip_ = bool(flip)
            self.members_ = tuple(models)
            self.skipped_ = skipped
            self.provenance_ = dict(config.get("provenance", {}))
            self.weights_ = weights
        return self

    def member_proba(self, grey_crops: GreyCrops) -> dict[str, FloatArray]:
        """Each loaded model member's (n, 7) probabilities for grey crops."""
        self.load()
        crops = list(grey_crops)
        return {
            name: model.predict_crops(crops, flip=self.flip_)
            for name, model in self._models.items()
        }

    def predict_crops(
        self, grey_crops: GreyCrops, extra: Mapping[str, npt.ArrayLike] | None = None
    ) -> FloatArray:
        """(n, 7) ensemble probabilities for grey face crops (see preprocess)."""
        crops = list(grey_crops)
        if not crops:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        probs: dict[str, npt.ArrayLike] = dict(self.member_proba(crops))
        for name, matrix in (extra or {}).items():
            arr = np.asarray(matrix, np.float32)
            if arr.shape != (len(crops), len(EXPRESSIONS)):
                raise ValueError(
                    f"extra member {name!r} has shape {arr.shape}, need ({len(crops)}, 7)"
                )
            probs[name] = arr
        if self.stack_ is not None:
            return self.stack_.predict(probs)
        return combine(probs, self.weights_, self.rule_)

    def crops(self, rgb: npt.NDArray[np.uint8], faces: Faces) -> list[npt.NDArray[np.uint8]]:
        """The grey crops the members see, one per face."""
        self.load()
        return expression_crops(rgb, faces, margin=self.margin_)

    def predict_proba(
        self,
        rgb: npt.NDArray[np.uint8],
        faces: Faces,
        extra: Mapping[str, npt.ArrayLike] | None = None,
    ) -> FloatArray:
        """(n, 7) probabilities in EXPRESSIONS order, one row per face of ``faces``.

        Args:
            rgb: the (H, W, 3) RGB uint8 image the faces were found in.
            faces: detections (boxes and five landmarks) in that image.
            extra: optional further members' (n, 7) probabilities for the same
                faces (e.g. the action-unit head), used when the weights name them.
        """
        if len(faces) == 0:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        return self.predict_crops(self.crops(rgb, faces), extra=extra)

    def predict(
        self,
        rgb: npt.NDArray[np.uint8],
        faces: Faces,
        extra: Mapping[str, npt.ArrayLike] | None = None,
    ) -> list[str]:
        """The top expression name per face."""
        probs = self.predict_proba(rgb, faces, extra)
        return [EXPRESSIONS[i] for i in probs.argmax(axis=1)] if len(probs) else []


_DEFAULT: Lazy[ExpressionEnsemble] = Lazy(ExpressionEnsemble)


def default_ensemble() -> ExpressionEnsemble:
    """A process-wide ensemble configured from the shipped weights.json."""
    return _DEFAULT.get()
