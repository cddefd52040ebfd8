"""Errors of :mod:`facescope.heads` (all :class:`~facescope.errors.FacescopeError`)."""

from __future__ import annotations

from facescope.errors import FacescopeError


class HeadError(FacescopeError, ValueError):
    """A head's file is unusable, or data given to fit or predict does not fit the head."""


class NotFittedError(HeadError, AttributeError):
    """A head was used (or a fitted attribute read) before :meth:`fit` or :meth:`load`."""


class ThresholdsError(FacescopeError, ValueError):
    """A thresholds file is unusable, or no threshold is stored for what was asked."""
