"""Valence and arousal DERIVED from the seven expression probabilities.

Nothing here is measured: no bundled model predicts valence or arousal. Each
basic expression is given a fixed point in the valence-arousal plane of
Russell's circumplex of affect (Russell, 1980, *A circumplex model of affect*,
J. Personality and Social Psychology 39(6):1161-1178), and a face's valence and
arousal are the probability-weighted mean of those points:

    (valence, arousal) = sum_k p_k * (v_k, a_k)

The coordinates are the pleasure and arousal values of the corresponding
emotion terms from Russell & Mehrabian (1977), *Evidence for a three-factor
theory of emotions*, J. Research in Personality 11(3):273-294, as reproduced in
the PAD tables of affective-computing work (e.g. Gebhard, 2005, *ALMA: a layered
model of affect*, AAMAS); neutral is the origin. Both axes lie in [-1, 1].

Consequences worth knowing: a confident "neutral" gives (0, 0); a face split
between happiness and sadness also lands near valence 0. The result is only as
good as the expression probabilities, and inherits their errors (on CK+, anger
is mostly read as sadness, which pulls arousal down).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS

#: (valence, arousal) per expression, Russell & Mehrabian (1977) pleasure/arousal.
CIRCUMPLEX_COORDINATES: dict[str, tuple[float, float]] = {
    "anger": (-0.51, 0.59),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happiness": (0.81, 0.51),
    "sadness": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
    "neutral": (0.00, 0.00),
}

#: (7, 2) coordinates in EXPRESSIONS order.
COORDINATES: npt.NDArray[np.float32] = np.array(
    [CIRCUMPLEX_COORDINATES[name] for name in EXPRESSIONS], np.float32
)


def valence_arousal(probs: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """(n, 2) derived valence and arousal for (n, 7) probabilities in EXPRESSIONS order.

    Rows are renormalised to sum to 1 first; a 1-D vector of 7 is taken as one row.

    Raises:
        ValueError: the last axis is not 7 long, or a row has a negative or
            non-finite value or sums to 0.
    """
    p = np.asarray(probs, np.float64)
    if p.ndim == 1:
        p = p[None]
    if p.ndim != 2 or p.shape[1] != len(EXPRESSIONS):
        raise ValueError(f"expected (n, {len(EXPRESSIONS)}) probabilities, got {p.shape}")
    if len(p) == 0:
        return np.zeros((0, 2), np.float32)
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    totals = p.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("each probability row must have a positive sum")
    return np.asarray((p / totals) @ COORDINATES.astype(np.float64), dtype=np.float32)
