"""The errors of lip reading (bad datasets, alignments, weights, arrays)."""

from __future__ import annotations

from facescope.errors import FacescopeError


class LipReadingError(FacescopeError, ValueError):
    """Bad input to lip reading: a missing dataset folder, an unknown layout, a bad
    alignment file, corrupt or mismatched weights, arrays of the wrong shape."""


__all__ = ["LipReadingError"]
