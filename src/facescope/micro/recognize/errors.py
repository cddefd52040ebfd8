"""The errors of micro-expression recognition (bad datasets, weights, clips)."""

from __future__ import annotations

from facescope.errors import FacescopeError, NoFaceError


class MicroRecognitionError(FacescopeError, ValueError):
    """Bad input to micro-expression recognition: a missing dataset folder, an unknown
    layout, an annotation file without the needed columns, corrupt or mismatched
    weights, a clip too short to sample."""


class NoFaceInClipError(MicroRecognitionError, NoFaceError):
    """No face was found in the frames of a clip (``crop="detect"``)."""


__all__ = ["MicroRecognitionError", "NoFaceInClipError"]
