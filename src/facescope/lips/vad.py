"""Visual voice-activity detection: who speaks when, from the lips alone.

Speech is the *change* of the mouth, not its state: a smile (a wide but static
mouth) or a mouth held open (a static aperture) is silent. Per face, from its
lip landmarks on the canonical face (:func:`facescope.lips.mouth.lip_landmarks`,
so head motion and distance to the camera are removed), each frame gets

* the aperture speed ``|dA/dt|`` (mm/s), ``A`` the inner-lip gap, and
* the lip-shape speed: the RMS speed (mm/s) of the lip points about their own
  centre (a residual drift of the whole mouth from an imperfect head-pose fit
  cancels out),

both measured across 0.16 s rather than between adjacent frames (mesh jitter
weighs less; syllables, at 3-7 Hz, are kept), and

combined as ``motion = (aperture_speed + shape_weight * shape_speed) * 10 / (A + 10)``
(motion relative to the opening: a mouth held wide open, whose mesh jitters
more, or a yawn, is not speech). The
*activity* of a frame is the mean motion over a centred window of
:attr:`VadOptions.window_s` seconds; a frame is speaking when its activity is at
least :attr:`VadOptions.threshold`. Speaking runs separated by pauses shorter
than :attr:`VadOptions.min_gap_s` are joined, and runs shorter than
:attr:`VadOptions.min_speech_s` dropped. Timestamps, not frame counts, set every
window, so the decision does not depend on the frame rate.

The default threshold was chosen on the shared talking-head videos and their
synthetic negatives (frozen, mouth held still, smiling, nodding, mouth held open)
by rotation: see ``docs/lips.md`` for the held-out precision and recall.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facescope.lips.errors import LipsError
from facescope.lips.mouth import LIP_POINTS, lip_aperture

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class VadOptions:
    """How visual voice activity is decided (see the module docs).

    Attributes:
        threshold: activity (mm/s) at and above which a frame is speaking.
        window_s: seconds of motion averaged into one frame's activity.
        shape_weight: weight of the lip-shape speed next to the aperture speed.
        open_scale_mm: aperture (mm) at which motion counts half (see :func:`mouth_motion`).
        min_gap_s: pauses shorter than this inside speech are filled.
        min_speech_s: speaking runs shorter than this are dropped.
    """

    threshold: float = 4.5
    window_s: float = 0.5
    shape_weight: float = 0.5
    open_scale_mm: float = 10.0
    min_gap_s: float = 0.3
    min_speech_s: float = 0.2

    def __post_init__(self) -> None:
        names = ("threshold", "window_s", "shape_weight", "open_scale_mm", "min_gap_s")
        for name in (*names, "min_speech_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise LipsError(f"VadOptions.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise LipsError(f"VadOptions.{name} must be a finite number >= 0, got {value!r}")
        for name in ("window_s", "open_scale_mm"):
            if getattr(self, name) <= 0:
                raise LipsError(f"VadOptions.{name} must be > 0, got {getattr(self, name)!r}")


def _check(landmarks: npt.ArrayLike, time: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    marks = np.asarray(landmarks, np.float64)
    t = np.asarray(time, np.float64)
    if marks.ndim != 3 or marks.shape[1] < len(LIP_POINTS) or marks.shape[2] < 2:
        raise LipsError(f"expected (T, 57, 2 or 3) lip landmarks, got shape {marks.shape}")
    if t.shape != (marks.shape[0],):
        raise LipsError(f"{t.shape[0] if t.ndim else 0} times for {marks.shape[0]} frames")
    if not (np.isfinite(marks).all() and np.isfinite(t).all()):
        raise LipsError("lip landmarks and times must be finite")
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise LipsError("times must increase")
    return marks, t


def _span_speed(values: FloatArray, t: FloatArray, half_s: float) -> FloatArray:
    """|values(t + h) - values(t - h)| / 2h per frame (nearest frames; h = `half_s`)."""
    lo = np.searchsorted(t, t - half_s, side="left")
    hi = np.clip(np.searchsorted(t, t + half_s, side="right") - 1, 0, len(t) - 1)
    hi = np.maximum(hi, np.minimum(lo + 1, len(t) - 1))
    lo = np.minimum(lo, hi - 1).clip(0)
    span = np.maximum(t[hi] - t[lo], 1e-6)
    change = values[hi] - values[lo]
    if change.ndim > 1:  # point sets: RMS over the points of their displacement
        change = np.sqrt((change**2).sum(-1).mean(-1))
    return np.asarray(np.abs(change) / span, np.float64)


def mouth_motion(
    landmarks: npt.ArrayLike,
    time: npt.ArrayLike,
    shape_weight: float = 0.5,
    span_s: float = 0.16,
    open_scale_mm: float = 10.0,
) -> FloatArray:
    """Per-frame mouth motion (mm/s): aperture speed + `shape_weight` x lip-shape speed,
    times ``open_scale_mm / (A + open_scale_mm)`` (``A`` the aperture, mm).

    `landmarks` are (T, 57, d) from :func:`~facescope.lips.mouth.lip_landmarks`.
    Speeds are measured across `span_s` seconds (centred), not between adjacent
    frames: mesh jitter from frame to frame weighs less, the lips' syllable-rate
    motion (3-7 Hz) as much, and the result does not depend on the frame rate.
    The last factor counts motion relative to the opening: the mesh of a mouth
    held wide open jitters more (and a yawn is not speech), while the openings
    of speech (0-15 mm) keep most of their weight.
    """
    marks, t = _check(landmarks, time)
    if len(t) < 2:
        return np.zeros(len(t), np.float64)
    aperture = lip_aperture(marks)
    lips = marks[:, : len(LIP_POINTS), :2]
    shape = lips - lips.mean(1, keepdims=True)
    half = span_s / 2
    motion = _span_speed(aperture, t, half) + shape_weight * _span_speed(shape, t, half)
    return np.asarray(motion * open_scale_mm / (aperture + open_scale_mm), np.float64)


def windowed_mean(values: npt.ArrayLike, time: npt.ArrayLike, window_s: float) -> FloatArray:
    """The mean of `values` over a centred window of `window_s` seconds at each time."""
    v = np.asarray(values, np.float64)
    t = np.asarray(time, np.float64)
    if len(v) == 0:
        return v
    cumulative = np.concatenate([[0.0], np.cumsum(v)])
    lo = np.searchsorted(t, t - window_s / 2, side="left")
    hi = np.searchsorted(t, t + window_s / 2, side="right")
    return np.asarray((cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1), np.float64)


def _runs(flags: BoolArray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs (stop exclusive)."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def clean_decisions(
    flags: npt.ArrayLike, time: npt.ArrayLike, min_gap_s: float, min_speech_s: float
) -> BoolArray:
    """Fill pauses shorter than `min_gap_s` in speech; drop runs shorter than `min_speech_s`."""
    out = np.asarray(flags, bool).copy()
    t = np.asarray(time, np.float64)
    if len(out) == 0:
        return out
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    runs = _runs(out)
    for (_, stop), (start, _) in itertools.pairwise(runs):
        if t[start] - t[stop - 1] - step < min_gap_s:
            out[stop:start] = True
    for start, stop in _runs(out):
        if t[stop - 1] - t[start] + step < min_speech_s:
            out[start:stop] = False
    return out


def speech_activity(
    landmarks: npt.ArrayLike, time: npt.ArrayLike, options: VadOptions | None = None
) -> FloatArray:
    """Per-frame activity (mm/s): the mouth motion averaged over the window."""
    opts = options or VadOptions()
    _, t = _check(landmarks, time)
    motion = mouth_motion(landmarks, t, opts.shape_weight, open_scale_mm=opts.open_scale_mm)
    return windowed_mean(motion, t, opts.window_s)


def detect_speech(
    landmarks: npt.ArrayLike, time: npt.ArrayLike, options: VadOptions | None = None
) -> tuple[BoolArray, FloatArray]:
    """(speaking, activity) per frame of one face (see the module docs)."""
    opts = options or VadOptions()
    activity = speech_activity(landmarks, time, opts)
    flags = activity >= opts.threshold
    return clean_decisions(flags, time, opts.min_gap_s, opts.min_speech_s), activity


def speech_segments(speaking: npt.ArrayLike, time: npt.ArrayLike) -> list[tuple[float, float]]:
    """The (start, end) seconds of each speaking run; a run ends one frame step after its last."""
    flags = np.asarray(speaking, bool)
    t = np.asarray(time, np.float64)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return [(float(t[a]), float(t[b - 1] + step)) for a, b in _runs(flags)]
