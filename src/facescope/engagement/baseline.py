"""The interpretable engagement baseline: five window cues, weighted by documented weights.

**No model was trained for this.** The weights below are set by hand from what
engagement-recognition work commonly relies on, and are meant to be read,
questioned and replaced (by a head trained on labelled data, see
:mod:`facescope.engagement.training`):

============  ======  ===========================================================
component     weight  value in [0, 1] (window features, see ``windows.FEATURES``)
============  ======  ===========================================================
attention     0.40    ``gaze_on_target``: share of present frames looking at the
                      camera (or the configured screen). Visual attention is the
                      cue most engagement work leans on for screen-based tasks.
facing        0.20    ``facing``: share of present frames with the head turned to
                      the target (within 30°): robust when the eyes are not seen.
alertness     0.15    ``1 - eyes_closed``: eyes open (long closures, dozing).
stability     0.15    ``head_stability``: a still head; fidgeting and looking
                      around lower it.
activity      0.10    ``max(speaking, min(1, motion_energy / 10 mm/s))``: taking
                      part (speaking, a moving face); small, because a silent,
                      attentive listener is engaged too.
============  ======  ===========================================================

``engagement = presence * sum(w_c * c) / sum(w_c)`` over the components that
could be measured (a window without a gaze estimate reweights the others); a
window whose face was never found scores 0. Labels: ``absent`` when presence is
under 0.5; otherwise ``engaged`` (>= 0.6), ``partly engaged`` (>= 0.35) or
``disengaged``; ``unknown`` when no component could be measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Component -> weight (they sum to 1).
BASELINE_WEIGHTS: dict[str, float] = {
    "attention": 0.40,
    "facing": 0.20,
    "alertness": 0.15,
    "stability": 0.15,
    "activity": 0.10,
}
#: Facial motion energy (mm/s) that counts as fully active.
ACTIVE_MOTION = 10.0
#: Presence under this is labelled absent.
MIN_PRESENCE = 0.5
#: (lower bound, label), highest first.
LABELS: tuple[tuple[float, str], ...] = (
    (0.6, "engaged"),
    (0.35, "partly engaged"),
    (-math.inf, "disengaged"),
)


def components(features: Mapping[str, float]) -> dict[str, float]:
    """The five baseline components of a window (NaN where not measurable)."""
    nan = math.nan

    def get(name: str) -> float:
        value = features.get(name, nan)
        return float(value) if value is not None else nan

    motion, speaking = get("motion_energy"), get("speaking")
    activity_parts = [
        v
        for v in (speaking, min(1.0, motion / ACTIVE_MOTION) if math.isfinite(motion) else nan)
        if math.isfinite(v)
    ]
    closed = get("eyes_closed")
    return {
        "attention": get("gaze_on_target"),
        "facing": get("facing"),
        "alertness": 1.0 - closed if math.isfinite(closed) else nan,
        "stability": get("head_stability"),
        "activity": max(activity_parts) if activity_parts else nan,
    }


def baseline_engagement(features: Mapping[str, float]) -> tuple[float, str, dict[str, float]]:
    """``(engagement in [0, 1], label, components)`` of one window's features."""
    presence = float(features.get("presence", 0.0) or 0.0)
    parts = components(features)
    if presence <= 0:
        return 0.0, "absent", parts
    measured = {k: v for k, v in parts.items() if math.isfinite(v)}
    if not measured:
        return math.nan, "absent" if presence < MIN_PRESENCE else "unknown", parts
    weight = sum(BASELINE_WEIGHTS[k] for k in measured)
    score = sum(BASELINE_WEIGHTS[k] * min(1.0, max(0.0, v)) for k, v in measured.items()) / weight
    engagement = min(1.0, max(0.0, presence * score))
    return engagement, label_of(engagement, presence), parts


def label_of(engagement: float, presence: float) -> str:
    """The baseline's label of a score (see the module docs)."""
    if presence < MIN_PRESENCE:
        return "absent"
    if not math.isfinite(engagement):
        return "unknown"
    return next(label for bound, label in LABELS if engagement >= bound)


__all__ = ["ACTIVE_MOTION", "BASELINE_WEIGHTS", "LABELS", "baseline_engagement", "components"]
