"""The seven basic expressions, in facescope's order, and each model's own order."""

from __future__ import annotations

#: facescope's order (py-feat's): every probability vector is in this order.
EXPRESSIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)

#: Each bundled model's output order, in facescope's names (read from the carriers).
MODEL_ORDERS: dict[str, tuple[str, ...]] = {
    # fer: angry, disgust, fear, happy, sad, surprise, neutral
    "fer": ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"),
    # facex: anger, disgust, fear, happy, neutral, sadness, surprised
    "facex": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
    # what-the-face: angry, disgust, fear, happy, sad, surprise, neutral
    "what_the_face": ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"),
    # conv-cut (facescope's own, convcut.py) is trained in EXPRESSIONS order
    "convcut": EXPRESSIONS,
}


def reorder_index(model: str) -> list[int]:
    """Indices that take a model's output vector into :data:`EXPRESSIONS` order."""
    order = MODEL_ORDERS[model]
    return [order.index(name) for name in EXPRESSIONS]
