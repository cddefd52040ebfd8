"""The stimulus library, the continuous (valence, arousal) mapping and its design rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facescope.analysis.expression.circumplex import CIRCUMPLEX_COORDINATES
from facescope.haptics import (
    EMOTIONS,
    GESTURES,
    SOCIAL_ANCHORS,
    HapticsError,
    emotion_anchors,
    nearest_emotion,
    stimulus,
)
from facescope.haptics.stimulus import MOTOR_RATE, SAMPLE_RATE, centroid, dominant_rate

AROUSALS = (-0.9, -0.4, 0.1, 0.6, 1.0)


def test_anchors_merge_the_circumplex_with_four_social_emotions() -> None:
    anchors = emotion_anchors()
    assert tuple(anchors) == EMOTIONS and len(EMOTIONS) == 10
    for name in ("anger", "fear", "disgust", "happiness", "sadness", "surprise"):
        assert anchors[name] == CIRCUMPLEX_COORDINATES[name]  # imported, not copied
    assert set(SOCIAL_ANCHORS) == {"love", "gratitude", "sympathy", "calm"}
    assert all(v > 0 for v, _ in SOCIAL_ANCHORS.values())  # all four are pleasant
    assert anchors["calm"][1] < 0 < anchors["love"][1]
    assert "neutral" not in anchors
    for name, (v, a) in anchors.items():
        assert nearest_emotion(v, a) == name


@pytest.mark.parametrize("name", EMOTIONS + GESTURES)
def test_every_library_stimulus_is_a_grid_pattern_and_a_sound(name: str) -> None:
    s = stimulus(name, duration=1.5)
    assert s.intensities.shape == (int(1.5 * MOTOR_RATE), 25)
    assert s.audio.shape == (int(1.5 * SAMPLE_RATE),) and s.audio.dtype == np.float32
    assert s.intensities.min() >= 0 and s.intensities.max() <= 1 and s.intensities.max() > 0.05
    assert np.abs(s.audio).max() <= 1 and np.abs(s.audio).max() > 0.01
    assert s.gesture in GESTURES
    again = stimulus(name, duration=1.5)
    assert np.array_equal(s.intensities, again.intensities)  # deterministic
    assert np.array_equal(s.audio, again.audio)
    assert s.to_dict()["name"] == name


def test_emotions_differ_from_each_other() -> None:
    patterns = [stimulus(name).intensities for name in EMOTIONS]
    for i in range(len(patterns)):
        for j in range(i):
            assert not np.allclose(patterns[i], patterns[j])


@pytest.mark.parametrize("gesture", GESTURES)
def test_higher_arousal_means_stronger_and_faster(gesture: str) -> None:
    runs = [stimulus(valence=0.2, arousal=a, gesture=gesture, duration=4.0) for a in AROUSALS]
    means = [s.mean_intensity for s in runs]
    tempos = [s.params.tempo_hz for s in runs]
    assert all(b > a for a, b in itertools.pairwise(means)), means
    assert all(b > a for a, b in itertools.pairwise(tempos)), tempos
    if gesture != "hold":  # a breath is too slow to measure in 4 s; the rest: as designed
        measured = [dominant_rate(s.intensities.mean(axis=1), s.rate) for s in runs]
        assert all(b > a for a, b in itertools.pairwise(measured)), measured
        assert np.allclose(measured, tempos, rtol=0.1, atol=0.15), (measured, tempos)


def test_higher_arousal_sounds_louder() -> None:
    rms = [float(np.sqrt(np.mean(stimulus("pat", arousal=a).audio ** 2))) for a in AROUSALS]
    assert all(b > a for a, b in itertools.pairwise(rms)), rms


def test_a_stroke_travels_across_the_grid() -> None:
    s = stimulus("stroke", duration=3.0)
    path = s.centroid()
    period = round(s.rate / s.params.tempo_hz)
    rows = path[:period, 1]  # one sweep
    assert np.isfinite(rows).all()
    assert rows[-1] - rows[0] > 2.5  # from the wrist end to the elbow end
    assert np.mean(np.diff(rows) > 0) > 0.95  # steadily, one way
    assert np.nanstd(path[:, 0]) < 0.05  # along the midline


def test_taps_stay_put_while_strokes_move() -> None:
    def travel(s: object) -> float:
        path = centroid(s.intensities)  # type: ignore[attr-defined]
        ok = np.isfinite(path).all(axis=1)
        return float(np.nanmax(path[ok, 1]) - np.nanmin(path[ok, 1]))

    assert travel(stimulus("hold")) < 0.01
    assert travel(stimulus("stroke")) > 2.5


def test_valence_sets_smoothness_and_spread() -> None:
    low = stimulus(valence=-0.9, arousal=0.3, gesture="pat")
    high = stimulus(valence=0.9, arousal=0.3, gesture="pat")
    assert high.params.smoothness > low.params.smoothness
    assert high.params.spread > low.params.spread

    def active(s: object) -> float:  # share of motors above 10% of the peak while touched
        x = s.intensities  # type: ignore[attr-defined]
        on = x.max(axis=1) > 0.05
        return float(np.mean(x[on] > 0.1 * x.max()))

    assert active(high) > active(low)

    # unpleasant: the pressure hits at once; pleasant: it swells
    def rise(s: object) -> int:
        curve = s.intensities.max(axis=1)  # type: ignore[attr-defined]
        return int(np.argmax(curve[: int(s.rate / s.params.tempo_hz)]))  # type: ignore[attr-defined]

    assert rise(high) > rise(low)


def test_any_point_gets_the_nearest_anchors_gesture() -> None:
    s = stimulus(valence=0.8, arousal=0.35)
    assert s.kind == "point" and s.gesture == "stroke"  # love's
    assert stimulus(valence=-0.6, arousal=-0.3).gesture == "hold"  # sadness's
    assert stimulus(valence=0.0, arousal=0.0, gesture="tap").gesture == "tap"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "joy"}, "unknown emotion or gesture"),
        ({"valence": 1.5, "arousal": 0.0}, "valence must be"),
        ({"valence": 0.0, "arousal": float("nan")}, "arousal must be"),
        ({"valence": 0.0}, "both --valence and --arousal"),
        ({"name": "anger", "valence": 0.1, "arousal": 0.1}, "either a name or a point"),
        ({"name": "tap", "duration": 0.0}, "duration"),
        ({"valence": 0.0, "arousal": 0.0, "gesture": "hug"}, "unknown gesture"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(HapticsError, match=message):
        stimulus(**kwargs)  # type: ignore[arg-type]
    assert issubclass(HapticsError, ValueError)
