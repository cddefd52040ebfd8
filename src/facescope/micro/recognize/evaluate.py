"""Leave-one-subject-out (LOSO) evaluation with UF1, UAR and accuracy.

Each subject's clips are predicted by a network trained on every other subject; the
predictions of all folds are pooled and scored as in the MEGC challenges: **UF1**, the
mean over classes of the per-class F1 (2TP / (2TP + FP + FN)); **UAR**, the mean over
classes of the per-class recall; and plain accuracy. Classes absent from the ground
truth are left out of both means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.micro.recognize.errors import MicroRecognitionError
from facescope.micro.recognize.network import NetConfig
from facescope.micro.recognize.train import (
    TrainConfig,
    TrainingSet,
    predict_arrays,
    train_network,
)


@dataclass(frozen=True)
class Scores:
    """UF1, UAR and accuracy of predictions against the truth, with the confusion matrix
    (rows: truth, columns: prediction) and per-class F1 and recall."""

    uf1: float
    uar: float
    accuracy: float
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    f1: tuple[float | None, ...]
    recall: tuple[float | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "uf1": self.uf1,
            "uar": self.uar,
            "accuracy": self.accuracy,
            "classes": list(self.classes),
            "confusion": [list(r) for r in self.confusion],
            "per_class": {
                c: {"f1": f, "recall": r}
                for c, f, r in zip(self.classes, self.f1, self.recall, strict=True)
            },
        }


def scores(
    truth: Sequence[int] | npt.NDArray[np.integer[Any]],
    predicted: Sequence[int] | npt.NDArray[np.integer[Any]],
    classes: Sequence[str],
) -> Scores:
    """UF1, UAR, accuracy and the confusion matrix of class-index predictions."""
    y = np.asarray(truth, np.int64)
    p = np.asarray(predicted, np.int64)
    k = len(classes)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise MicroRecognitionError("truth and predictions must be equal-length, non-empty")
    if min(y.min(), p.min()) < 0 or max(y.max(), p.max()) >= k:
        raise MicroRecognitionError(f"class indices must be 0..{k - 1}")
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y, p), 1)
    f1: list[float | None] = []
    recall: list[float | None] = []
    for c in range(k):
        tp = confusion[c, c]
        fn = confusion[c].sum() - tp
        fp = confusion[:, c].sum() - tp
        present = confusion[c].sum() > 0
        f1.append(float(2 * tp / (2 * tp + fp + fn)) if present else None)
        recall.append(float(tp / (tp + fn)) if present else None)
    return Scores(
        uf1=float(np.mean([v for v in f1 if v is not None])),
        uar=float(np.mean([v for v in recall if v is not None])),
        accuracy=float((y == p).mean()),
        classes=tuple(classes),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        f1=tuple(f1),
        recall=tuple(recall),
    )


@dataclass(frozen=True)
class LosoReport:
    """Pooled LOSO scores and, per held-out subject, its clips and accuracy."""

    scores: Scores
    folds: tuple[dict[str, Any], ...]
    predictions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.scores.to_dict(), "subjects": len(self.folds), "folds": list(self.folds)}


def loso(
    data: TrainingSet,
    config: TrainConfig | None = None,
    *,
    net: NetConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LosoReport:
    """Leave-one-subject-out: one fresh network per subject, trained on the others."""
    subjects = sorted(set(data.subjects))
    if len(subjects) < 2:
        raise MicroRecognitionError("leave-one-subject-out needs clips of 2 or more subjects")
    who = np.asarray(data.subjects)
    predicted = np.full(len(data.labels), -1, np.int64)
    folds: list[dict[str, Any]] = []
    for k, subject in enumerate(subjects):
        if progress:
            progress(k, len(subjects))
        held = who == subject
        train = data.subset(~held)
        if len(set(train.labels.tolist())) < 2:
            raise MicroRecognitionError(
                f"without subject {subject} the training clips hold fewer than 2 classes"
            )
        model, _, _ = train_network(train, config, net=net)
        guess = predict_arrays(model, data.clips[held]).argmax(1)
        predicted[held] = guess
        folds.append({"subject": subject, "clips": int(held.sum()),
                      "accuracy": float((guess == data.labels[held]).mean())})  # fmt: skip
    if progress:
        progress(len(subjects), len(subjects))
    return LosoReport(scores(data.labels, predicted, data.classes), tuple(folds),
                      tuple(int(v) for v in predicted))  # fmt: skip


__all__ = ["LosoReport", "Scores", "loso", "scores"]
