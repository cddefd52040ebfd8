"""End to end: photos (emotion transfer), a short clip, the CLI, and the shared talking heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, TESTDATA
from typer.testing import CliRunner

from facescope.animate import AnimateError, animate, transfer_emotion
from facescope.animate.shapes import INDEX
from facescope.cli import app

runner = CliRunner()
VIDEOS = TESTDATA / "video"


def _smile(name: str) -> float:
    perf, _ = transfer_emotion(DATA / f"{name}.jpg")
    raw = perf.raw[0]
    return float(raw[INDEX["mouthSmileLeft"]] + raw[INDEX["mouthSmileRight"]])


def test_a_smiling_portrait_smiles_more_than_a_straight_one() -> None:
    assert _smile("obama_1") > _smile("obama_2") + 0.5
    assert _smile("biden_2") > _smile("biden_1") + 0.5


def test_emotion_transfer_poses_the_rig(tmp_path: Path) -> None:
    result = animate(DATA / "biden_2.jpg", out=tmp_path)
    perf = result.performance
    assert perf.expression is not None and perf.expression["label"] == "happiness"
    assert perf.head_weights[0, INDEX["mouthSmileLeft"]] > 0.5
    names = {Path(f).name for f in result.files}
    assert {"blendshapes.csv", "livelink.csv", "frames.json", "performance.glb"} <= names
    assert "preview.gif" in names


def _clip(path: Path, frames: int = 8) -> Path:
    import cv2

    from facescope.io.image import load_image
    from facescope.video import VideoWriter

    rgb = cv2.resize(load_image(DATA / "obama_2.jpg"), (320, 240))
    with VideoWriter(path, 10.0, 320, 240) as writer:
        for i in range(frames):
            writer.write(np.roll(rgb, i, axis=1))
    return path


def test_the_cli_runs_a_clip_and_refuses_bad_input(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    result = runner.invoke(
        app, ["animate", str(clip), "--rig", "mascot", "--out", str(tmp_path / "o"), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["frames"] == 8 and document["rig"]["name"] == "mascot"
    assert (tmp_path / "o" / "performance.glb").is_file()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"controls": {"a": {"inputs": [{"shape": "smile"}]}}}))
    result = runner.invoke(app, ["animate", str(clip), "--rig", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown shape" in result.stderr
    result = runner.invoke(app, ["animate", str(tmp_path / "none.mp4"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "not found" in result.stderr
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video at all")
    result = runner.invoke(app, ["animate", str(corrupt), "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_no_face_is_a_clear_error(tmp_path: Path) -> None:
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    with pytest.raises(AnimateError, match="no face"):
        animate(blank)


@pytest.mark.skipif(not (VIDEOS / "talking_head_1.mp4").is_file(), reason="shared data absent")
def test_jaw_and_blinks_follow_the_measured_openness() -> None:
    from facescope.analysis.eyes import eye_aspect_ratio, mouth_openness
    from facescope.analysis.geometry import EAR_LEFT, EAR_RIGHT, to_canonical
    from facescope.analysis.mesh import shared_mesher
    from facescope.io.video import open_video
    from facescope.pipeline import find_faces

    result = animate(VIDEOS / "talking_head_1.mp4", max_frames=60)
    perf = result.performance
    assert len(perf.frames) >= 50
    mouth, ears = [], []
    with open_video(VIDEOS / "talking_head_1.mp4", max_frames=60) as video:
        for frame in video:
            faces = find_faces(frame.rgb, max_faces=1)
            mesh = shared_mesher().mesh(frame.rgb, faces.boxes[0]) if len(faces) else None
            if mesh is None:
                continue
            canonical = to_canonical(mesh.points)
            mouth.append(mouth_openness(canonical))
            ears.append(
                (eye_aspect_ratio(canonical, EAR_LEFT), eye_aspect_ratio(canonical, EAR_RIGHT))
            )
    raw = perf.raw
    jaw = np.corrcoef(raw[:, INDEX["jawOpen"]], mouth)[0, 1]
    assert jaw > 0.5
    blinks = raw[:, INDEX["eyeBlinkLeft"]]
    if blinks.std() > 0:  # no blink in the excerpt leaves nothing to correlate
        assert np.corrcoef(blinks, np.array(ears)[:, 0])[0, 1] < -0.3
