"""Temporal stability without lag: a One-Euro filter with per-shape parameters.

The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012; see
:mod:`facescope.analysis.smoothing`) smooths hard at rest and lets fast motion
through. Blinks and the jaw move fast and must not lag, so they get a high
``beta`` (the cut-off rises quickly with speed); brows, cheeks and the gaze get a
lower cut-off at rest (they tremble most on a still face). Here the cut-off and
``beta`` are arrays, one value per shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from facescope.animate.errors import AnimateError
from facescope.animate.shapes import SHAPES

FloatArray = npt.NDArray[np.float64]

#: (min_cutoff Hz, beta) per shape-name prefix; the first matching prefix wins.
DEFAULT_PARAMETERS: dict[str, tuple[float, float]] = {
    "eyeBlink": (3.0, 30.0),
    "jaw": (2.0, 20.0),
    "mouthClose": (2.0, 20.0),
    "mouth": (1.5, 10.0),
    "eyeLook": (1.0, 5.0),
    "eyeWide": (1.0, 5.0),
    "eyeSquint": (1.0, 5.0),
    "brow": (0.8, 5.0),
    "cheek": (0.8, 5.0),
    "nose": (0.8, 5.0),
    "": (1.0, 5.0),
}

#: One-Euro parameters of head yaw/pitch/roll (degrees): (min_cutoff, beta).
HEAD_PARAMETERS = (1.0, 0.05)


def shape_parameters(
    overrides: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(52,) min cut-offs and (52,) betas in :data:`SHAPES` order (prefix rules + overrides)."""
    table = dict(DEFAULT_PARAMETERS)
    cutoff = np.empty(len(SHAPES))
    beta = np.empty(len(SHAPES))
    for i, name in enumerate(SHAPES):
        if overrides and name in overrides:
            cutoff[i], beta[i] = overrides[name]
            continue
        for prefix, (c, b) in table.items():
            if name.startswith(prefix):
                cutoff[i], beta[i] = c, b
                break
    if (cutoff <= 0).any() or (beta < 0).any() or not np.isfinite(cutoff + beta).all():
        raise AnimateError("filter parameters need min_cutoff > 0 and beta >= 0")
    return cutoff, beta


class VectorOneEuro:
    """A One-Euro filter over a vector with per-element ``min_cutoff`` and ``beta``."""

    def __init__(self, min_cutoff: npt.ArrayLike, beta: npt.ArrayLike, d_cutoff: float = 1.0):
        self.min_cutoff = np.asarray(min_cutoff, np.float64)
        self.beta = np.asarray(beta, np.float64)
        self.d_cutoff = float(d_cutoff)
        self._value: FloatArray | None = None
        self._speed: FloatArray | None = None
        self._time = 0.0

    def reset(self) -> None:
        """Forget the past (a gap in tracking)."""
        self._value = self._speed = None

    @staticmethod
    def _alpha(cutoff: FloatArray | float, dt: float) -> FloatArray:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
        return np.asarray(1.0 / (1.0 + tau / dt))

    def __call__(self, value: npt.ArrayLike, timestamp: float) -> FloatArray:
        """Filter one sample at `timestamp` seconds."""
        x = np.asarray(value, np.float64)
        if self._value is None or self._speed is None:
            self._value, self._speed, self._time = x.copy(), np.zeros_like(x), timestamp
            return x.copy()
        dt = timestamp - self._time
        if dt <= 0:
            return self._value.copy()
        speed = (x - self._value) / dt
        speed = self._speed + self._alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(speed)
        smoothed = self._value + self._alpha(cutoff, dt) * (x - self._value)
        self._value, self._speed, self._time = smoothed, speed, timestamp
        return smoothed.copy()


class ShapeFilter:
    """Smooths the 52 coefficients (per-shape parameters) and the head angles of one performer."""

    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        cutoff, beta = shape_parameters(overrides)
        self.shapes = VectorOneEuro(cutoff, beta)
        self.head = VectorOneEuro(np.full(3, HEAD_PARAMETERS[0]), np.full(3, HEAD_PARAMETERS[1]))

    def reset(self) -> None:
        """Forget the past."""
        self.shapes.reset()
        self.head.reset()

    def __call__(
        self, weights: npt.ArrayLike, head: npt.ArrayLike, timestamp: float
    ) -> tuple[FloatArray, FloatArray]:
        """Smoothed (52,) weights (kept in [0, 1]) and (3,) head angles."""
        smoothed = np.clip(self.shapes(weights, timestamp), 0.0, 1.0)
        return smoothed, self.head(head, timestamp)
