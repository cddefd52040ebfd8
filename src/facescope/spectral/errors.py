"""Errors raised by :mod:`facescope.spectral` (all ``FacescopeError`` and ``ValueError``)."""

from __future__ import annotations

from facescope.errors import FacescopeError


class SpectralError(FacescopeError, ValueError):
    """Bad input to a cross-spectral function: wrong type, shape, dtype, NaN or empty."""


class UnknownSpectrumError(SpectralError):
    """A spectrum name that is not one of ``vis``, ``nir``, ``thermal``."""


class UncalibratedPairError(SpectralError):
    """No threshold (or normalisation mean) was fitted for this spectrum or spectrum pair."""


class CasiaLayoutError(SpectralError):
    """A CASIA NIR-VIS 2.0 root, protocol file, view or listed image is missing or malformed."""
