"""The analysis-path inputs used to fit and measure the ensemble in the wild (wild.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from conftest import DATA

from facescope.analysis.expression.ensemble import combine
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.wild import (
    AU_MEMBER,
    AnalysisInputs,
    analysis_inputs,
    ensemble_rows,
    fit_half,
)
from facescope.io.image import load_image


def _probs(n: int, hot: int) -> np.ndarray:
    p = np.full((n, 7), 0.02, np.float32)
    p[:, hot] = 0.88
    return p


def test_ensemble_rows_add_the_au_head_only_where_a_mesh_was_found() -> None:
    members = {"fer": _probs(4, 3), "facex": _probs(4, 3)}
    au = _probs(4, 0)
    au[2:] = np.nan  # no mesh on the last two faces
    weights = {"fer": 0.2, "facex": 0.2, AU_MEMBER: 0.6}
    out = ensemble_rows(members, au, weights, "mean")
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert list(out.argmax(axis=1)) == [0, 0, 3, 3]  # the AU head outvotes only with a mesh
    with_head = combine(
        {**{k: v[:2] for k, v in members.items()}, AU_MEMBER: au[:2]}, weights, "mean"
    )
    assert np.allclose(out[:2], with_head)
    # the AU head alone gives a uniform answer where it is absent, never a crash
    alone = ensemble_rows(members, au, {AU_MEMBER: 1.0}, "log")
    assert np.allclose(alone[2:], 1 / 7) and list(alone[:2].argmax(axis=1)) == [0, 0]


def test_fit_half_is_a_fixed_stratified_half() -> None:
    labels = np.repeat(np.arange(7), [40, 10, 30, 60, 40, 30, 20])
    mask = fit_half(labels)
    assert np.array_equal(mask, fit_half(labels))
    for k in range(7):
        share = mask[labels == k].mean()
        assert 0.4 <= share <= 0.6


def test_analysis_inputs_follow_the_analyzer_and_round_trip(tmp_path: Path) -> None:
    portrait = load_image(DATA / "obama_1.jpg")
    small = cv2.resize(portrait, (96, 96), interpolation=cv2.INTER_AREA)
    flat = np.full((48, 48), 128, np.uint8)  # no face, not a face crop: lost
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    inputs = analysis_inputs([portrait, flat, grey])
    assert len(inputs) == 3 and list(inputs.lost) == [False, True, False]
    assert inputs.crops[0].ndim == 2 and inputs.crops[0].shape[0] == inputs.crops[0].shape[1]
    assert np.isfinite(inputs.au[0]).all() and np.isclose(inputs.au[0].sum(), 1.0, atol=1e-4)
    assert np.isnan(inputs.au[1]).all()
    saved = AnalysisInputs.load(inputs.save(tmp_path / "inputs.npz"))
    assert all(np.array_equal(a, b) for a, b in zip(saved.crops, inputs.crops, strict=True))
    assert np.array_equal(saved.au, inputs.au, equal_nan=True)
    assert np.array_equal(saved.lost, inputs.lost) and np.array_equal(saved.tiny, inputs.tiny)
    assert inputs.au.shape == (3, len(EXPRESSIONS))
