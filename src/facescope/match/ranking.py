"""Open-set ranking: subjects from template scores, and the decision at a threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from facescope.types import Candidate, DecisionRule, Identification, as_box


def best_per_subject(
    names: Sequence[str], scores: npt.NDArray[np.floating], top_k: int
) -> list[tuple[str, float]]:
    """Rank subjects by their best template score; keep the first `top_k`.

    Walks templates in descending score order and keeps each subject's first
    (best) hit, so only the head of the ranking is sorted: the first `top_k`
    distinct subjects met are exactly the top `top_k` subjects.
    """
    wanted = max(1, top_k)
    scores = np.asarray(scores)
    head = min(len(scores), wanted * 16)
    while True:
        if head < len(scores):
            part = np.argpartition(-scores, head - 1)[:head]
            order = part[np.argsort(-scores[part], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        ranked: dict[str, float] = {}
        for index in order.tolist():
            ranked.setdefault(names[index], float(scores[index]))
            if len(ranked) == wanted:
                return list(ranked.items())
        if head >= len(scores):
            return list(ranked.items())
        head = min(len(scores), head * 4)


def identification(
    box: Sequence[float] | npt.NDArray[np.floating],
    ranked: list[tuple[str, float]],
    threshold: float,
    model: str,
    *,
    rule: DecisionRule | None = None,
) -> Identification:
    """The open-set decision for one face: the best subject if it clears `threshold`.

    `rule` is the decision rule that chose `threshold`
    (:func:`facescope.match.thresholds.identification_rule`), carried on the result.
    """
    top_name, top_score = ranked[0]
    return Identification(
        box=as_box(box),
        identity=top_name if top_score >= threshold else None,
        score=top_score,
        threshold=threshold,
        model=model,
        candidates=[Candidate(name, score) for name, score in ranked],
        decision_rule=rule,
    )
