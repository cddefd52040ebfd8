"""The closed loop: the expression seen in a video selects and scales the stimulus.

The video's analysed frames (:meth:`facescope.analysis.Analyzer.analyze_video`, every few
frames: expressions run at about 15 fps) are cut into windows of `window` seconds; in each,
the valence and arousal of the most prominent face (the largest box) are averaged. The
nearest emotion anchor selects the stimulus (its gesture), played at the measured point;
its strength scales with how far the point lies from neutral relative to that anchor
(``scale = min(1, |(v, a)| / |anchor|)``). Windows without a face are silent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facescope.haptics.anchors import EMOTION_GESTURES, emotion_anchors, nearest_emotion
from facescope.haptics.errors import HapticsError
from facescope.haptics.stimulus import Stimulus, concatenate, synthesize

if TYPE_CHECKING:
    from facescope.analysis.result import VideoAnalysis


@dataclass(frozen=True)
class Segment:
    """One window of the mirrored timeline."""

    start: float
    end: float
    faces: int  # analysed frames with a face in the window
    expression: str | None
    valence: float | None
    arousal: float | None
    emotion: str | None
    gesture: str | None
    scale: float

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "start": r(self.start),
            "end": r(self.end),
            "faces": self.faces,
            "expression": self.expression,
            "valence": r(self.valence),
            "arousal": r(self.arousal),
            "emotion": self.emotion,
            "gesture": self.gesture,
            "scale": r(self.scale),
        }


@dataclass(frozen=True, eq=False)
class Mirror:
    """The stimulus timeline answering a video, window by window."""

    source: str | None
    window: float
    segments: list[Segment]
    stimulus: Stimulus

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "window": self.window,
            "segments": [s.to_dict() for s in self.segments],
            "stimulus": self.stimulus.to_dict(),
        }


def mirror_analysis(analysis: VideoAnalysis, *, window: float = 1.0) -> Mirror:
    """The stimulus timeline for an analysed video (see the module doc)."""
    if not (math.isfinite(window) and 0.2 <= window <= 30):
        raise HapticsError(f"window must be 0.2..30 seconds, got {window!r}")
    points: list[tuple[float, float | None, float | None, str | None]] = []
    for frame in analysis.frames:
        t = frame.time if frame.time is not None else 0.0
        faces = [f for f in frame.faces if f.valence is not None and f.arousal is not None]
        if not faces:
            points.append((t, None, None, None))
            continue
        face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        points.append((t, face.valence, face.arousal, face.expression))
    if not points:
        raise HapticsError("the video has no analysed frames")
    times = sorted(p[0] for p in points)
    # the last analysed frame stands for one analysis step (every N frames)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    step = step or (1 / analysis.fps if analysis.fps else 0.1)
    end = times[-1] + step
    count = max(1, math.ceil(end / window - 1e-9))
    anchors = emotion_anchors()
    segments: list[Segment] = []
    parts: list[Stimulus] = []
    for k in range(count):
        lo, hi = k * window, min((k + 1) * window, end)
        inside = [p for p in points if lo <= p[0] < hi or (k == count - 1 and p[0] >= hi)]
        seen = [p for p in inside if p[1] is not None]
        duration = max(hi - lo, 0.2)
        if not seen:
            segments.append(Segment(lo, hi, 0, None, None, None, None, None, 0.0))
            parts.append(synthesize(0.0, 0.0, "hold", duration=duration, scale=0.0))
            continue
        v = float(np.mean([p[1] for p in seen]))
        a = float(np.mean([p[2] for p in seen]))
        v, a = float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1))
        labels = [p[3] for p in seen if p[3] is not None]
        expression = max(set(labels), key=labels.count) if labels else None
        emotion = nearest_emotion(v, a)
        gesture = EMOTION_GESTURES[emotion]
        scale = min(1.0, math.hypot(v, a) / math.hypot(*anchors[emotion]))
        segments.append(Segment(lo, hi, len(seen), expression, v, a, emotion, gesture, scale))
        parts.append(synthesize(v, a, gesture, duration=duration, scale=scale, name=emotion))
    return Mirror(analysis.source, window, segments, concatenate(parts, "mirror"))


def mirror_video(
    source: str | Path, *, every: int = 2, window: float = 1.0, max_frames: int | None = None
) -> Mirror:
    """Analyse `source` (every `every`-th frame) and mirror it (:func:`mirror_analysis`)."""
    from dataclasses import replace

    from facescope.analysis.analyzer import Analyzer
    from facescope.io.video import VideoSource, parse_source

    if every < 1:
        raise HapticsError(f"every must be >= 1, got {every}")
    with VideoSource(parse_source(str(source)), max_frames=max_frames) as video:
        frames: Any = video
        analysis = Analyzer().analyze_video(frames, fps=video.fps, every=every)
        analysis = replace(analysis, source=video.source_name)
    return mirror_analysis(analysis, window=window)


__all__ = ["Mirror", "Segment", "mirror_analysis", "mirror_video"]
