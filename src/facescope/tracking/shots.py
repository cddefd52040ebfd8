"""Shot boundaries (hard cuts) from colour histograms of consecutive frames.

A track must never run across a cut: at a cut to another camera the face at
the same place is, as a rule, another person. :class:`ShotDetector` is
classical and needs no training. Each frame is shrunk to ``size`` (64x36 by
default, area averaging) and described by two histograms:

- hue x saturation (16 x 4 bins): the colours, blind to brightness;
- value after dividing by the frame's mean value (16 bins over 0-3): the
  spread of light and dark, blind to a global gain (fades, auto-exposure, a
  lamp dimmed).

Binning is soft (each pixel shared linearly between its two nearest bins), so
a plain background drifting across a bin boundary moves no whole mass.

The distance between consecutive frames is the larger of the two Bhattacharyya
distances (0: same histogram, 1: disjoint). A frame starts a new shot when its
distance exceeds ``max(min_distance, factor * median)`` of the distances of the
previous ``window`` frames (an adaptive threshold: busy footage has a higher
median), and at least ``min_shot`` frames have passed since the last cut.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

#: Bhattacharyya distance below which no change is a cut, whatever the median.
DEFAULT_MIN_DISTANCE = 0.3
#: A cut is this many times the median distance of the recent frames...
DEFAULT_FACTOR = 4.0
#: ...over this many frames (about 1 s).
DEFAULT_WINDOW = 30
#: Frames a shot lasts at least (a camera flash is not two cuts).
DEFAULT_MIN_SHOT = 5
#: Width and height each frame is shrunk to before its histograms.
DEFAULT_SIZE = (64, 36)

_HUE_BINS, _SAT_BINS, _VALUE_BINS = 16, 4, 16
#: relative brightness (value / mean value) the light histogram spans
_VALUE_RANGE = 3.0


class ShotDetector:
    """Says, frame by frame, whether a frame starts a new shot (a hard cut).

    Feed every frame in order to :meth:`update`; it is cheap (one 64x36 resize
    and two small histograms) and deterministic.

    Args:
        min_distance: absolute floor of the cut threshold (Bhattacharyya, 0-1).
        factor: a cut's distance is at least `factor` times the recent median.
        window: frames over which the median is taken.
        min_shot: frames after a cut during which no other cut is reported.
        size: ``(width, height)`` frames are shrunk to.
    """

    def __init__(
        self,
        *,
        min_distance: float = DEFAULT_MIN_DISTANCE,
        factor: float = DEFAULT_FACTOR,
        window: int = DEFAULT_WINDOW,
        min_shot: int = DEFAULT_MIN_SHOT,
        size: tuple[int, int] = DEFAULT_SIZE,
    ) -> None:
        if not 0.0 < min_distance <= 1.0:
            raise ValueError(f"min_distance must be in (0, 1], got {min_distance}")
        if factor <= 0 or window < 1 or min_shot < 1 or min(size) < 4:
            raise ValueError("need factor > 0, window >= 1, min_shot >= 1 and size >= 4 px")
        self.min_distance = min_distance
        self.factor = factor
        self.window = window
        self.min_shot = min_shot
        self.size = size
        self.reset()

    def reset(self) -> None:
        """Forget every frame seen (a new video)."""
        self._previous: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
        self._recent: deque[float] = deque(maxlen=self.window)
        self._since_cut = 0
        #: distance of the last frame to the one before (0.0 for the first frame)
        self.last_distance = 0.0

    def threshold(self) -> float:
        """The distance the next frame must exceed to be a cut."""
        median = float(np.median(self._recent)) if self._recent else 0.0
        return max(self.min_distance, self.factor * median)

    def update(self, rgb: npt.NDArray[np.uint8]) -> bool:
        """True when `rgb` (the next frame, RGB) starts a new shot; False for the first."""
        current = self._histograms(rgb)
        previous, self._previous = self._previous, current
        self._since_cut += 1
        if previous is None:
            self.last_distance = 0.0
            return False
        distance = max(
            _bhattacharyya(previous[0], current[0]), _bhattacharyya(previous[1], current[1])
        )
        self.last_distance = distance
        cut = distance > self.threshold() and self._since_cut > self.min_shot
        if cut:
            self._since_cut = 0
            self._recent.clear()  # the new shot sets its own level
        else:
            self._recent.append(distance)
        return cut

    def _histograms(
        self, rgb: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        small = cv2.resize(np.ascontiguousarray(rgb), self.size, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # H in 0-179, S and V in 0-255
        hue = hsv[..., 0].astype(np.float32).ravel() * (_HUE_BINS / 180.0)
        saturation = hsv[..., 1].astype(np.float32).ravel() * (_SAT_BINS / 256.0)
        value = hsv[..., 2].astype(np.float32).ravel()
        relative = value / max(float(value.mean()), 1.0)  # 1: the frame's mean brightness
        hue_bins, hue_weights = _soft_bins(hue, _HUE_BINS, circular=True)
        sat_bins, sat_weights = _soft_bins(saturation, _SAT_BINS, circular=False)
        cells = np.concatenate([h * _SAT_BINS + k for h in hue_bins for k in sat_bins])
        shares = np.concatenate([a * b for a in hue_weights for b in sat_weights])
        colours = np.bincount(cells, shares, minlength=_HUE_BINS * _SAT_BINS)
        light_bins, light_weights = _soft_bins(
            relative * (_VALUE_BINS / _VALUE_RANGE), _VALUE_BINS, circular=False
        )
        light = np.bincount(
            np.concatenate(light_bins), np.concatenate(light_weights), minlength=_VALUE_BINS
        )
        return _normalised(colours), _normalised(light)


def _soft_bins(
    position: npt.NDArray[np.float32], bins: int, *, circular: bool
) -> tuple[list[npt.NDArray[np.intp]], list[npt.NDArray[np.float64]]]:
    """The two bins each value (in bin units) falls between, and their weights.

    Soft (linear) binning: a value on a bin boundary shares itself between the
    two bins, so a slow drift (dimming) never jumps a whole histogram mass.
    """
    centred = position.astype(np.float64) - 0.5
    low = np.floor(centred)
    upper_weight = centred - low
    low_bin = low.astype(np.intp)
    high_bin = low_bin + 1
    if circular:
        low_bin, high_bin = low_bin % bins, high_bin % bins
    else:
        low_bin, high_bin = np.clip(low_bin, 0, bins - 1), np.clip(high_bin, 0, bins - 1)
    return [low_bin, high_bin], [1.0 - upper_weight, upper_weight]


def _normalised(histogram: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    return (histogram / max(float(histogram.sum()), 1e-12)).astype(np.float32)


def _bhattacharyya(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Bhattacharyya (Hellinger) distance of two normalised histograms, in [0, 1]."""
    coefficient = float(np.sum(np.sqrt(a.astype(np.float64) * b.astype(np.float64))))
    return float(np.sqrt(max(0.0, 1.0 - min(coefficient, 1.0))))
