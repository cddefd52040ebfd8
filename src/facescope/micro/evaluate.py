"""Scoring spotted intervals against ground truth: the MEGC spotting protocol.

A spotted interval is a true positive when its intersection over union with a
ground-truth interval (frames, inclusive) is at least 0.5; matching is one-to-one
(each ground-truth interval is claimed by at most one spotted interval, the best
overlapping first). Precision, recall and F1 follow from the counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Minimum intersection over union for a spotted interval to count (MEGC).
IOU_MATCH = 0.5


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two inclusive frame intervals ``(onset, offset)``."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


@dataclass(frozen=True)
class SpotScore:
    """True positives, false positives, false negatives and what follows from them."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: SpotScore) -> SpotScore:
        return SpotScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def score_intervals(
    spotted: Iterable[tuple[int, int]],
    truth: Sequence[tuple[int, int]],
    iou: float = IOU_MATCH,
) -> SpotScore:
    """Count TP / FP / FN of `spotted` against `truth` (one-to-one, best IoU first)."""
    found = list(spotted)
    pairs = sorted(
        ((interval_iou(s, t), i, j) for i, s in enumerate(found) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_s: set[int] = set()
    used_t: set[int] = set()
    for value, i, j in pairs:
        if value < iou:
            break
        if i in used_s or j in used_t:
            continue
        used_s.add(i)
        used_t.add(j)
    tp = len(used_s)
    return SpotScore(tp, len(found) - tp, len(truth) - tp)
