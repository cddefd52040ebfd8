"""The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): smoothing that does not lag.

A first-order low-pass filter whose cut-off frequency rises with the signal's
speed: slow movements (jitter around a still pose) are smoothed hard, fast ones
pass almost unfiltered, so landmarks and head pose stop trembling without
trailing behind a turning head. Works on arrays of any shape, with timestamps
(frames need not be evenly spaced).

``min_cutoff`` (Hz) sets the smoothing at rest (lower: smoother), ``beta`` how
fast the cut-off grows with speed (higher: less lag), ``d_cutoff`` (Hz) the
smoothing of the speed estimate itself.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _alpha(cutoff: FloatArray | float, dt: float) -> FloatArray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over arrays; call it once per frame with the frame's timestamp."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("need min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._value: FloatArray | None = None
        self._speed: FloatArray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        """Forget the past (a new face, or a gap in tracking)."""
        self._value = self._speed = None
        self._time = None

    def __call__(self, value: npt.ArrayLike, timestamp: float) -> FloatArray:
        """Filter one sample taken at `timestamp` seconds; returns the smoothed value."""
        x = np.asarray(value, np.float64)
        if self._value is None or self._time is None or self._value.shape != x.shape:
            self._value, self._speed, self._time = x.copy(), np.zeros_like(x), timestamp
            return x.copy()
        dt = timestamp - self._time
        if dt <= 0:
            return self._value.copy()
        assert self._speed is not None
        speed = (x - self._value) / dt
        speed = self._speed + _alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(speed)
        smoothed = self._value + _alpha(cutoff, dt) * (x - self._value)
        self._value, self._speed, self._time = smoothed, speed, timestamp
        return np.asarray(smoothed.copy(), np.float64)
