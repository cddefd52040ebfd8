"""The blendshape solver, the neutral calibration and the per-shape filter."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.analysis.geometry import face_geometry
from facescope.animate import AnimateError, NeutralCalibration
from facescope.animate.filter import ShapeFilter
from facescope.animate.shapes import INDEX, SHAPES, UNOBSERVED, pascal
from facescope.animate.solver import (
    MEASURE_NAMES,
    TABLE,
    BlendshapeSolver,
    mesh_measures,
    solve_measures,
)

# the performer's left eye is the one at +x (the image's right)
LEFT_UPPER = (386, 385, 387, 384, 398, 388, 466, 160 + 0)[:7]
LEFT_LOWER = (374, 373, 380, 381, 382, 390, 249)
RIGHT_UPPER = (159, 158, 160, 161, 246, 157, 173)
RIGHT_LOWER = (145, 144, 153, 154, 155, 163, 7)


def _face() -> np.ndarray:
    return np.asarray(face_geometry().canonical, np.float64).copy()


def _close_eye(mesh: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...], amount: float):
    out = mesh.copy()
    target = mesh[list(lower), 1].mean()
    for i in upper:
        out[i, 1] += amount * (target - mesh[i, 1])
    return out


def _open_jaw(mesh: np.ndarray, mm: float) -> np.ndarray:
    out = mesh.copy()
    lower = out[:, 1] > out[14, 1] - 0.5  # the lower lip and everything below it
    lower &= np.abs(out[:, 0]) < 60
    out[lower, 1] += mm
    return out


def test_fifty_two_names_and_a_rule_each() -> None:
    assert len(SHAPES) == 52 and set(TABLE) == set(SHAPES)
    assert {"eyeBlinkLeft", "jawOpen", "mouthSmileLeft", "browInnerUp", "eyeLookInRight"} <= set(
        SHAPES
    )
    assert pascal("eyeBlinkLeft") == "EyeBlinkLeft"
    assert {"tongueOut", "cheekPuff", "jawForward"} <= set(UNOBSERVED)


def test_the_neutral_face_reads_zero_and_unobserved_shapes_stay_zero() -> None:
    neutral = NeutralCalibration.population()
    weights = solve_measures(neutral.measures, neutral)
    assert weights.shape == (52,) and np.all(weights == 0)
    big = _open_jaw(_close_eye(_face(), LEFT_UPPER, LEFT_LOWER, 1.0), 15.0)
    weights = BlendshapeSolver().solve(big)
    for name in UNOBSERVED:
        assert weights[INDEX[name]] == 0.0


def test_a_closed_left_eye_blinks_the_left_shape_only() -> None:
    weights = BlendshapeSolver().solve(_close_eye(_face(), LEFT_UPPER, LEFT_LOWER, 0.9))
    assert weights[INDEX["eyeBlinkLeft"]] > 0.8
    assert weights[INDEX["eyeBlinkRight"]] < 0.05
    weights = BlendshapeSolver().solve(_close_eye(_face(), RIGHT_UPPER, RIGHT_LOWER, 0.9))
    assert weights[INDEX["eyeBlinkRight"]] > 0.8 and weights[INDEX["eyeBlinkLeft"]] < 0.05


def test_jaw_open_grows_with_the_jaw() -> None:
    solver = BlendshapeSolver()
    values = [solver.solve(_open_jaw(_face(), mm))[INDEX["jawOpen"]] for mm in (0, 5, 10, 20)]
    assert values[0] == 0 and values == sorted(values) and values[-1] > 0.75


def test_image_scale_and_rotation_do_not_change_the_solve() -> None:
    mesh = _open_jaw(_face(), 8.0)
    angle = np.radians(12)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    moved = 3.1 * mesh @ rot.T + np.array([400.0, 250.0, 10.0])
    solver = BlendshapeSolver()
    assert np.allclose(solver.solve(mesh), solver.solve(moved), atol=1e-6)


def test_personal_calibration_removes_a_resting_offset() -> None:
    # a performer whose resting mouth is a little open reads jawOpen > 0 against the population
    resting = _open_jaw(_face(), 4.0)
    assert BlendshapeSolver().solve(resting)[INDEX["jawOpen"]] > 0.1
    solver = BlendshapeSolver().calibrate([resting, resting])
    assert solver.neutral.source == "frames"
    assert solver.solve(resting)[INDEX["jawOpen"]] == 0.0


def test_calmest_frames_pick_the_resting_face() -> None:
    rest = mesh_measures(_face())
    talking = mesh_measures(_open_jaw(_face(), 12.0))
    stack = np.stack([rest] * 14 + [talking] * 6)
    calibration = NeutralCalibration.calmest(stack)
    assert calibration.source == "calmest" and calibration.frames == 5
    assert np.allclose(calibration.measures, rest)


def test_bad_input_is_a_clear_error() -> None:
    mesh = _face()
    mesh[5, 0] = np.nan
    with pytest.raises(AnimateError, match="NaN"):
        BlendshapeSolver().solve(mesh)
    with pytest.raises(AnimateError, match="478"):
        BlendshapeSolver().solve(np.zeros((10, 3)))
    with pytest.raises(AnimateError):
        solve_measures(np.zeros(len(MEASURE_NAMES) + 1))
    with pytest.raises(AnimateError):
        NeutralCalibration.calmest(np.full((3, len(MEASURE_NAMES)), np.nan))


def test_a_blink_passes_the_filter_within_two_frames_and_a_still_face_is_steadied() -> None:
    solver = BlendshapeSolver()
    rng = np.random.default_rng(0)
    fps, n, blink_at = 30.0, 60, 40
    raw, filtered = [], []
    filt = ShapeFilter()
    for k in range(n):
        closed = 1.0 if blink_at <= k < blink_at + 4 else 0.0
        mesh = _close_eye(_face(), LEFT_UPPER, LEFT_LOWER, 0.95 * closed)
        mesh = _close_eye(mesh, RIGHT_UPPER, RIGHT_LOWER, 0.95 * closed)
        mesh = mesh + rng.normal(0.0, 0.15, mesh.shape)  # landmark jitter (mm)
        w = solver.solve(mesh)
        raw.append(w)
        filtered.append(ShapeFilter.__call__(filt, w, np.zeros(3), k / fps)[0])
    raw_a, filt_a = np.array(raw), np.array(filtered)
    blink = INDEX["eyeBlinkLeft"]
    assert filt_a[blink_at + 1, blink] > 0.8  # within two frames of the lids closing
    assert filt_a[blink_at + 5, blink] < 0.5  # and it reopens
    still = slice(5, blink_at)
    assert (
        np.abs(np.diff(filt_a[still], axis=0)).mean() < np.abs(np.diff(raw_a[still], axis=0)).mean()
    )
