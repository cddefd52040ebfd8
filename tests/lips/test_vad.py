"""Visual voice activity on synthetic lip sequences: speech is the change of the mouth."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.analysis.geometry import face_geometry
from facescope.lips import LANDMARK_POINTS, LipsError, VadOptions, detect_speech, lip_aperture
from facescope.lips.vad import clean_decisions, speech_segments

INDEX = {p: k for k, p in enumerate(LANDMARK_POINTS)}
LOWER_LIP = [INDEX[p] for p in (14, 87, 317, 178, 402, 17, 84, 314, 181, 405, 91, 321)]


def _sequence(
    seconds: float,
    fps: float,
    opening: np.ndarray | None = None,
    smile: np.ndarray | None = None,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Canonical lip/jaw points over time: the lower lip drops by `opening` mm, corners widen."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    base = face_geometry().canonical[list(LANDMARK_POINTS)]
    marks = np.repeat(base[None], len(t), axis=0).copy()
    if opening is not None:
        marks[:, LOWER_LIP, 1] += opening[:, None]
    if smile is not None:
        x = marks[:, :40, 0]
        marks[:, :40, 0] = x * (1 + smile[:, None] * 0.15)
    marks += rng.normal(0, noise, marks.shape)
    return marks, t


def _talking(t: np.ndarray) -> np.ndarray:
    # syllables at ~4 Hz with 0-8 mm openings
    return 4.0 + 4.0 * np.sin(2 * np.pi * 4.0 * t) * (0.8 + 0.2 * np.sin(2 * np.pi * 0.7 * t))


def test_moving_lips_speak_and_still_lips_do_not() -> None:
    marks, t = _sequence(4.0, 25.0)
    assert not detect_speech(marks, t)[0].any()
    marks, t = _sequence(4.0, 25.0, opening=_talking(np.arange(100) / 25.0))
    speaking, activity = detect_speech(marks, t)
    assert speaking.mean() > 0.95
    assert activity.min() > VadOptions().threshold


def test_a_mouth_held_open_or_a_held_smile_is_silent() -> None:
    t = np.arange(100) / 25.0
    marks, t = _sequence(4.0, 25.0, opening=np.full(100, 15.0))  # held wide open
    assert lip_aperture(marks).mean() > 10
    assert not detect_speech(marks, t)[0].any()
    ramp = np.clip(t / 0.4, 0, 1)  # smile onset over 0.4 s, then held
    marks, t = _sequence(4.0, 25.0, smile=ramp)
    assert detect_speech(marks, t)[0].mean() < 0.15


def test_speech_then_silence_is_segmented() -> None:
    t = np.arange(150) / 25.0
    opening = np.where(t < 3.0, _talking(t), 0.0)
    marks, t = _sequence(6.0, 25.0, opening=opening)
    speaking, _ = detect_speech(marks, t)
    segments = speech_segments(speaking, t)
    assert len(segments) == 1
    start, end = segments[0]
    assert start < 0.2 and 2.6 < end < 3.5


def test_the_decision_does_not_depend_on_the_frame_rate() -> None:
    fractions = []
    for fps in (15.0, 25.0, 50.0):
        t = np.arange(int(6 * fps)) / fps
        opening = np.where(t < 3.0, _talking(t), 0.0)
        marks, t = _sequence(6.0, fps, opening=opening)
        fractions.append(detect_speech(marks, t)[0].mean())
    assert max(fractions) - min(fractions) < 0.1, fractions


def test_cleanup_fills_short_pauses_and_drops_blips() -> None:
    t = np.arange(50) / 25.0
    flags = np.zeros(50, bool)
    flags[5:20] = True
    flags[23:35] = True  # 0.12 s pause: filled
    flags[45:47] = True  # 0.08 s blip: dropped
    out = clean_decisions(flags, t, min_gap_s=0.3, min_speech_s=0.2)
    assert out[5:35].all() and not out[45:].any() and not out[:5].any()


def test_bad_inputs_raise() -> None:
    marks, t = _sequence(1.0, 25.0)
    with pytest.raises(LipsError):
        detect_speech(marks, t[::-1])  # time must increase
    with pytest.raises(LipsError):
        detect_speech(marks, t[:-1])
    with pytest.raises(LipsError):
        detect_speech(marks[:, :5], t)
    bad = marks.copy()
    bad[3, 3, 0] = np.nan
    with pytest.raises(LipsError):
        detect_speech(bad, t)
    for field in ("threshold", "window_s", "min_gap_s"):
        with pytest.raises(LipsError):
            VadOptions(**{field: -1.0})
    with pytest.raises(LipsError):
        VadOptions(window_s=0.0)
    with pytest.raises(LipsError):
        VadOptions(threshold="high")  # type: ignore[arg-type]
    assert detect_speech(marks[:1], t[:1])[0].shape == (1,)
    assert detect_speech(marks[:0], t[:0])[0].shape == (0,)
