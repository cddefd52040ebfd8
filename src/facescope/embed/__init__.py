"""Face embeddings: SFace (ONNX Runtime, batched), dlib ResNet, and opt-in ArcFace (512-d)."""

from facescope.embed.recognizers import (
    FEATURE_DIM,
    OPT_IN_RECOGNIZER_NAMES,
    RECOGNIZER_NAMES,
    embedding_dim,
    get_recognizer,
)

__all__ = [
    "FEATURE_DIM",
    "OPT_IN_RECOGNIZER_NAMES",
    "RECOGNIZER_NAMES",
    "embedding_dim",
    "get_recognizer",
]
