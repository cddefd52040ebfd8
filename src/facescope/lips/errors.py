"""Errors of :mod:`facescope.lips`."""

from __future__ import annotations

from facescope.errors import FacescopeError, NoFaceError


class LipsError(FacescopeError, ValueError):
    """Bad input to the visual-speech tools: parameters, a video without audio, a bad file."""


class NoMouthError(NoFaceError, LipsError):
    """No face with a mouth mesh was found in the video."""
