"""The one error type of :mod:`facescope.haptics`."""

from __future__ import annotations

from facescope.errors import FacescopeError


class HapticsError(FacescopeError, ValueError):
    """Bad haptics input (unknown emotion or gesture, out-of-range value, bad rate, bad
    answer CSV) or a device problem (no port, no acknowledgement, no audio output)."""


__all__ = ["HapticsError"]
