"""Micro-expression spotting: signal logic on synthetic motion, bad input, and real video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA

from facescope.errors import FacescopeError, NoFaceError, VideoError
from facescope.micro import (
    MicroError,
    SpotOptions,
    TrackMotion,
    interval_iou,
    score_intervals,
    spot_frames,
    spot_motion,
    spot_video,
)
from facescope.micro.motion import PATCHES
from facescope.micro.spot import scales

VIDEO = TESTDATA / "video" / "talking_head_1.mp4"
PATCH_NAMES = tuple(PATCHES)


def _motion(displacement: np.ndarray, eyes: float = 150.0, seed: int = 0) -> TrackMotion:
    """A track whose patch 0 follows `displacement` (rows, 2) px, every patch with noise."""
    rows = len(displacement)
    rng = np.random.default_rng(seed)
    trace = rng.normal(0, 0.05, (rows, len(PATCH_NAMES), 2))
    trace[:, 0] += displacement
    velocity = np.diff(trace, axis=0, prepend=trace[:1])
    motion = TrackMotion(3, PATCH_NAMES)
    for t in range(rows):
        motion.frames.append(t)
        motion.times.append(t / 30)
        motion.velocity.append(velocity[t].astype(np.float32))
        motion.valid.append(t > 0)
        motion.eyes.append(eyes)
        motion.head.append(0.0)
    return motion


def _bump(rows: int, onset: int, duration: int, amplitude: float) -> np.ndarray:
    out = np.zeros((rows, 2))
    k = np.arange(1, duration + 1)
    out[onset : onset + duration, 1] = -amplitude * np.sin(np.pi * k / (duration + 1)) ** 2
    return out


def test_a_short_subtle_bump_is_spotted_with_its_timing() -> None:
    motion = _motion(_bump(150, 60, 6, 1.5))
    intervals, macro = spot_motion([motion], 30.0)
    assert len(intervals) == 1 and macro == 0
    found = intervals[0]
    assert found.track == 3 and found.regions == ("left_brow",)
    assert abs(found.onset - 60) <= 2 and abs(found.offset - 65) <= 2
    assert 61 <= found.apex <= 63
    assert interval_iou((found.onset, found.offset), (60, 65)) >= 0.5
    assert 1.0 < found.intensity < 2.0
    assert found.start == pytest.approx(found.onset / 30)
    assert set(found.to_dict()) >= {"track", "onset", "apex", "offset", "start", "end",
                                    "regions", "intensity"}  # fmt: skip


def test_noise_alone_spots_nothing() -> None:
    assert spot_motion([_motion(np.zeros((300, 2)))], 30.0)[0] == []


def test_long_and_large_movements_are_macro() -> None:
    long = _motion(_bump(200, 50, 40, 2.0))  # 1.3 s: a held expression
    intervals, macro = spot_motion([long], 30.0)
    assert intervals == []
    large = _motion(_bump(200, 50, 6, 20.0))  # 20 px on a 150-px face: a smile, speech
    intervals, macro = spot_motion([large], 30.0)
    assert intervals == [] and macro >= 1


def test_a_one_frame_jump_is_not_a_movement() -> None:
    jump = np.zeros((150, 2))
    jump[70, 1] = 1.5
    assert spot_motion([_motion(jump)], 30.0)[0] == []


def test_speech_gate_keeps_talking_lips_out() -> None:
    rows = 150
    motion = _motion(np.zeros((rows, 2)))
    lips = [i for i, p in enumerate(PATCH_NAMES) if PATCHES[p][0] == "lips"]
    rng = np.random.default_rng(1)
    talk = np.cumsum(rng.normal(0, 1.5, (rows, len(lips), 2)), axis=0)  # a busy mouth
    bump = _bump(rows, 70, 6, 3.0)
    for t in range(1, rows):
        motion.velocity[t][lips] += (talk[t] - talk[t - 1]).astype(np.float32)
        motion.velocity[t][lips[0]] += (bump[t] - bump[t - 1]).astype(np.float32)
    assert spot_motion([motion], 30.0)[0] == []
    ungated = spot_motion([motion], 30.0, SpotOptions(speech_gate=0))[0]
    assert len(ungated) >= 1  # what the gate removes


def test_scales_cover_micro_durations() -> None:
    assert scales(30.0) == [2, 3, 4, 6, 7]
    assert scales(25.0) == [2, 3, 5, 6]
    assert all(k >= 2 for k in scales(10.0))


def test_options_are_checked() -> None:
    for bad in ({"threshold": 0}, {"threshold": float("nan")}, {"edge": 1.5},
                {"max_duration_s": -1}, {"flow": "magic"}, {"max_faces": 0},
                {"min_intensity": 1.0}, {"threshold": "high"}):  # fmt: skip
        with pytest.raises(MicroError):
            SpotOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(MicroError, match="unknown"):
        SpotOptions().with_(speed=3)
    with pytest.raises(MicroError, match="fps"):
        spot_motion([], 0.0)
    assert issubclass(MicroError, FacescopeError) and issubclass(MicroError, ValueError)


def test_scoring_follows_megc() -> None:
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert interval_iou((0, 3), (5, 9)) == 0.0
    s = score_intervals([(10, 15), (11, 16), (40, 42)], [(10, 15), (80, 85)])
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)  # one-to-one: the second overlap is a FP
    assert s.precision == pytest.approx(1 / 3) and s.recall == 0.5
    assert s.f1 == pytest.approx(0.4)
    assert score_intervals([], []).f1 == 0.0


# ---- bad input -------------------------------------------------------------------------


def test_missing_empty_and_corrupt_videos_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VideoError):
        spot_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError):
        spot_video(empty)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(VideoError):
        spot_video(corrupt)


def test_frames_without_a_face_raise_no_face() -> None:
    class Frame:
        def __init__(self, i: int) -> None:
            self.index, self.time = i, i / 25
            self.rgb = np.full((120, 160, 3), 90, np.uint8)

    with pytest.raises(NoFaceError):
        spot_frames([Frame(i) for i in range(4)], fps=25)
    with pytest.raises(VideoError):
        spot_frames([], fps=25)
    bad = Frame(0)
    bad.rgb = np.zeros((10, 10), np.uint8)
    with pytest.raises(MicroError, match="RGB"):
        spot_frames([bad])
