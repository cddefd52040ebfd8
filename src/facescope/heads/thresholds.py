"""Decision thresholds: one format for every score facescope thresholds.

A :class:`Thresholds` holds the thresholds calibrated for one kind of score
(a cosine similarity, p(bona fide), a face-likeness logit), each at a target
error rate, optionally per condition (per model, per spectrum pair, per
method). The file (``facescope-thresholds/2``) reads::

    {
      "format": "facescope-thresholds/2",
      "score": "cosine similarity of two templates of the model",
      "accept": ">=",
      "rate": "fmr",
      "by": ["model"],
      "points": [
        {"model": "sface", "fmr": 0.001, "threshold": 0.4187, "measured": {"fnmr": 0.1198}}
      ],
      "extra": {},
      "provenance": {"script": "...", "data": "...", "split": "...", "seed": null,
                     "created": "...", "metrics": {}}
    }

``accept`` says which side of the threshold accepts (a match, a live face, a face);
``rate`` names the error rate each point was set at (``fmr``, ``bpcer``, ``tar``...;
a point whose rate was not recorded has ``null``); ``by`` names the conditions
that tell points apart; ``measured`` holds what was measured at the point;
``extra`` is free-form data its owner needs besides thresholds (score
normalisation statistics, say).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._json import read_json, write_json
from facescope.heads.errors import ThresholdsError
from facescope.heads.provenance import checked_provenance

#: The file format :meth:`Thresholds.to_json` writes.
THRESHOLDS_FORMAT = "facescope-thresholds/2"
_ACCEPT = (">=", "<=")
_RESERVED = frozenset({"threshold", "measured"})


@dataclass(frozen=True)
class ThresholdPoint:
    """One threshold: its value, the target rate it was set at, its conditions, its measures."""

    threshold: float
    rate: float | None = None
    where: Mapping[str, str] = field(default_factory=dict)
    measured: Mapping[str, float] = field(default_factory=dict)


class Thresholds:
    """The calibrated thresholds of one score.

    Args:
        score: what the score is (one sentence, for people).
        rate: the name of the error rate the points were set at (``"fmr"``).
        points: the thresholds.
        by: the names of the conditions that tell points apart (``("model",)``).
        accept: ``">="`` when a score at or above the threshold accepts, ``"<="``
            when at or below.
        extra: anything else the owner of the scores needs (JSON-ready).
        provenance: how the thresholds were made (:mod:`facescope.heads.provenance`).
    """

    def __init__(
        self,
        score: str,
        rate: str,
        points: Iterable[ThresholdPoint],
        *,
        by: Sequence[str] = (),
        accept: str = ">=",
        extra: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self.score = str(score)
        self.rate = str(rate)
        self.by = tuple(str(b) for b in by)
        self.accept = accept
        self.points = tuple(points)
        self.extra = dict(extra or {})
        self.provenance = dict(provenance or {})
        if accept not in _ACCEPT:
            raise ThresholdsError(f"accept must be one of {_ACCEPT}, got {accept!r}")
        clash = (set(self.by) | {self.rate}) & _RESERVED
        if clash or self.rate in self.by or len(set(self.by)) != len(self.by):
            raise ThresholdsError(
                f"the rate {self.rate!r} and conditions {list(self.by)} must be distinct "
                f"names other than {sorted(_RESERVED)}"
            )
        for point in self.points:
            if set(point.where) != set(self.by):
                raise ThresholdsError(
                    f"a point's conditions {sorted(point.where)} are not {list(self.by)}"
                )
            if not np.isfinite(point.threshold):
                raise ThresholdsError(f"threshold {point.threshold} is not a finite number")
        seen = [(tuple(p.where[b] for b in self.by), p.rate) for p in self.points]
        if len(set(seen)) != len(seen):
            raise ThresholdsError("two points share the same conditions and rate")

    def __repr__(self) -> str:
        return (
            f"Thresholds(score={self.score!r}, rate={self.rate!r}, by={list(self.by)}, "
            f"{len(self.points)} points)"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Thresholds) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    # ---- lookup -----------------------------------------------------------------------

    def select(self, **where: str) -> list[ThresholdPoint]:
        """The points whose conditions match `where` (a subset of :attr:`by`)."""
        unknown = sorted(set(where) - set(self.by))
        if unknown:
            raise ThresholdsError(
                f"thresholds are kept by {list(self.by) or 'nothing'}, not by {unknown}"
            )
        return [p for p in self.points if all(p.where[k] == str(v) for k, v in where.items())]

    def point(self, rate: float | None = None, **where: str) -> ThresholdPoint:
        """The point at target `rate` (any, when only one matches) under conditions `where`."""
        found = self.select(**where)
        if rate is not None:
            found = [
                p
                for p in found
                if p.rate is not None and np.isclose(p.rate, rate, rtol=1e-6, atol=0.0)
            ]
        if len(found) == 1:
            return found[0]
        asked = ", ".join(
            [f"{k}={v}" for k, v in where.items()]
            + ([f"{self.rate}={rate:g}"] if rate is not None else [])
        )
        known = "; ".join(self._describe(p) for p in self.points) or "none"
        problem = "no threshold" if not found else f"{len(found)} thresholds"
        raise ThresholdsError(f"{problem} for {asked or 'this score'}; stored: {known}")

    def threshold(self, rate: float | None = None, **where: str) -> float:
        """The threshold at target `rate` under conditions `where` (see :meth:`point`)."""
        return self.point(rate, **where).threshold

    def rates(self, **where: str) -> list[float]:
        """The target rates stored under conditions `where`, ascending."""
        return sorted(p.rate for p in self.select(**where) if p.rate is not None)

    def accepts(self, scores: npt.ArrayLike, threshold: float) -> npt.NDArray[np.bool_]:
        """Which scores the threshold accepts (``accept`` side, inclusive)."""
        values = np.asarray(scores, np.float64)
        return np.asarray(values >= threshold if self.accept == ">=" else values <= threshold)

    def _describe(self, point: ThresholdPoint) -> str:
        rate = "?" if point.rate is None else f"{point.rate:g}"
        return " ".join([*(f"{k}={v}" for k, v in point.where.items()), f"{self.rate}={rate}"])

    # ---- files ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The ``facescope-thresholds/2`` document."""
        points = []
        for p in self.points:
            entry: dict[str, Any] = {**p.where, self.rate: p.rate, "threshold": p.threshold}
            if p.measured:
                entry["measured"] = dict(p.measured)
            points.append(entry)
        return {
            "format": THRESHOLDS_FORMAT,
            "score": self.score,
            "accept": self.accept,
            "rate": self.rate,
            "by": list(self.by),
            "points": points,
            "extra": self.extra,
            "provenance": self.provenance,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str = "thresholds") -> Thresholds:
        """Read a ``facescope-thresholds/2`` document; :class:`ThresholdsError` if unusable."""
        if not isinstance(document, Mapping):
            raise ThresholdsError(f"{source}: a thresholds document is a JSON object")
        if document.get("format") != THRESHOLDS_FORMAT:
            raise ThresholdsError(
                f"{source}: not a {THRESHOLDS_FORMAT} file (format {document.get('format')!r})"
            )
        try:
            rate = str(document["rate"])
            by = [str(b) for b in document.get("by", [])]
            points = [_point(entry, rate, by) for entry in document["points"]]
            extra = document.get("extra") or {}
            if not isinstance(extra, Mapping):
                raise ValueError("'extra' must be an object")
            return cls(
                str(document["score"]),
                rate,
                points,
                by=by,
                accept=str(document.get("accept", ">=")),
                extra=extra,
                provenance=checked_provenance(document.get("provenance")),
            )
        except KeyError as exc:
            raise ThresholdsError(f"{source}: the thresholds document lacks {exc}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ThresholdsError):
                raise ThresholdsError(f"{source}: {exc}") from None
            raise ThresholdsError(f"{source}: malformed thresholds ({exc})") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to `path` (atomically); returns the path."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Thresholds:
        """Read a file written by :meth:`save`."""
        return cls.from_json(read_json(path, ThresholdsError), str(path))


def _point(entry: Any, rate: str, by: Sequence[str]) -> ThresholdPoint:
    if not isinstance(entry, Mapping):
        raise ValueError("each point must be an object")
    unknown = set(entry) - {rate, *by, *_RESERVED}
    if unknown:
        raise ValueError(f"a point has unknown keys {sorted(unknown)}")
    target = entry.get(rate)
    measured = entry.get("measured") or {}
    if not isinstance(measured, Mapping):
        raise ValueError("'measured' must be an object")
    return ThresholdPoint(
        threshold=float(entry["threshold"]),
        rate=None if target is None else float(target),
        where={b: str(entry[b]) for b in by},
        measured={str(k): _number(v) for k, v in measured.items()},
    )


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"measured values must be numbers, got {value!r}")
    return value


__all__ = ["THRESHOLDS_FORMAT", "ThresholdPoint", "Thresholds"]
