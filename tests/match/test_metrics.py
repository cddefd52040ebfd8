"""Threshold and error-rate arithmetic against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.errors import CalibrationError
from facescope.match.metrics import equal_error_rate, operating_point, rates_at, threshold_at_fmr


def test_threshold_at_fmr_allows_exactly_the_budgeted_impostors() -> None:
    impostor = np.arange(1000) / 1000.0  # 0.000 .. 0.999
    threshold = threshold_at_fmr(impostor, 1e-2)  # 10 impostors may pass
    assert (impostor >= threshold).sum() == 10
    assert 0.989 < threshold <= 0.990  # just above the 11th-highest impostor
    assert (impostor >= threshold_at_fmr(impostor, 1e-3)).sum() == 1


def test_threshold_with_too_few_impostors_rejects_all_of_them() -> None:
    impostor = np.array([0.1, 0.2, 0.3])
    threshold = threshold_at_fmr(impostor, 1e-3)
    assert threshold > 0.3 and (impostor >= threshold).sum() == 0


def test_rates_at_a_threshold() -> None:
    fmr, fnmr = rates_at([0.9, 0.8, 0.4, 0.3], [0.1, 0.5, 0.2, 0.6], 0.5)
    assert (fmr, fnmr) == (0.5, 0.5)


def test_eer_of_a_hand_made_case_is_a_quarter() -> None:
    genuine = [0.2, 0.6, 0.7, 0.8]  # one of four genuine below 0.5
    impostor = [0.1, 0.2, 0.3, 0.65]  # one of four impostors above 0.5
    eer, _ = equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(0.25)


def test_separable_scores_have_zero_eer_and_fnmr() -> None:
    point = operating_point([0.8, 0.9], [0.1, 0.2, 0.3], 1e-3)
    assert point.eer == 0.0 and point.fnmr == 0.0 and point.fmr == 0.0


def test_bad_calibration_inputs_are_refused() -> None:
    with pytest.raises(CalibrationError):
        threshold_at_fmr([], 1e-3)
    with pytest.raises(CalibrationError):
        threshold_at_fmr([0.1], 0.0)
    with pytest.raises(CalibrationError):
        equal_error_rate([0.5], [])
