"""facescope: offline face recognition and facial analysis on CPU.

The top-level verbs take plain inputs (paths, bytes, RGB numpy arrays, PIL
images) and return small typed results. Nothing is loaded at import time:
models load on first use, once per process.
"""

from facescope.api import MODELS, align, calibrate, detect, embed, enroll, identify, verify
from facescope.errors import (
    CalibrationError,
    FacescopeError,
    ImageTooLargeError,
    InvalidEmbeddingError,
    InvalidImageError,
    ModelFileError,
    ModelNotAvailableError,
    NoFaceError,
    VideoError,
    WeatherError,
)
from facescope.io.image import load_image
from facescope.restoration.auto import restore
from facescope.types import Candidate, Embeddings, Faces, Identification, VerifyResult

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Video and analysis verbs, imported on first use (PyAV, scipy, MediaPipe)."""
    if name in ("track", "VideoRecognizer"):
        from facescope import video

        return getattr(video, name)
    if name in ("analyze", "AnalyzeOptions", "Analyzer"):
        from facescope import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'facescope' has no attribute {name!r}")


__all__ = [
    "MODELS",
    "AnalyzeOptions",
    "Analyzer",
    "CalibrationError",
    "Candidate",
    "Embeddings",
    "Faces",
    "FacescopeError",
    "Identification",
    "ImageTooLargeError",
    "InvalidEmbeddingError",
    "InvalidImageError",
    "ModelFileError",
    "ModelNotAvailableError",
    "NoFaceError",
    "VerifyResult",
    "VideoError",
    "VideoRecognizer",
    "WeatherError",
    "align",
    "analyze",
    "calibrate",
    "detect",
    "embed",
    "enroll",
    "identify",
    "load_image",
    "restore",
    "track",
    "verify",
]
