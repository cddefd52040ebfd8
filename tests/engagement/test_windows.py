"""Window aggregation and the baseline, on hand-made per-frame records (no video, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facescope.analysis.eyes import Gaze
from facescope.analysis.pose import HeadPose, rotation_from_euler
from facescope.analysis.result import FaceAnalysis, FrameAnalysis, VideoAnalysis
from facescope.engagement import EngagementError
from facescope.engagement.baseline import BASELINE_WEIGHTS, baseline_engagement
from facescope.engagement.features import FrameRecord, GazeTarget, RecordBuilder
from facescope.engagement.measure import EngagementOptions, measure_engagement
from facescope.engagement.windows import (
    FEATURES,
    SPEAKING_STD,
    aggregate_windows,
    parse_window,
    variable_windows,
)

FPS = 10.0


def _attending(t: float, person: int = 1, **changes: float) -> FrameRecord:
    values = {
        "yaw": 2.0,
        "pitch": -1.0,
        "roll": 0.5,
        "gaze_angle": 3.0,
        "facing_angle": 2.0,
        "eye_openness": 0.3,
        "mouth_openness": 0.05,
        "mouth_activity": 0.002,
        "motion": 4.0,
        "valence": 0.2,
        "arousal": 0.1,
    }
    values.update(changes)
    return FrameRecord(t, person, round(t * FPS), person, **values)  # type: ignore[arg-type]


def _spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(round(a, 6), round(b, 6)) for a, b in spans]


def _times(seconds: float) -> list[float]:
    return [i / FPS for i in range(round(seconds * FPS))]


def test_presence_counts_the_frames_without_the_face() -> None:
    times = _times(20)
    records = [_attending(t) for t in times if not 5 <= t < 12]  # gone from 5 s to 12 s
    windows = aggregate_windows(records, times, "5")[1]
    assert [(w.start, w.end) for w in windows] == [(0, 5), (5, 10), (10, 15), (15, 20)]
    assert [w.presence for w in windows] == pytest.approx([1.0, 0.0, 0.6, 1.0])
    absent = windows[1]
    assert absent.present_frames == 0 and absent.frames == 50
    assert all(math.isnan(v) for k, v in absent.features.items() if k != "presence")
    engagement, label, _ = baseline_engagement(absent.features)
    assert engagement == 0.0 and label == "absent"
    assert set(windows[0].features) == set(FEATURES)


def test_attending_face_scores_engaged_and_looking_away_does_not() -> None:
    times = _times(10)
    away = [_attending(t, gaze_angle=40.0, facing_angle=45.0, yaw=40.0 + 15 * math.sin(t * 3))
            for t in times[50:]]  # fmt: skip
    records = [_attending(t) for t in times[:50]] + away
    first, second = aggregate_windows(records, times, 5.0)[1]
    assert first.features["gaze_on_target"] == 1.0 and first.features["facing"] == 1.0
    assert second.features["gaze_on_target"] == 0.0 and second.features["facing"] == 0.0
    assert second.features["head_stability"] < first.features["head_stability"]
    high, high_label, parts = baseline_engagement(first.features)
    low, low_label, _ = baseline_engagement(second.features)
    assert high > 0.8 and high_label == "engaged"
    assert low < 0.35 and low_label == "disengaged"
    assert set(parts) == set(BASELINE_WEIGHTS)


def test_baseline_weights_sum_to_one_and_missing_cues_reweight() -> None:
    assert sum(BASELINE_WEIGHTS.values()) == pytest.approx(1.0)
    full = dict.fromkeys(FEATURES, math.nan)
    full.update(presence=1.0, gaze_on_target=1.0, facing=1.0, eyes_closed=0.0,
                head_stability=1.0, speaking=1.0, motion_energy=20.0)  # fmt: skip
    assert baseline_engagement(full)[0] == pytest.approx(1.0)
    no_gaze = {**full, "gaze_on_target": math.nan}
    assert baseline_engagement(no_gaze)[0] == pytest.approx(1.0)  # the others reweighted
    half_there = {**full, "presence": 0.4}
    score, label, _ = baseline_engagement(half_there)
    assert score == pytest.approx(0.4) and label == "absent"
    nothing = {**dict.fromkeys(FEATURES, math.nan), "presence": 1.0}
    score, label, _ = baseline_engagement(nothing)
    assert math.isnan(score) and label == "unknown"


def test_blink_rate_speaking_and_eyes_closed() -> None:
    times = _times(10)
    records = []
    for t in times:
        talking = t >= 5
        closed = 7 <= t < 8
        records.append(
            _attending(t, mouth_activity=0.05 if talking else 0.001,
                       eye_openness=0.05 if closed else 0.3)
        )  # fmt: skip
    first, second = aggregate_windows(records, times, 5, blinks={1: [0.5, 2.0, 3.1, 6.0]})[1]
    assert first.blinks == 3 and first.features["blink_rate"] == pytest.approx(36.0)
    assert second.blinks == 1 and second.features["blink_rate"] == pytest.approx(12.0)
    assert first.features["speaking"] == 0.0 and second.features["speaking"] == 1.0
    assert first.features["eyes_closed"] == 0.0
    assert second.features["eyes_closed"] == pytest.approx(0.2)
    assert 0.05 > SPEAKING_STD > 0.001


def test_several_people_are_windowed_separately() -> None:
    times = _times(10)
    records = [_attending(t, person=1) for t in times]
    records += [_attending(t, person=2, gaze_angle=50.0) for t in times if t < 3]
    windows = aggregate_windows(records, times, 10)
    assert sorted(windows) == [1, 2]
    assert windows[1][0].presence == 1.0 and windows[2][0].presence == pytest.approx(0.3)
    assert windows[2][0].features["gaze_on_target"] == 0.0


def test_variable_windows_follow_presence_and_cuts() -> None:
    times = _times(20)
    present = [not (6 <= t < 10) and not (15 <= t < 15.3) for t in times]  # 0.3 s is a glitch
    spans = variable_windows(times, present, parse_window("variable"))
    assert _spans(spans) == [(0.0, 6.0), (6.0, 10.0), (10.0, 20.0)]
    cut = variable_windows(times, present, parse_window("variable"), cuts=[13.0])
    assert _spans(cut) == [(0.0, 6.0), (6.0, 10.0), (10.0, 13.0), (13.0, 20.0)]
    long = variable_windows(_times(70), [True] * 700, parse_window("variable"))
    assert len(long) == 3 and all(b - a <= 30 for a, b in long)
    records = [_attending(t) for t, p in zip(times, present, strict=True) if p]
    windows = aggregate_windows(records, times, "variable")[1]
    assert [round(w.presence, 2) for w in windows] == [1.0, 0.0, 0.97]


@pytest.mark.parametrize("bad", ["0", "-5", "soon", "nan", "inf", "", "5 minutes"])
def test_bad_windows_are_refused(bad: str) -> None:
    with pytest.raises(EngagementError, match="window"):
        parse_window(bad)


def test_windows_parse() -> None:
    assert parse_window("5").seconds == 5 and parse_window(30).seconds == 30
    assert parse_window("variable").variable and str(parse_window("10")) == "10"


def test_frame_times_out_of_order_are_refused() -> None:
    with pytest.raises(EngagementError, match="increasing"):
        aggregate_windows([], [0.0, 0.2, 0.1], 5)
    with pytest.raises(EngagementError, match="finite"):
        aggregate_windows([], [0.0, math.nan], 5)


# ---- records from analysis results: gaze towards the lens or a configured screen ---------


def _face(
    track: int, gaze_vector: tuple[float, float, float], box: tuple[float, ...]
) -> FaceAnalysis:
    pose = HeadPose(0.0, 0.0, 0.0, rotation_from_euler(0, 0, 0), np.array([0.0, 0.0, 600.0]), 0.0)
    vector = np.asarray(gaze_vector, np.float64)
    vector /= np.linalg.norm(vector)
    gaze = Gaze(0.0, 0.0, 0.0, 0.0, vector, (0.0, 0.0), (0.0, 0.0))
    return FaceAnalysis(
        face=0, box=box, detector_score=0.9, landmarks5=np.zeros((5, 2), np.float32),  # type: ignore[arg-type]
        pose=pose, gaze=gaze, eye_openness=(0.3, 0.3), mouth_openness=0.05, track=track,
    )  # fmt: skip


def test_gaze_is_relative_to_the_lens_and_a_screen_can_be_placed() -> None:
    box = (100.0, 100.0, 200.0, 200.0)
    into_lens = FrameAnalysis(640, 480, [_face(1, (0, 0, -1), box)], 0, 0.0)
    at_screen = FrameAnalysis(640, 480, [_face(1, (0, 120, -600), box)], 1, 0.1)
    lens = RecordBuilder()
    lens.add(into_lens)
    lens.add(at_screen)
    assert lens.records[0].gaze_angle == pytest.approx(0.0, abs=1e-6)
    assert lens.records[1].gaze_angle == pytest.approx(math.degrees(math.atan(120 / 600)))
    screen = RecordBuilder(GazeTarget(offset_mm=(0.0, 120.0, 0.0)))
    screen.add(into_lens)
    screen.add(at_screen)
    assert screen.records[1].gaze_angle == pytest.approx(0.0, abs=1e-6)
    assert screen.records[0].gaze_angle == pytest.approx(math.degrees(math.atan(120 / 600)))
    wide = RecordBuilder(GazeTarget(offset_mm=(0.0, 120.0, 0.0), radius_mm=200.0))
    wide.add(into_lens)
    assert wide.records[0].gaze_angle == 0.0  # the lens is inside a 200 mm screen
    with pytest.raises(EngagementError):
        GazeTarget(tolerance_deg=0)
    with pytest.raises(EngagementError):
        GazeTarget(offset_mm=(math.nan, 0.0, 0.0))


def test_a_returning_face_continues_its_person_and_frames_without_faces_count() -> None:
    box = (100.0, 100.0, 200.0, 200.0)
    frames = [FrameAnalysis(640, 480, [_face(1, (0, 0, -1), box)], i, i / FPS) for i in range(20)]
    frames += [FrameAnalysis(640, 480, [], i, i / FPS) for i in range(20, 50)]  # 3 s away
    frames += [FrameAnalysis(640, 480, [_face(2, (0, 0, -1), box)], i, i / FPS)
               for i in range(50, 100)]  # fmt: skip
    video = VideoAnalysis(frames, FPS, {1: [], 2: []})
    result = measure_engagement(video, EngagementOptions(window="variable"))
    assert [p.track for p in result.tracks] == [1] and result.tracks[0].tracks == (1, 2)
    labels = [(round(w.start, 1), round(w.end, 1), w.label) for w in result.tracks[0].windows]
    assert labels == [(0.0, 2.0, "engaged"), (2.0, 5.0, "absent"), (5.0, 10.0, "engaged")]
    apart = measure_engagement(video, EngagementOptions(window=5, stitch=False))
    assert [p.track for p in apart.tracks] == [1, 2]
    assert [w.label for w in apart.tracks[1].windows] == ["absent", "engaged"]
    document = result.to_dict()
    window = document["tracks"][0]["windows"][1]
    assert {"start", "end", "presence", "engagement", "label", "gaze_on_target"} <= set(window)
    assert window["presence"] == 0.0 and window["gaze_on_target"] is None
    assert "lens" in document["gaze_note"] and "derived" in document["gaze_note"]
    assert document["summary"][0]["presence"] == pytest.approx(0.7)
