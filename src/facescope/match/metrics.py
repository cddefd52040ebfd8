"""Score-level verification metrics used to calibrate decision thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facescope.errors import CalibrationError


def threshold_at_fmr(impostor: npt.ArrayLike, fmr: float) -> float:
    """Smallest threshold whose false-match rate (share of impostors with score >= t) is <= fmr.

    With `k = floor(fmr * n)` impostors allowed above the threshold, the threshold
    sits just above the (k+1)-th highest impostor score.
    """
    scores = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    if len(scores) == 0:
        raise CalibrationError("no impostor scores to calibrate a threshold on")
    if not 0.0 < fmr < 1.0:
        raise CalibrationError(f"fmr must be in (0, 1), got {fmr}")
    allowed = int(np.floor(fmr * len(scores) + 1e-9))
    if allowed >= len(scores):
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))


def rates_at(
    genuine: npt.ArrayLike, impostor: npt.ArrayLike, threshold: float
) -> tuple[float, float]:
    """(FMR, FNMR) at a threshold; a pair matches when score >= threshold."""
    gen = np.asarray(genuine, dtype=np.float64)
    imp = np.asarray(impostor, dtype=np.float64)
    return float((imp >= threshold).mean()), float((gen < threshold).mean())


def equal_error_rate(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> tuple[float, float]:
    """(EER, threshold at EER), with FMR and FNMR swept over every observed score."""
    gen = np.sort(np.asarray(genuine, dtype=np.float64))
    imp = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(gen) == 0 or len(imp) == 0:
        raise CalibrationError("EER needs both genuine and impostor scores")
    candidates = np.unique(np.concatenate([gen, imp]))
    fnmr = np.searchsorted(gen, candidates, side="left") / len(gen)
    fmr = 1.0 - np.searchsorted(imp, candidates, side="left") / len(imp)
    best = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[best] + fnmr[best]) / 2), float(candidates[best])


@dataclass(frozen=True)
class OperatingPoint:
    """A calibrated threshold and the error rates measured at it."""

    threshold: float
    fmr_target: float
    fmr: float
    fnmr: float
    eer: float
    n_genuine: int
    n_impostor: int


def operating_point(
    genuine: npt.ArrayLike, impostor: npt.ArrayLike, fmr_target: float
) -> OperatingPoint:
    """Calibrate a threshold at `fmr_target` and measure FMR, FNMR and EER."""
    gen = np.asarray(genuine, dtype=np.float64)
    imp = np.asarray(impostor, dtype=np.float64)
    threshold = threshold_at_fmr(imp, fmr_target)
    fmr, fnmr = rates_at(gen, imp, threshold)
    eer, _ = equal_error_rate(gen, imp)
    return OperatingPoint(threshold, fmr_target, fmr, fnmr, eer, len(gen), len(imp))
