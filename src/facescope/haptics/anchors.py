"""The ten emotions and six touch gestures of the stimulus library, and their anchors.

Six emotions are facescope's recognised expressions; their (valence, arousal) points
are the circumplex coordinates of :mod:`facescope.analysis.expression.circumplex`
(Russell & Mehrabian, 1977). The four social emotions the expression models do not
recognise get their own anchors here, placed from the same pleasure/arousal norms
(Russell & Mehrabian 1977 terms "loving", "grateful", "sympathetic", "calm"/"relaxed"),
rounded: all four are pleasant; love and gratitude mildly aroused, sympathy near
neutral arousal, calm clearly low arousal.
"""

from __future__ import annotations

import math

from facescope.analysis.expression.circumplex import CIRCUMPLEX_COORDINATES
from facescope.haptics.errors import HapticsError

#: (valence, arousal) of the four emotions without an expression model, both in [-1, 1].
SOCIAL_ANCHORS: dict[str, tuple[float, float]] = {
    "love": (0.87, 0.32),
    "gratitude": (0.64, 0.16),
    "sympathy": (0.35, -0.12),
    "calm": (0.55, -0.60),
}

#: The ten emotions of the stimulus library, in the issue's order.
EMOTIONS: tuple[str, ...] = (
    "anger",
    "fear",
    "disgust",
    "happiness",
    "sadness",
    "surprise",
    "love",
    "gratitude",
    "sympathy",
    "calm",
)

#: The six social touch gestures.
GESTURES: tuple[str, ...] = ("tap", "stroke", "pat", "hold", "squeeze", "tickle")

#: The gesture each emotion is conveyed with (after Hertenstein et al. 2006, *Touch
#: communicates distinct emotions*: anger hits, fear grips and trembles, love strokes,
#: gratitude shakes hands, sympathy pats, ...).
EMOTION_GESTURES: dict[str, str] = {
    "anger": "tap",
    "fear": "squeeze",
    "disgust": "pat",
    "happiness": "tickle",
    "sadness": "hold",
    "surprise": "tap",
    "love": "stroke",
    "gratitude": "squeeze",
    "sympathy": "pat",
    "calm": "stroke",
}


def emotion_anchors() -> dict[str, tuple[float, float]]:
    """(valence, arousal) of each of the ten emotions: the circumplex points of the six
    recognised expressions (neutral left out) merged with :data:`SOCIAL_ANCHORS`."""
    merged = {name: CIRCUMPLEX_COORDINATES[name] for name in EMOTIONS if name not in SOCIAL_ANCHORS}
    merged.update(SOCIAL_ANCHORS)
    return {name: merged[name] for name in EMOTIONS}


def check_point(valence: float, arousal: float) -> tuple[float, float]:
    """`valence`, `arousal` as floats; HapticsError unless both are finite and in [-1, 1]."""
    for label, value in (("valence", valence), ("arousal", arousal)):
        if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > 1:
            raise HapticsError(f"{label} must be a number in [-1, 1], got {value!r}")
    return float(valence), float(arousal)


def nearest_emotion(valence: float, arousal: float) -> str:
    """The emotion whose anchor is nearest to (valence, arousal)."""
    v, a = check_point(valence, arousal)
    anchors = emotion_anchors()
    return min(anchors, key=lambda n: (anchors[n][0] - v) ** 2 + (anchors[n][1] - a) ** 2)


def check_name(name: str) -> str:
    """`name` lower-cased if it is an emotion or a gesture; HapticsError otherwise."""
    key = name.strip().lower()
    if key not in EMOTIONS and key not in GESTURES:
        raise HapticsError(
            f"unknown emotion or gesture {name!r}: emotions are {', '.join(EMOTIONS)}; "
            f"gestures are {', '.join(GESTURES)}"
        )
    return key


__all__ = [
    "EMOTIONS",
    "EMOTION_GESTURES",
    "GESTURES",
    "SOCIAL_ANCHORS",
    "check_name",
    "check_point",
    "emotion_anchors",
    "nearest_emotion",
]
