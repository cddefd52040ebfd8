"""Face embeddings: SFace (ONNX Runtime, batched) and dlib ResNet."""

from facescope.embed.recognizers import FEATURE_DIM, RECOGNIZER_NAMES, get_recognizer

__all__ = ["FEATURE_DIM", "RECOGNIZER_NAMES", "get_recognizer"]
