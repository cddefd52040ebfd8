"""facescope: offline face recognition and facial analysis on CPU.

The top-level verbs take plain inputs (paths, bytes, RGB numpy arrays, PIL
images) and return small typed results. Nothing is loaded at import time:
models load on first use, once per process.
"""

from facescope.api import MODELS, align, detect, embed, enroll, identify, verify
from facescope.errors import (
    CalibrationError,
    FacescopeError,
    ImageTooLargeError,
    InvalidEmbeddingError,
    InvalidImageError,
    ModelFileError,
    ModelNotAvailableError,
    NoFaceError,
)
from facescope.io.image import load_image
from facescope.match.calibrate import calibrate
from facescope.types import Candidate, Embeddings, Faces, Identification, VerifyResult

__version__ = "0.1.0"

__all__ = [
    "MODELS",
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
    "align",
    "calibrate",
    "detect",
    "embed",
    "enroll",
    "identify",
    "load_image",
    "verify",
]
