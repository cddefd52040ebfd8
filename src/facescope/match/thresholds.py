"""Calibrated decision thresholds and score fusion.

A thresholds file holds, per model, the decision threshold at several
false-match rates plus the impostor score statistics used to z-normalise
scores for fusion. It is a ``facescope-thresholds/2`` document
(:class:`facescope.heads.Thresholds`: points by ``model`` at target ``fmr``,
the per-model statistics under ``extra.models``); files of the first layout
(``facescope-thresholds/1``) still load. facescope ships one calibrated on the
``aligned_celebrities`` set (``scripts/fit_thresholds.py``); `facescope
calibrate` writes one for a user's own data, selected with ``thresholds=`` or
the ``FACESCOPE_THRESHOLDS`` variable.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import CalibrationError
from facescope.heads import ThresholdPoint, Thresholds, ThresholdsError
from facescope.types import DecisionRule

THRESHOLDS_ENV = "FACESCOPE_THRESHOLDS"
#: The false-match rate of 1:1 decisions unless one is chosen (verify, Compare).
DEFAULT_FMR = 1e-3
#: The false-positive identification rate of 1:N decisions unless one is chosen.
DEFAULT_FPIR = 0.01
FUSION = "fusion"
#: The first thresholds layout (per-model blocks), still read.
LEGACY_FORMAT = "facescope-thresholds/1"
#: What the thresholds apply to.
SCORE = (
    "cosine similarity of two templates of the model (a match when >= threshold); "
    "fusion: the weighted sum of the models' impostor z-normalised scores"
)


@dataclass(frozen=True)
class ModelCalibration:
    """Calibration of one model (or of the fusion) on one labelled set."""

    thresholds: dict[float, float]
    fnmr: dict[float, float]
    eer: float
    impostor_mean: float
    impostor_std: float
    n_genuine: int
    n_impostor: int
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def fmr_range(self) -> tuple[float, float]:
        """The lowest and highest calibrated false-match rates."""
        return min(self.thresholds), max(self.thresholds)

    def threshold(self, fmr: float) -> float:
        """The 1:1 decision threshold at false-match rate `fmr`.

        A calibrated FMR gives its calibrated threshold; one between calibrated
        points is interpolated in log10(FMR) (:func:`threshold_at`). An FMR
        outside the calibrated range raises CalibrationError naming the range.
        """
        check_fmr(self, fmr)
        for target, value in self.thresholds.items():
            if np.isclose(target, fmr, rtol=1e-6, atol=0.0):
                return value
        return threshold_at(self.thresholds, fmr)


@dataclass(frozen=True)
class Calibration:
    """Thresholds for every model, from one calibration run."""

    source: str
    models: dict[str, ModelCalibration]
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The file it was read from ("bundled thresholds.json" for the shipped one), or "".
    file: str = ""

    def for_model(self, model: str) -> ModelCalibration:
        """Calibration of `model`; a clear error when it was not calibrated."""
        try:
            return self.models[model]
        except KeyError:
            raise CalibrationError(
                f"model {model!r} is not in the thresholds file ({self.source}); "
                f"calibrated: {', '.join(sorted(self.models))}"
            ) from None

    def fuse(self, scores: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64]:
        """Fusion score: weighted mean of the models' z-normalised scores.

        Each model's score is standardised by its impostor mean and standard
        deviation (z-norm), so the models' different score scales agree, then
        the calibrated weights combine them.
        """
        fusion = self.for_model(FUSION)
        total = np.zeros_like(np.asarray(next(iter(scores.values())), dtype=np.float64))
        for model, weight in fusion.weights.items():
            stats = self.for_model(model)
            z = (
                np.asarray(scores[model], dtype=np.float64) - stats.impostor_mean
            ) / stats.impostor_std
            total = total + weight * z
        return total

    def to_thresholds(self) -> Thresholds:
        """The calibration as :class:`~facescope.heads.Thresholds` (by model, at FMR)."""
        points = [
            ThresholdPoint(value, fmr, {"model": name}, {"fnmr": cal.fnmr[fmr]})
            for name, cal in self.models.items()
            for fmr, value in cal.thresholds.items()
        ]
        models = {
            name: {
                "eer": cal.eer,
                "impostor_mean": cal.impostor_mean,
                "impostor_std": cal.impostor_std,
                "n_genuine": cal.n_genuine,
                "n_impostor": cal.n_impostor,
                **({"weights": cal.weights} if cal.weights else {}),
            }
            for name, cal in self.models.items()
        }
        return Thresholds(
            SCORE,
            "fmr",
            points,
            by=["model"],
            extra={"models": models},
            provenance={**self.provenance, "data": self.source},
        )

    def to_json(self) -> dict[str, Any]:
        """The ``facescope-thresholds/2`` document `load_calibration` reads."""
        return self.to_thresholds().to_json()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the thresholds file (atomically)."""
        return self.to_thresholds().save(path)


def calibration_from_thresholds(thresholds: Thresholds, source: str) -> Calibration:
    """A :class:`Calibration` from a ``facescope-thresholds/2`` document's contents."""
    if thresholds.rate != "fmr" or thresholds.by != ("model",):
        raise CalibrationError(
            f"{source}: not recognition thresholds (rate {thresholds.rate!r} by "
            f"{list(thresholds.by)}; expected fmr by model)"
        )
    try:
        stats = dict(thresholds.extra["models"])
        models = {}
        for name, entry in stats.items():
            points = thresholds.select(model=name)
            models[name] = ModelCalibration(
                thresholds={float(p.rate): p.threshold for p in points if p.rate is not None},
                fnmr={
                    float(p.rate): float(p.measured["fnmr"]) for p in points if p.rate is not None
                },
                eer=float(entry["eer"]),
                impostor_mean=float(entry["impostor_mean"]),
                impostor_std=float(entry["impostor_std"]),
                n_genuine=int(entry["n_genuine"]),
                n_impostor=int(entry["n_impostor"]),
                weights={str(k): float(v) for k, v in entry.get("weights", {}).items()},
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError(f"{source}: malformed thresholds file ({exc})") from exc
    unknown = {p.where["model"] for p in thresholds.points} - set(models)
    if unknown:
        raise CalibrationError(f"{source}: thresholds of {sorted(unknown)} lack their statistics")
    data = thresholds.provenance.get("data", source)
    return Calibration(str(data), models, dict(thresholds.provenance))


def calibration_from_json(data: Mapping[str, Any], source: str) -> Calibration:
    """Parse a thresholds document (either layout); raise CalibrationError when malformed."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{source}: not a facescope thresholds file")
    if data.get("format") == LEGACY_FORMAT:
        return _legacy_calibration(data, source)
    try:
        thresholds = Thresholds.from_json(data, source)
    except ThresholdsError as exc:
        raise CalibrationError(f"not a facescope thresholds file: {exc}") from None
    return calibration_from_thresholds(thresholds, source)


def _legacy_calibration(data: Mapping[str, Any], source: str) -> Calibration:
    """A ``facescope-thresholds/1`` document (per-model blocks)."""
    try:
        models = {
            name: ModelCalibration(
                thresholds={float(k): float(v) for k, v in entry["thresholds"].items()},
                fnmr={float(k): float(v) for k, v in entry["fnmr"].items()},
                eer=float(entry["eer"]),
                impostor_mean=float(entry["impostor_mean"]),
                impostor_std=float(entry["impostor_std"]),
                n_genuine=int(entry["n_genuine"]),
                n_impostor=int(entry["n_impostor"]),
                weights={str(k): float(v) for k, v in entry.get("weights", {}).items()},
            )
            for name, entry in data["models"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CalibrationError(f"{source}: malformed thresholds file ({exc})") from exc
    return Calibration(source=str(data.get("source", source)), models=models)


def load_calibration(path: str | os.PathLike[str] | None = None) -> Calibration:
    """Load thresholds from `path`, else ``$FACESCOPE_THRESHOLDS``, else the bundled file."""
    chosen = path if path is not None else os.environ.get(THRESHOLDS_ENV)
    if chosen is None:
        return _bundled()
    file = Path(chosen)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{file}: cannot read thresholds file ({exc})") from exc
    return dataclasses.replace(calibration_from_json(data, str(file)), file=str(file))


@lru_cache(maxsize=1)
def _bundled() -> Calibration:
    text = resources.files("facescope.match").joinpath("thresholds.json").read_text("utf-8")
    bundled = calibration_from_json(json.loads(text), "bundled thresholds.json")
    return dataclasses.replace(bundled, file="bundled thresholds.json")


def threshold_at(table: dict[float, float], fmr: float) -> float:
    """Threshold at `fmr`, interpolated in log10(FMR) between calibrated points.

    `table` maps calibrated FMRs to thresholds (``ModelCalibration.thresholds``).
    Used where several comparisons share one decision (open-set search, a photo
    with several faces), whose per-comparison FMR falls between calibrated points.

    Below the smallest calibrated FMR the line through the two lowest points is
    extended (a stricter threshold); above the largest, the threshold at the
    largest calibrated FMR is kept (never a laxer one than calibrated).
    """
    xs = np.log10(np.array(sorted(table), dtype=np.float64))
    ys = np.array([table[f] for f in sorted(table)], dtype=np.float64)
    x = math.log10(max(fmr, 1e-12))
    if len(xs) >= 2 and x < xs[0]:
        slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        return float(ys[0] + slope * (x - xs[0]))
    return float(np.interp(x, xs, ys))


def per_comparison_fmr(rate: float, comparisons: int) -> float:
    """The FMR each of `comparisons` independent comparisons may have so that the
    chance that *any* of them falsely matches stays at `rate`:
    ``1 - (1 - rate) ** (1 / comparisons)`` (about ``rate / comparisons``).

    The one rule for every decision that several comparisons share: a 1:N search
    of N subjects at FPIR `rate`, and a 1:1 decision over several face pairs.
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"error rate must be in (0, 1), got {rate}")
    count = max(1, int(comparisons))
    return rate if count == 1 else 1.0 - (1.0 - rate) ** (1.0 / count)


def check_fmr(calibrated: ModelCalibration, fmr: float, model: str = "") -> None:
    """Refuse a 1:1 FMR outside the calibrated range (CalibrationError naming it)."""
    low, high = calibrated.fmr_range
    inside = (low * (1 - 1e-6) <= fmr <= high * (1 + 1e-6)) if fmr > 0 else False
    if not inside:
        named = f" of {model}" if model else ""
        raise CalibrationError(
            f"FMR {fmr:g} is outside the calibrated range{named}: {low:g} to {high:g} "
            f"(calibrated at {', '.join(f'{t:g}' for t in sorted(calibrated.thresholds))}; "
            f"between them the threshold is interpolated). Choose an FMR in that range, "
            f"or calibrate on your own data: `facescope calibrate DIR --fmr {fmr:g}`"
        )


def _rule(
    calibration: Calibration,
    model: str,
    mode: str,
    rate: str,
    target: float,
    comparisons: int,
    gallery_size: int | None,
) -> DecisionRule:
    calibrated = calibration.for_model(model)
    table = calibrated.thresholds
    per = per_comparison_fmr(target, comparisons)
    low, high = calibrated.fmr_range
    exact = next((t for t in table if np.isclose(t, per, rtol=1e-6, atol=0.0)), None)
    threshold = table[exact] if exact is not None else threshold_at(table, per)
    extrapolated = exact is None and not (low <= per <= high)
    return DecisionRule(
        mode=mode,
        rate=rate,
        target=target,
        gallery_size=gallery_size,
        comparisons=max(1, comparisons),
        per_comparison_fmr=per,
        model=model,
        threshold=threshold,
        calibration=calibration.source,
        calibration_file=calibration.file,
        calibrated_fmr=(low, high),
        interpolated=exact is None and not extrapolated,
        extrapolated=extrapolated,
    )


def verification_rule(
    calibration: Calibration, model: str, fmr: float = DEFAULT_FMR, comparisons: int = 1
) -> DecisionRule:
    """The 1:1 rule: accept when the best of `comparisons` face pairs reaches the
    threshold that keeps the whole decision at false-match rate `fmr`.

    `fmr` must lie in the model's calibrated range (CalibrationError otherwise);
    between calibrated points the threshold is interpolated in log10(FMR). With
    several face pairs each is held at :func:`per_comparison_fmr` (``fmr`` over
    the pairs), which may fall below the calibrated range and is then extrapolated.
    Used by ``fs.verify``, ``Gallery.verify`` and the service's ``/v1/verify``.
    """
    check_fmr(calibration.for_model(model), fmr, model)
    return _rule(calibration, model, "1:1", "fmr", fmr, comparisons, None)


def identification_rule(
    calibration: Calibration, model: str, gallery_size: int, fpir: float = DEFAULT_FPIR
) -> DecisionRule:
    """The 1:N open-set rule: a stranger is taken for one of `gallery_size` subjects
    when their best score reaches the threshold at per-comparison FMR
    ``1 - (1 - fpir) ** (1 / N)`` (:func:`per_comparison_fmr`), which holds the
    false-positive identification rate at `fpir`.

    The threshold is interpolated in log10(FMR) between calibrated points and
    extrapolated beyond them (:func:`threshold_at`); the rule says so
    (``extrapolated``). An empty gallery counts as N = 1. Used by
    ``fs.identify``, ``Gallery.identify`` and the service's identify.
    """
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be in (0, 1), got {fpir}")
    size = max(0, int(gallery_size))
    return _rule(calibration, model, "1:N", "fpir", fpir, max(1, size), size)
