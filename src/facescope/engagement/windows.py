"""Time windows and the per-window features: a pure function of per-frame records.

:func:`aggregate_windows` takes the records of :mod:`facescope.engagement.features`,
the times of every analysed frame (frames without any face count: they make
presence) and the blink onsets per person, and returns each person's windows
with their features. It reads no video and runs no model, so it is tested on
hand-made records.

Windows (:class:`WindowSpec`):

* **fixed** (``5``, ``10``, ``30`` or any number of seconds): consecutive windows
  from the first analysed frame, the same for every person; the last one ends with
  the video (it may be shorter).
* **variable**: per person, segments of steady presence. The person's frames are
  split into runs of present / absent; runs shorter than ``min_s`` (1 s: a missed
  detection, a turn of the head) are merged into the run before (or after, at the
  start); the segments are also cut at shot cuts (hard cuts, from
  :class:`~facescope.tracking.shots.ShotDetector`), and a segment longer than
  ``max_s`` (30 s) is split into equal parts no longer than that. A data set with
  variable-length samples (e.g. the OPEN data set) defines its own segments; these
  are ours.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.engagement.errors import EngagementError
from facescope.engagement.features import FrameRecord

#: Lips whose openness varies by more than this (std over 0.5 s) are moving: speaking.
SPEAKING_STD = 0.02
#: Eyes are closed below this share of the person's open level (as the blink detector).
CLOSED_RATIO = 0.65
#: The person's open-eye level: this percentile of their eye aspect ratio over the video.
OPEN_PERCENTILE = 80.0
#: Head-pose spread (degrees) at which head stability is 1/e.
STABILITY_SCALE_DEG = 10.0
#: The head faces the target when its forward direction is within this many degrees.
FACING_DEG = 30.0
#: Blink rate is only given for windows with at least this many seconds of presence.
MIN_BLINK_S = 2.0

#: The numeric per-window features, in table order, and what each is.
FEATURES: dict[str, str] = {
    "presence": "share of the window's analysed frames in which the person's face was found",
    "gaze_on_target": "share of the present frames whose gaze is within the tolerance of the "
    "target (default: the camera's lens)",
    "gaze_angle": "median angle between the gaze and the target's edge, degrees",
    "facing": f"share of the present frames whose head faces the target (within {FACING_DEG:g}°)",
    "head_yaw": "mean head yaw, degrees (> 0: towards the image's right)",
    "head_pitch": "mean head pitch, degrees (> 0: up)",
    "head_roll": "mean head roll, degrees",
    "head_pose_std": "spread of the head pose: root mean of the yaw, pitch and roll variances, "
    "degrees",
    "head_stability": f"exp(-head_pose_std / {STABILITY_SCALE_DEG:g}°): 1 still, towards 0 moving",
    "blink_rate": f"blinks per minute of presence (windows with >= {MIN_BLINK_S:g} s present)",
    "eye_openness": "mean eye aspect ratio of both eyes (about 0.25-0.35 open)",
    "eyes_closed": f"share of the present frames with the eyes under {CLOSED_RATIO:g} of the "
    "person's open level",
    "motion_energy": "mean speed of the face mesh with head motion removed, mm/s",
    "mouth_activity": "mean standard deviation of mouth openness over 0.5 s",
    "speaking": f"share of the present frames whose mouth activity is >= {SPEAKING_STD:g} "
    "(speaking from mouth motion: chewing or yawning count too)",
    "valence": "mean valence, DERIVED from the expression probabilities",
    "arousal": "mean arousal, DERIVED from the expression probabilities",
}


@dataclass(frozen=True)
class WindowSpec:
    """How a video is cut into windows.

    Attributes:
        seconds: length of fixed windows; None for variable windows.
        min_s, max_s: variable windows: shortest run kept apart, longest segment.
    """

    seconds: float | None = 10.0
    min_s: float = 1.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise EngagementError(f"window length must be a positive number, got {self.seconds}")
        if not (0 < self.min_s < self.max_s and math.isfinite(self.max_s)):
            raise EngagementError("variable windows need 0 < min_s < max_s")

    @property
    def variable(self) -> bool:
        """Whether windows follow each person's presence (not a fixed grid)."""
        return self.seconds is None

    def __str__(self) -> str:
        return "variable" if self.seconds is None else f"{self.seconds:g}"


def parse_window(value: str | float | WindowSpec) -> WindowSpec:
    """``"5"``, ``"10"``, ``"30"`` (any positive number of seconds) or ``"variable"``."""
    if isinstance(value, WindowSpec):
        return value
    text = str(value).strip().lower()
    if text == "variable":
        return WindowSpec(None)
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        raise EngagementError(
            f"bad window {value!r}: give seconds (5, 10, 30, ...) or 'variable'"
        ) from None
    if not (math.isfinite(seconds) and 0 < seconds <= 86_400):
        raise EngagementError(f"bad window {value!r}: seconds must be > 0 (5, 10, 30, ...)")
    return WindowSpec(seconds)


@dataclass(frozen=True)
class WindowFeatures:
    """The features of one person over one window."""

    start: float
    end: float
    frames: int
    present_frames: int
    features: dict[str, float]
    expression: str | None = None
    expressions: dict[str, float] | None = None
    action_units: dict[str, float] | None = None
    blinks: int = 0

    @property
    def presence(self) -> float:
        """Share of the window's frames with the face."""
        return self.features["presence"]


def _frame_step(times: Sequence[float]) -> float:
    if len(times) < 2:
        return 0.0
    steps = np.diff(np.asarray(times, np.float64))
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 0.0


def fixed_windows(times: Sequence[float], seconds: float) -> list[tuple[float, float]]:
    """Consecutive ``[start, end)`` windows over the frame times (the last one shorter)."""
    if not len(times):
        return []
    first = float(times[0])
    end = float(times[-1]) + _frame_step(times)
    if end <= first:
        end = first + 1e-6
    count = max(1, math.ceil((end - first) / seconds - 1e-9))
    return [(first + k * seconds, min(first + (k + 1) * seconds, end)) for k in range(count)]


def variable_windows(
    times: Sequence[float],
    present: Sequence[bool],
    spec: WindowSpec,
    cuts: Sequence[float] = (),
) -> list[tuple[float, float]]:
    """One person's segments of steady presence (see the module docs)."""
    if not len(times):
        return []
    t = [float(v) for v in times]
    end = t[-1] + _frame_step(t) or t[-1] + 1e-6
    # runs of equal presence: [start, end, present]
    runs: list[list[Any]] = []
    for i, flag in enumerate(present):
        if runs and runs[-1][2] == bool(flag):
            continue
        if runs:
            runs[-1][1] = t[i]
        runs.append([t[i], end, bool(flag)])
    merged: list[list[Any]] = []
    for run in runs:
        if merged and (run[1] - run[0] < spec.min_s or merged[-1][2] == run[2]):
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    if len(merged) > 1 and merged[0][1] - merged[0][0] < spec.min_s:
        merged[1][0] = merged[0][0]
        merged.pop(0)
    bounds = sorted({t[0], end, *(r[0] for r in merged), *(c for c in cuts if t[0] < c < end)})
    out: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(bounds):
        parts = max(1, math.ceil((b - a) / spec.max_s - 1e-9))
        out.extend((a + (b - a) * k / parts, a + (b - a) * (k + 1) / parts) for k in range(parts))
    return out


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _share(values: Sequence[float], test: Any) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean([bool(test(v)) for v in finite])) if finite else math.nan


def _features(
    rows: Sequence[FrameRecord],
    frames: int,
    blinks: int,
    step: float,
    open_level: float,
    tolerance_deg: float,
) -> tuple[dict[str, float], str | None, dict[str, float] | None, dict[str, float] | None]:
    nan = math.nan
    present = len(rows)
    f: dict[str, float] = dict.fromkeys(FEATURES, nan)
    f["presence"] = present / frames if frames else 0.0
    if not present:
        return f, None, None, None
    col = {
        name: [getattr(r, name) for r in rows]
        for name in (
            "yaw",
            "pitch",
            "roll",
            "gaze_angle",
            "facing_angle",
            "eye_openness",
            "motion",
            "mouth_activity",
            "valence",
            "arousal",
        )
    }
    f["gaze_on_target"] = _share(col["gaze_angle"], lambda a: a <= tolerance_deg)
    gaze = [v for v in col["gaze_angle"] if math.isfinite(v)]
    f["gaze_angle"] = float(np.median(gaze)) if gaze else nan
    f["facing"] = _share(col["facing_angle"], lambda a: a <= FACING_DEG)
    f["head_yaw"], f["head_pitch"], f["head_roll"] = (
        _mean(col[k]) for k in ("yaw", "pitch", "roll")
    )
    angles = np.array([col["yaw"], col["pitch"], col["roll"]], np.float64).T
    angles = angles[np.isfinite(angles).all(axis=1)]
    if len(angles) >= 2:
        f["head_pose_std"] = float(np.sqrt(angles.var(axis=0).mean()))
        f["head_stability"] = math.exp(-f["head_pose_std"] / STABILITY_SCALE_DEG)
    seconds = present * step
    if seconds >= MIN_BLINK_S:
        f["blink_rate"] = 60.0 * blinks / seconds
    f["eye_openness"] = _mean(col["eye_openness"])
    if math.isfinite(open_level) and open_level > 0:
        f["eyes_closed"] = _share(col["eye_openness"], lambda e: e < CLOSED_RATIO * open_level)
    f["motion_energy"] = _mean(col["motion"])
    f["mouth_activity"] = _mean(col["mouth_activity"])
    f["speaking"] = _share(col["mouth_activity"], lambda s: s >= SPEAKING_STD)
    f["valence"], f["arousal"] = _mean(col["valence"]), _mean(col["arousal"])
    probs = [r.expressions for r in rows if r.expressions is not None]
    expressions = expression = None
    if probs:
        mean = np.mean(np.asarray(probs, np.float64), axis=0)
        expressions = {name: float(p) for name, p in zip(EXPRESSIONS, mean, strict=True)}
        expression = max(expressions, key=expressions.__getitem__)
    units: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, value in (r.action_units or {}).items():
            units[name].append(float(value))
    action_units = {name: _mean(v) for name, v in units.items()} or None
    return f, expression, expressions, action_units


def aggregate_windows(
    records: Sequence[FrameRecord],
    frame_times: Sequence[float],
    spec: WindowSpec | str | float = 10.0,
    *,
    blinks: Mapping[int, Sequence[float]] | None = None,
    cuts: Sequence[float] = (),
    tolerance_deg: float = 15.0,
) -> dict[int, list[WindowFeatures]]:
    """Each person's windows with their features.

    Args:
        records: per-face per-frame records, in time order.
        frame_times: the time of every analysed frame (with or without faces).
        spec: the windows (a :class:`WindowSpec`, seconds, or ``"variable"``).
        blinks: blink onsets (seconds) per person.
        cuts: shot-cut times (seconds): variable windows are cut there.
        tolerance_deg: gaze within this many degrees of the target's edge is on target.

    Returns:
        ``{person: [WindowFeatures, ...]}``, persons in order of first appearance.
    """
    spec = parse_window(spec)
    times = [float(t) for t in frame_times]
    if any(not math.isfinite(t) for t in times) or any(b < a for a, b in itertools.pairwise(times)):
        raise EngagementError("frame times must be finite and in increasing order")
    step = _frame_step(times)
    by_person: dict[int, list[FrameRecord]] = {}
    for record in records:
        by_person.setdefault(record.person, []).append(record)
    grid = None if spec.variable else fixed_windows(times, float(spec.seconds or 0))
    frame_array = np.asarray(times, np.float64)
    out: dict[int, list[WindowFeatures]] = {}
    for person, rows in by_person.items():
        rows_t = np.array([r.time for r in rows], np.float64)
        ears = [r.eye_openness for r in rows if math.isfinite(r.eye_openness)]
        open_level = float(np.percentile(ears, OPEN_PERCENTILE)) if ears else math.nan
        onsets = np.asarray(sorted((blinks or {}).get(person, ())), np.float64)
        if grid is None:
            seen = set(rows_t.tolist())
            windows = variable_windows(times, [t in seen for t in times], spec, cuts)
        else:
            windows = grid
        person_windows = []
        for index, (start, end) in enumerate(windows):
            last = index == len(windows) - 1
            in_window = (frame_array >= start) & ((frame_array < end) | last)
            picked = (rows_t >= start) & ((rows_t < end) | last)
            chosen = [rows[i] for i in np.flatnonzero(picked)]
            blink_count = int(((onsets >= start) & ((onsets < end) | last)).sum())
            features, expression, expressions, units = _features(
                chosen, int(in_window.sum()), blink_count, step, open_level, tolerance_deg
            )
            person_windows.append(
                WindowFeatures(
                    start,
                    end,
                    int(in_window.sum()),
                    len(chosen),
                    features,
                    expression,
                    expressions,
                    units,
                    blink_count,
                )
            )
        out[person] = person_windows
    return out


__all__ = [
    "FEATURES",
    "SPEAKING_STD",
    "WindowFeatures",
    "WindowSpec",
    "aggregate_windows",
    "fixed_windows",
    "parse_window",
    "variable_windows",
]
