"""Decision thresholds calibrated per (unordered) spectrum pair.

Cross-spectral genuine scores are lower than same-spectrum ones, and impostor scores
shift too, so the VIS-VIS threshold does not hold its false-match rate on VIS-NIR
comparisons; each pair gets its own threshold at the target FMR. Saved as a
``facescope-thresholds/2`` document (:class:`facescope.heads.Thresholds`, points
by ``pair``); files of the first layout (``facescope.spectral.thresholds/1``)
still load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._json import read_json
from facescope.errors import CalibrationError
from facescope.heads import THRESHOLDS_FORMAT, ThresholdPoint, Thresholds, ThresholdsError
from facescope.match.metrics import OperatingPoint, operating_point
from facescope.spectral.errors import SpectralError, UncalibratedPairError
from facescope.spectral.spectrum import Spectrum, pair_key, pair_name

#: The first layout of spectral thresholds files (still read).
LEGACY_FORMAT = "facescope.spectral.thresholds/1"
_MEASURED = ("fmr", "fnmr", "eer", "n_genuine", "n_impostor")
Pair = tuple[Spectrum, Spectrum]
PairLike = tuple[Spectrum | str, Spectrum | str]


def _score_array(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise SpectralError(f"{name} scores must be numbers: {exc}") from None
    if len(array) == 0:
        raise SpectralError(f"no {name} scores")
    if not np.isfinite(array).all():
        raise SpectralError(f"{name} scores contain NaN or infinite values")
    return array


class SpectralThresholds:
    """Cosine thresholds (a match is ``score >= threshold``) per unordered spectrum pair.

    Build with :meth:`calibrate` from genuine and impostor scores of each pair; each entry
    is the :class:`facescope.match.metrics.OperatingPoint` measured on those scores.
    """

    def __init__(
        self, points: Mapping[PairLike, OperatingPoint], *, fmr: float = 1e-3, model: str = ""
    ) -> None:
        self.fmr = float(fmr)
        self.model = model
        self.points: dict[Pair, OperatingPoint] = {
            pair_key(*pair): point for pair, point in points.items()
        }

    def __repr__(self) -> str:
        pairs = ", ".join(f"{pair_name(*p)}={op.threshold:.4f}" for p, op in self.points.items())
        return f"SpectralThresholds(fmr={self.fmr:g}, model={self.model!r}, {pairs or 'empty'})"

    @classmethod
    def calibrate(
        cls,
        scores: Mapping[PairLike, tuple[npt.ArrayLike, npt.ArrayLike]],
        *,
        fmr: float = 1e-3,
        model: str = "",
    ) -> SpectralThresholds:
        """Thresholds at `fmr` from ``{(a, b): (genuine_scores, impostor_scores)}``.

        The threshold is the smallest whose observed FMR is <= `fmr`
        (:func:`facescope.match.metrics.threshold_at_fmr`); fewer than ``1 / fmr``
        impostor scores cannot resolve that rate, which raises.
        """
        if not 0 < fmr < 1:
            raise SpectralError(f"fmr must be in (0, 1), got {fmr}")
        if not scores:
            raise SpectralError("no spectrum pairs to calibrate")
        points: dict[PairLike, OperatingPoint] = {}
        for pair, value in scores.items():
            key = pair_key(*pair)
            if key in points:
                raise SpectralError(f"pair {pair_name(*key)} given twice")
            try:
                genuine, impostor = value
            except (TypeError, ValueError):
                raise SpectralError(
                    f"scores of {pair_name(*key)} must be (genuine, impostor)"
                ) from None
            gen = _score_array(genuine, f"{pair_name(*key)} genuine")
            imp = _score_array(impostor, f"{pair_name(*key)} impostor")
            if len(imp) * fmr < 1 - 1e-9:
                raise SpectralError(
                    f"{pair_name(*key)}: {len(imp)} impostor scores cannot resolve FMR {fmr:g} "
                    f"(need at least {int(np.ceil(1 / fmr))})"
                )
            try:
                points[key] = operating_point(gen, imp, fmr)
            except CalibrationError as exc:
                raise SpectralError(f"{pair_name(*key)}: {exc}") from None
        return cls(points, fmr=fmr, model=model)

    @property
    def pairs(self) -> tuple[Pair, ...]:
        """The calibrated pairs."""
        return tuple(self.points)

    def point(self, a: Spectrum | str, b: Spectrum | str) -> OperatingPoint:
        """The operating point of the pair (a, b) in either order."""
        key = pair_key(a, b)
        found = self.points.get(key)
        if found is None:
            known = ", ".join(pair_name(*p) for p in self.points) or "none"
            raise UncalibratedPairError(
                f"no threshold calibrated for spectrum pair {pair_name(*key)} "
                f"(calibrated: {known}); calibrate it from genuine/impostor scores of that pair"
            )
        return found

    def threshold(self, a: Spectrum | str, b: Spectrum | str) -> float:
        """The cosine threshold for comparing a capture in `a` with one in `b`."""
        return self.point(a, b).threshold

    def to_thresholds(self) -> Thresholds:
        """The thresholds as :class:`~facescope.heads.Thresholds` (by pair, at FMR)."""
        points = [
            ThresholdPoint(
                op.threshold,
                op.fmr_target,
                {"pair": pair_name(*p)},
                {name: getattr(op, name) for name in _MEASURED},
            )
            for p, op in self.points.items()
        ]
        model = self.model or "one model"
        return Thresholds(
            f"cosine similarity of {model}'s templates of two captures in the pair's spectra "
            "(a match when >= threshold)",
            "fmr",
            points,
            by=["pair"],
            extra={"model": self.model},
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready ``facescope-thresholds/2`` dictionary (pairs named ``"vis-nir"``)."""
        return self.to_thresholds().to_json()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to `path` (atomically); returns the path."""
        return self.to_thresholds().save(path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "thresholds") -> SpectralThresholds:
        """Inverse of :meth:`to_json` (also reads the first layout)."""
        if isinstance(data, Mapping) and data.get("format") == LEGACY_FORMAT:
            return cls._from_legacy(data, source)
        if not isinstance(data, Mapping) or data.get("format") != THRESHOLDS_FORMAT:
            raise SpectralError(f"{source}: not a spectral thresholds file ({THRESHOLDS_FORMAT})")
        try:
            thresholds = Thresholds.from_json(data, source)
            if thresholds.rate != "fmr" or thresholds.by != ("pair",):
                raise SpectralError(
                    f"{source}: not a spectral thresholds file (thresholds by "
                    f"{list(thresholds.by)} at {thresholds.rate!r}, not by pair at fmr)"
                )
            rates = [p.rate for p in thresholds.points]
            fmr = rates[0] if rates else 1e-3
            if fmr is None or any(r != fmr for r in rates):
                raise SpectralError(f"{source}: every pair must be set at one FMR, got {rates}")
            points: dict[PairLike, OperatingPoint] = {}
            for p in thresholds.points:
                measured = {name: p.measured[name] for name in _MEASURED}
                points[_pair(p.where["pair"], source)] = OperatingPoint(
                    p.threshold,
                    float(fmr),
                    float(measured["fmr"]),
                    float(measured["fnmr"]),
                    float(measured["eer"]),
                    int(measured["n_genuine"]),
                    int(measured["n_impostor"]),
                )
            return cls(points, fmr=float(fmr), model=str(thresholds.extra.get("model", "")))
        except ThresholdsError as exc:
            raise SpectralError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SpectralError):
                raise
            raise SpectralError(f"{source}: malformed spectral thresholds: {exc}") from None

    @classmethod
    def _from_legacy(cls, data: Mapping[str, Any], source: str) -> SpectralThresholds:
        points: dict[PairLike, OperatingPoint] = {}
        try:
            for name, entry in dict(data["pairs"]).items():
                points[_pair(name, source)] = OperatingPoint(**entry)
            return cls(points, fmr=float(data["fmr"]), model=str(data.get("model", "")))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SpectralError):
                raise
            raise SpectralError(f"{source}: malformed spectral thresholds: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SpectralThresholds:
        """Read a file written by :meth:`save` (or by facescope before the shared format)."""
        data = read_json(path, SpectralError)
        return cls.from_json(data, str(path))


def _pair(name: str, source: str) -> tuple[str, str]:
    a, sep, b = str(name).partition("-")
    if not sep:
        raise SpectralError(f"{source}: bad pair name {name!r}")
    return a, b
