"""Results of micro-expression spotting: intervals, per-track traces, the error type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from facescope.errors import FacescopeError

if TYPE_CHECKING:
    from facescope.micro.motion import TrackMotion


class MicroError(FacescopeError, ValueError):
    """A spotting or synthesis request that cannot be carried out (bad input or parameters)."""


@dataclass(frozen=True)
class MicroInterval:
    """One spotted micro-movement of one tracked face.

    Attributes:
        track: the face's track id (:class:`facescope.tracking.tracker.FaceTracker`).
        onset, apex, offset: frame indices (0-based, inclusive) where the movement
            starts, peaks and ends.
        start, end: times of `onset` and `offset` in seconds.
        regions: facial regions that moved (names of
            :data:`facescope.analysis.geometry.REGIONS`), strongest first.
        intensity: peak displacement of the moving region against the rest of the
            face (head motion removed), in video pixels.
        score: the peak's strength against that region's own noise in this track
            (robust z-score; the detection threshold applies to it).
    """

    track: int
    onset: int
    apex: int
    offset: int
    start: float
    end: float
    regions: tuple[str, ...]
    intensity: float
    score: float

    @property
    def frames(self) -> int:
        """Length in frames (onset and offset included)."""
        return self.offset - self.onset + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "regions": list(self.regions),
            "intensity": round(self.intensity, 3),
            "score": round(self.score, 2),
        }


@dataclass(frozen=True)
class SpotResult:
    """Every micro-movement spotted in one video.

    Attributes:
        intervals: spotted intervals, by track then onset.
        source: the video's name (None for frames given in memory).
        fps: frames per second used to turn frames into seconds.
        frames: frames read.
        tracks: track ids with enough frames to spot on.
        macro: movements seen but too long or too strong to be micro (speech,
            smiles, head-driven), for the record; not spotted.
        ended_early: why the video stopped before its end (decoder), else None.
        motion: each track's measured motion (for plots and re-spotting with other
            options through :func:`facescope.micro.spot_motion`; not in ``to_dict``).
    """

    intervals: list[MicroInterval]
    source: str | None = None
    fps: float | None = None
    frames: int = 0
    tracks: list[int] = field(default_factory=list)
    macro: int = 0
    ended_early: str | None = None
    motion: dict[int, TrackMotion] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope micro spot --json`` document."""
        return {
            "source": self.source,
            "fps": self.fps,
            "frames": self.frames,
            "tracks": list(self.tracks),
            "intervals": [i.to_dict() for i in self.intervals],
            "macro": self.macro,
            "ended_early": self.ended_early,
        }
