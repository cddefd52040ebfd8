"""The error raised on bad input to :mod:`facescope.animate`."""

from __future__ import annotations

from facescope.errors import FacescopeError


class AnimateError(FacescopeError, ValueError):
    """Bad input to the animation tools: a missing or corrupt file, no face, a bad rig, NaN."""
