"""Engagement on real videos: a face talking to the camera, the same face masked out, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TESTDATA
from typer.testing import CliRunner

from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.result import VideoAnalysis
from facescope.cli import app
from facescope.engagement.measure import EngagementOptions, engagement_video, measure_engagement
from facescope.errors import FacescopeError

VIDEOS = TESTDATA / "video"
runner = CliRunner()
#: Fast analysis: the expression models are the slow stage and engagement does not need them.
FAST = AnalyzeOptions(expressions=False, quality=False)


def _video(name: str) -> Path:
    path = VIDEOS / f"{name}.mp4"
    if not path.is_file():
        pytest.skip(f"shared test video not found at {path}")
    return path


def _frames(name: str) -> list[Any]:
    from facescope.io.video import open_video

    with open_video(_video(name)) as video:
        return list(video)


def _analyse(frames: list[Any]) -> VideoAnalysis:
    return Analyzer(FAST).analyze_video(frames, fps=30.0, every=2)


@pytest.fixture(scope="module")
def head_1() -> tuple[list[Any], VideoAnalysis]:
    frames = _frames("talking_head_1")
    return frames, _analyse(frames)


@pytest.mark.parametrize("name", ["talking_head_1", "talking_head_2"])
def test_a_face_talking_to_the_camera_is_present_and_attending(
    name: str, head_1: tuple[list[Any], VideoAnalysis]
) -> None:
    analysis = head_1[1] if name == "talking_head_1" else _analyse(_frames(name))
    result = measure_engagement(analysis, EngagementOptions(window=5))
    assert len(result.tracks) == 1
    windows = result.tracks[0].windows
    assert len(windows) == 2  # 7-9 s: one 5 s window and the rest
    for window in windows:
        assert window.presence > 0.95
        assert window.features["gaze_on_target"] > 0.8
        assert window.features["facing"] > 0.9
        assert window.engagement > 0.7 and window.label == "engaged"
        assert window.features["speaking"] > 0.1  # they talk
    summary = result.summary()[0]
    assert summary["label"] == "engaged" and summary["presence"] > 0.95
    assert 0 < summary["blink_rate"] < 60


def test_the_face_masked_out_for_a_stretch_is_absent_there(
    head_1: tuple[list[Any], VideoAnalysis],
) -> None:
    frames, clean = head_1
    x1, y1, x2, y2 = clean.frames[0].faces[0].box
    pad_x, pad_y = 0.25 * (x2 - x1), 0.25 * (y2 - y1)
    top, bottom = max(0, round(y1 - pad_y)), round(y2 + pad_y)
    left, right = max(0, round(x1 - pad_x)), round(x2 + pad_x)
    masked = []
    for frame in frames:
        if 2.0 <= frame.time < 5.0:
            rgb = frame.rgb.copy()
            rgb[top:bottom, left:right] = 0
            frame = replace(frame, rgb=rgb)
        masked.append(frame)
    analysis = _analyse(masked)
    by_second = measure_engagement(analysis, EngagementOptions(window=1))
    assert len(by_second.tracks) == 1  # the face coming back continues the same person
    for window in by_second.tracks[0].windows:
        if window.start >= 2.0 and window.end <= 5.0:
            assert window.presence == 0.0 and window.label == "absent"
            assert window.engagement == 0.0
        elif window.end <= 2.0 or window.start >= 5.0:
            assert window.presence > 0.9 and window.label == "engaged"
    segments = measure_engagement(analysis, EngagementOptions(window="variable")).tracks[0].windows
    assert [w.label for w in segments] == ["engaged", "absent", "engaged"]
    assert segments[1].start == pytest.approx(2.0, abs=0.1)
    assert segments[1].end == pytest.approx(5.0, abs=0.1)


def test_cli_json_csv_and_plot(tmp_path: Path) -> None:
    video = str(_video("talking_head_2"))
    common = ["engagement", video, "--no-expressions", "--max-frames", "40", "--window", "0.5"]
    result = runner.invoke(app, [*common, "--json", "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    track = document["tracks"][0]
    assert track["track"] == 1 and len(track["windows"]) >= 2
    window = track["windows"][0]
    for key in ("start", "end", "presence", "engagement", "label", "gaze_on_target",
                "head_stability", "blink_rate", "eye_openness", "expression", "valence",
                "arousal", "action_units", "motion_energy", "speaking"):  # fmt: skip
        assert key in window, key
    assert window["presence"] == 1.0 and window["action_units"]["AU12"] is not None
    assert document["summary"][0]["track"] == 1
    pictures = document["pictures"]
    assert len(pictures) == 1 and Path(pictures[0]).stat().st_size > 10_000
    table = runner.invoke(app, [*common, "--csv", "--out", str(tmp_path / "w.json")])
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].startswith("track,start,end") and len(lines) == 1 + len(track["windows"])
    saved = json.loads((tmp_path / "w.json").read_text())
    assert saved["tracks"][0]["windows"][0]["start"] == 0.0
    both = runner.invoke(app, [*common, "--csv", "--json"])
    assert both.exit_code == 2 and "pick one" in both.stderr


@pytest.mark.parametrize("kind", ["missing", "zero-byte", "corrupt", "bad-window", "bad-screen"])
def test_bad_input_is_one_clear_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    extra: list[str] = []
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    elif kind in ("bad-window", "bad-screen"):
        path = _video("talking_head_1")
        extra = ["--window", "-3"] if kind == "bad-window" else ["--screen", "up"]
    result = runner.invoke(app, ["engagement", str(path), "--json", *extra])
    assert result.exit_code == 2, result.stdout
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if kind in ("missing", "zero-byte", "corrupt"):
        with pytest.raises(FacescopeError):
            engagement_video(path)


def test_a_trained_head_scores_a_video(
    head_1: tuple[list[Any], VideoAnalysis], tmp_path: Path
) -> None:
    from facescope.engagement.training import (
        EngagementClassifier,
        FeatureSchema,
        load_features,
        train_engagement,
    )

    rng = np.random.default_rng(0)
    rows = [
        {"person": f"p{k % 5}", "label": "engaged" if k % 2 else "bored",
         "gaze_on_target": 0.9 - 0.6 * (k % 2 == 0) + rng.normal(0, 0.1),
         "facing": 0.95 - 0.5 * (k % 2 == 0) + rng.normal(0, 0.1)}
        for k in range(60)
    ]  # fmt: skip
    path = tmp_path / "windows.csv"
    path.write_text(
        "person,label,gaze_on_target,facing\n"
        + "".join(f"{r['person']},{r['label']},{r['gaze_on_target']},{r['facing']}\n" for r in rows)
    )
    schema = FeatureSchema.native(["gaze_on_target", "facing"])
    classifier, report = train_engagement(load_features(path, schema), out=tmp_path / "h.json")
    assert report.accuracy > 0.9 and classifier.classes == ("bored", "engaged")
    loaded = EngagementClassifier.load(tmp_path / "h.json")
    result = measure_engagement(head_1[1], EngagementOptions(window=5, classifier=loaded))
    assert result.estimator.startswith("head: ")
    for window in result.tracks[0].windows:
        assert window.label == "engaged" and window.engagement > 0.8 and not window.components
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "facescope-head/1"}')
    failed = runner.invoke(app, ["engagement", str(_video("talking_head_1")), "--model", str(bad)])
    assert failed.exit_code == 2 and "not an engagement head" in failed.stderr
