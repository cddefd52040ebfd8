"""The error of :mod:`facescope.engagement` (a :class:`~facescope.errors.FacescopeError`)."""

from __future__ import annotations

from facescope.errors import FacescopeError


class EngagementError(FacescopeError, ValueError):
    """Bad engagement input: a bad window, schema, feature file, NaN features, unknown columns."""


__all__ = ["EngagementError"]
