"""The closed loop (expressions -> stimuli) and `facescope haptics ...` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facescope.analysis.result import FaceAnalysis, FrameAnalysis, VideoAnalysis
from facescope.cli import app
from facescope.haptics import HapticsError
from facescope.haptics.mirror import mirror_analysis

runner = CliRunner()


def _face(v: float, a: float, expression: str, size: float = 100.0) -> FaceAnalysis:
    probs = dict.fromkeys(("anger", "disgust", "fear", "happiness", "sadness", "surprise",
                           "neutral"), 0.0)  # fmt: skip
    probs[expression] = 1.0
    return FaceAnalysis(0, (0.0, 0.0, size, size), 0.9, np.zeros((5, 2), np.float32),
                        expressions=probs, valence=v, arousal=a)  # fmt: skip


def _video(points: list[tuple[float, float, str] | None], fps: float = 15.0) -> VideoAnalysis:
    frames = []
    for k, point in enumerate(points):
        faces = [] if point is None else [_face(*point), _face(0.0, 0.0, "neutral", 20.0)]
        frames.append(FrameAnalysis(320, 240, faces, k, k / fps))
    return VideoAnalysis(frames, fps, {})


def test_the_expression_selects_and_scales_the_stimulus() -> None:
    happy, sad = (0.81, 0.51, "happiness"), (-0.315, -0.135, "sadness")  # sad at half strength
    video = _video([happy] * 15 + [None] * 15 + [sad] * 15)
    mirrored = mirror_analysis(video, window=1.0)
    first, gap, last = mirrored.segments
    assert (first.emotion, first.gesture, first.expression) == ("happiness", "tickle", "happiness")
    assert first.scale == pytest.approx(1.0)  # the largest face wins, not the small neutral one
    assert gap.emotion is None and gap.scale == 0.0
    assert last.emotion == "sadness" and last.scale == pytest.approx(0.5, abs=0.01)
    x = mirrored.stimulus.intensities
    rate = int(mirrored.stimulus.rate)
    assert x.shape == (3 * rate, 25)
    assert x[rate : 2 * rate].max() == 0  # no face, no touch
    assert np.abs(mirrored.stimulus.audio[16000:32000]).max() == 0
    assert x[:rate].max() > x[2 * rate :].max() > 0
    with pytest.raises(HapticsError):
        mirror_analysis(video, window=0.0)
    with pytest.raises(HapticsError, match="no analysed frames"):
        mirror_analysis(_video([]))


def test_list_json() -> None:
    result = runner.invoke(app, ["haptics", "list", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert set(doc) == {"emotions", "gestures"} and len(doc["emotions"]) == 10
    assert doc["gestures"] == ["tap", "stroke", "pat", "hold", "squeeze", "tickle"]


def test_render_writes_sound_schedule_and_preview(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["haptics", "render", "gratitude", "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert {Path(p).name for p in files.values()} == {"gratitude.wav", "gratitude.csv",
                                                      "gratitude.gif"}  # fmt: skip
    point = runner.invoke(app, ["haptics", "render", "--valence", "-0.3", "--arousal", "0.8",
                                "--format", "json", "--rate", "50", "--out", str(tmp_path),
                                "--json"])  # fmt: skip
    assert point.exit_code == 0, point.stderr
    schedule = json.loads(Path(json.loads(point.stdout)["files"]["schedule"]).read_text())
    assert schedule["rate_hz"] == 50 and len(schedule["frames"]) == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "joy"], "unknown emotion"),
        (["render", "--valence", "0.5", "--arousal", "-3"], "arousal must be"),
        (["render", "tap", "--rate", "0"], "rate must be"),
        (["play", "tap"], "--port"),
        (["study", "score", "nope.csv"], "no answers file"),
        (["mirror", "clip.mp4"], "--port"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    args = [*args, "--out", str(tmp_path)] if args[0] == "render" else args
    result = runner.invoke(app, ["haptics", *args, "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_play_on_a_virtual_sleeve() -> None:
    pytest.importorskip("serial")
    from facescope.haptics.device import VirtualDevice

    with VirtualDevice() as device:
        result = runner.invoke(app, ["haptics", "play", "sympathy", "--port", device.port,
                                     "--duration", "0.5", "--json"])  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert len(device.received.seqs) == 51
    playback = json.loads(result.stdout)["playback"]
    assert playback["frames"] == 50 and playback["resent"] == 0
    with VirtualDevice(ack=False) as silent:
        result = runner.invoke(app, ["haptics", "play", "tap", "--port", silent.port,
                                     "--ack-timeout", "0.05"])  # fmt: skip
    assert result.exit_code == 2 and "did not acknowledge" in result.stderr


def test_study_plan_and_score(tmp_path: Path) -> None:
    trials = tmp_path / "trials.csv"
    made = runner.invoke(app, ["haptics", "study", "plan", "--participants", "6", "--out",
                               str(trials), "--json"])  # fmt: skip
    assert made.exit_code == 0 and json.loads(made.stdout)["trials"] == 180
    rows = trials.read_text().splitlines()[1:]
    answers = tmp_path / "answers.csv"
    lines = ["participant,condition,stimulus,answer"]
    for row in rows:
        participant, _, condition, _, stim = row.split(",")
        guess = stim if condition == "combined" else "calm"
        lines.append(f"{participant},{condition},{stim},{guess}")
    answers.write_text("\n".join(lines) + "\n")
    scored = runner.invoke(app, ["haptics", "study", "score", str(answers), "--json"])
    assert scored.exit_code == 0, scored.stderr
    accuracy = json.loads(scored.stdout)["accuracy"]
    assert accuracy == {"touch": 0.1, "sound": 0.1, "combined": 1.0}
    human = runner.invoke(app, ["haptics", "study", "score", str(answers)])
    assert "combined" in human.stdout and "100.0%" in human.stdout


def test_mirror_a_video(tmp_path: Path, data: Path) -> None:
    import cv2

    from facescope.io.image import load_image
    from facescope.video import VideoWriter

    rgb = cv2.resize(load_image(data / "obama_2.jpg"), (320, 240))
    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, 10.0, 320, 240) as writer:
        for i in range(10):
            writer.write(np.roll(rgb, i, axis=1))
    result = runner.invoke(app, ["haptics", "mirror", str(clip), "--out", str(tmp_path / "m"),
                                 "--window", "0.5", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["segments"]) == 2 and all(s["faces"] > 0 for s in doc["segments"])
    assert all(s["emotion"] is not None for s in doc["segments"])
    assert Path(doc["files"]["schedule"]).exists()
    pytest.importorskip("serial")
    from facescope.haptics.device import VirtualDevice

    with VirtualDevice() as device:
        played = runner.invoke(app, ["haptics", "mirror", str(clip), "--port", device.port,
                                     "--window", "0.5", "--json"])  # fmt: skip
    assert played.exit_code == 0, played.stderr
    assert json.loads(played.stdout)["playback"]["frames"] == 100
