"""Top-k word accuracy of a trained network on prepared samples (held-out speakers or
the official test split), overall and per speaker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.train import TrainingSet, predict_arrays


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-5 word accuracy over `samples`, and top-1 per speaker (when known)."""

    top1: float
    top5: float
    samples: int
    words: int
    per_speaker: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "top5": self.top5, "samples": self.samples,
                "words": self.words, "per_speaker": dict(self.per_speaker)}  # fmt: skip


def accuracy(model: Any, data: TrainingSet) -> Accuracy:
    """Top-1/top-5 accuracy of `model` on `data` (vocabularies must match)."""
    probabilities = predict_arrays(model, data.crops, data.lips)
    if probabilities.shape[1] != len(data.vocabulary):
        raise LipReadingError(
            f"the network reads {probabilities.shape[1]} words, the data has {len(data.vocabulary)}"
        )
    ranked = np.argsort(-probabilities, 1)
    hit1 = ranked[:, 0] == data.labels
    hit5 = (ranked[:, :5] == data.labels[:, None]).any(1)
    who = np.asarray(data.speakers)
    per = {s: float(hit1[who == s].mean()) for s in sorted(set(data.speakers)) if s}
    return Accuracy(float(hit1.mean()), float(hit5.mean()), len(data.labels),
                    len(data.vocabulary), per)  # fmt: skip


__all__ = ["Accuracy", "accuracy"]
