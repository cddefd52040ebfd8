"""What engagement measurement returns: per person, per window; a session summary; tables."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.engagement.windows import FEATURES

if TYPE_CHECKING:
    import pandas as pd


def _clean(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, digits)
    return value


@dataclass(frozen=True)
class EngagementWindow:
    """One person over one window: features, engagement in [0, 1] and its label.

    Attributes:
        start, end: seconds.
        frames: analysed frames in the window; present_frames: those with the face.
        features: the numeric features (``windows.FEATURES``; NaN: not measurable).
        engagement: the estimate in [0, 1] (NaN: nothing to go on).
        label: the estimator's label (baseline: absent, engaged, partly engaged,
            disengaged, unknown; a trained head: its class names).
        components: the baseline's components (empty for a trained head).
        expression: the most probable expression over the window; expressions:
            the mean probabilities; action_units: the mean AU estimates.
        blinks: blinks that began in the window.
    """

    start: float
    end: float
    frames: int
    present_frames: int
    features: dict[str, float]
    engagement: float
    label: str
    components: dict[str, float] = field(default_factory=dict)
    expression: str | None = None
    expressions: dict[str, float] | None = None
    action_units: dict[str, float] | None = None
    blinks: int = 0

    @property
    def presence(self) -> float:
        """Share of the window's frames with the face."""
        return self.features["presence"]

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "presence", "engagement", "label", ...features}`` (NaN -> null)."""
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "presence": _clean(self.presence),
            "engagement": _clean(self.engagement),
            "label": self.label,
            "frames": self.frames,
            "present_frames": self.present_frames,
            "blinks": self.blinks,
        }
        out.update({k: _clean(v) for k, v in self.features.items() if k != "presence"})
        out["expression"] = self.expression
        out["expressions"] = (
            None
            if self.expressions is None
            else {k: _clean(v) for k, v in self.expressions.items()}
        )
        out["action_units"] = (
            None
            if self.action_units is None
            else {k: _clean(v) for k, v in self.action_units.items()}
        )
        if self.components:
            out["components"] = {k: _clean(v) for k, v in self.components.items()}
        return out

    def row(self) -> dict[str, Any]:
        """This window as one flat table row (expression probabilities and AUs as columns)."""
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "present_frames": self.present_frames,
            "engagement": self.engagement,
            "label": self.label,
            "blinks": self.blinks,
            **self.features,
            "expression": self.expression,
        }
        for name in EXPRESSIONS:
            out[name] = (self.expressions or {}).get(name, math.nan)
        out.update(self.action_units or {})
        return out


@dataclass(frozen=True)
class PersonEngagement:
    """One tracked person's windows.

    Attributes:
        track: the person id (their first track id).
        tracks: the analyzer's track ids joined into this person.
        windows: in time order.
        blinks_total: blinks over the whole video.
    """

    track: int
    tracks: tuple[int, ...]
    windows: list[EngagementWindow]
    blinks_total: int = 0

    def summary(self) -> dict[str, Any]:
        """The session summary: presence, mean engagement, main label, key cues."""
        frames = sum(w.frames for w in self.windows)
        present = sum(w.present_frames for w in self.windows)
        duration = sum(w.end - w.start for w in self.windows)

        def weighted(name: str, by_presence: bool = True) -> float:
            pairs = [
                (
                    w.features.get(name, math.nan) if name in w.features else getattr(w, name),
                    w.present_frames if by_presence else w.end - w.start,
                )
                for w in self.windows
            ]
            pairs = [(v, n) for v, n in pairs if math.isfinite(v) and n > 0]
            total = sum(n for _, n in pairs)
            return sum(v * n for v, n in pairs) / total if total else math.nan

        seconds: dict[str, float] = {}
        for w in self.windows:
            seconds[w.label] = seconds.get(w.label, 0.0) + w.end - w.start
        expressions = Counter(w.expression for w in self.windows if w.expression)
        present_s = duration * present / frames if frames else 0.0
        return {
            "track": self.track,
            "windows": len(self.windows),
            "presence": present / frames if frames else 0.0,
            "engagement": weighted("engagement", by_presence=False),
            "label": max(seconds, key=seconds.__getitem__) if seconds else None,
            "engaged_share": seconds.get("engaged", 0.0) / duration if duration else math.nan,
            "gaze_on_target": weighted("gaze_on_target"),
            "head_stability": weighted("head_stability"),
            "blink_rate": 60.0 * self.blinks_total / present_s if present_s >= 2 else math.nan,
            "eye_openness": weighted("eye_openness"),
            "speaking": weighted("speaking"),
            "motion_energy": weighted("motion_energy"),
            "valence": weighted("valence"),
            "arousal": weighted("arousal"),
            "expression": expressions.most_common(1)[0][0] if expressions else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """``{"track", "tracks", "summary", "windows": [...]}``."""
        return {
            "track": self.track,
            "tracks": list(self.tracks),
            "summary": {k: _clean(v) for k, v in self.summary().items()},
            "windows": [w.to_dict() for w in self.windows],
        }


@dataclass(frozen=True)
class EngagementResult:
    """Engagement of every person of one video.

    Attributes:
        tracks: one entry per person, in order of first appearance.
        window: ``"5"``, ``"10"``, ``"30"``, ... seconds, or ``"variable"``.
        estimator: ``"baseline"`` or ``"head: <file>"`` (a trained head).
        gaze_target: where attending people are taken to look (relative to the lens).
        frames: analysed frames; duration: seconds they span.
        cuts: shot-cut times found (seconds).
        source, ended_early: the video's name and why it ended early (if it did).
        pictures: timeline plots written.
    """

    tracks: list[PersonEngagement]
    window: str
    estimator: str
    gaze_target: dict[str, Any]
    frames: int
    duration: float
    cuts: list[float] = field(default_factory=list)
    source: str | None = None
    ended_early: str | None = None
    pictures: list[Path] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """One summary row per person (see :meth:`PersonEngagement.summary`)."""
        return [person.summary() for person in self.tracks]

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope engagement --json`` document: ``{"tracks": [...], "summary": [...]}``."""
        return {
            "source": self.source,
            "window": self.window,
            "estimator": self.estimator,
            "gaze_target": self.gaze_target,
            "gaze_note": "gaze is measured relative to the camera's lens; gaze_target places "
            "the screen (offset_mm from the lens); valence and arousal are derived from the "
            "expression probabilities, not measured",
            "frames": self.frames,
            "duration": round(self.duration, 3),
            "cuts": [round(c, 3) for c in self.cuts],
            "ended_early": self.ended_early,
            "tracks": [person.to_dict() for person in self.tracks],
            "summary": [{k: _clean(v) for k, v in row.items()} for row in self.summary()],
            "pictures": [str(p) for p in self.pictures],
        }

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per person per window (``track`` first)."""
        return [
            {"track": person.track, **window.row()}
            for person in self.tracks
            for window in person.windows
        ]

    def to_frame(self) -> pd.DataFrame:
        """The window table (pandas), one row per person per window."""
        import pandas as pd

        columns = [
            "track",
            "start",
            "end",
            "frames",
            "present_frames",
            "engagement",
            "label",
            "blinks",
            *FEATURES,
            "expression",
            *EXPRESSIONS,
        ]
        return pd.DataFrame(self.rows(), columns=None if self.rows() else columns)


__all__ = ["EngagementResult", "EngagementWindow", "PersonEngagement"]
