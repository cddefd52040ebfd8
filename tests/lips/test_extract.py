"""Mouth crops, lip points and voice activity per tracked face of real videos; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA, TESTDATA
from typer.testing import CliRunner

from facescope.cli import app
from facescope.errors import FacescopeError, NoFaceError
from facescope.lips import (
    CROP_SIZE,
    LANDMARK_POINTS,
    LipsError,
    NoMouthError,
    audio_energy,
    audio_speech,
    extract_frames,
    extract_lips,
    load_track,
    mouth_warp,
    synthetic,
)

VIDEO = TESTDATA / "video"
runner = CliRunner()


def _video(name: str) -> Path:
    path = VIDEO / name
    if not path.is_file():
        pytest.skip(f"shared test video not found at {path}")
    return path


def _images(path: Path, seconds: float) -> tuple[list[np.ndarray], float]:
    from facescope.io.video import open_video

    with open_video(path) as video:
        fps = float(video.fps or 25.0)
        images = [f.rgb for _, f in zip(range(int(seconds * fps)), video, strict=False)]
    return images, fps


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-frame 320x240 video of a portrait sliding sideways (as the CLI conventions use)."""
    from facescope.io.image import load_image
    from facescope.video import VideoWriter

    path = tmp_path_factory.mktemp("lips") / "clip.mp4"
    rgb = cv2.resize(load_image(DATA / "obama_2.jpg"), (320, 240))
    with VideoWriter(path, 10.0, 320, 240) as writer:
        for i in range(6):
            writer.write(np.roll(rgb, i, axis=1))
    return path


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A faceless grey video without audio."""
    from facescope.video import VideoWriter

    path = tmp_path_factory.mktemp("lips") / "blank.mp4"
    with VideoWriter(path, 10.0, 64, 64) as writer:
        for i in range(5):
            writer.write(np.full((64, 64, 3), 100 + i, np.uint8))
    return path


def test_npz_round_trips_with_the_named_arrays(clip: Path, tmp_path: Path) -> None:
    result = extract_lips(clip, out=tmp_path / "out")
    assert result.frames == 6 and len(result.tracks) == 1
    track = result.tracks[0]
    assert result.files == [str(tmp_path / "out" / f"track_{track.track}.npz")]
    with np.load(result.files[0]) as data:
        assert {"crops", "time", "lips", "speaking"} <= set(data.files)
        assert data["crops"].shape == (6, CROP_SIZE, CROP_SIZE) and data["crops"].dtype == np.uint8
        assert data["time"].dtype == np.float64 and np.all(np.diff(data["time"]) > 0)
        assert data["lips"].shape == (6, len(LANDMARK_POINTS), 3)
        assert data["speaking"].dtype == bool and data["speaking"].shape == (6,)
    again = load_track(result.files[0])
    assert again.track == track.track
    np.testing.assert_array_equal(again.crops, track.crops)
    np.testing.assert_allclose(again.time, track.time)
    np.testing.assert_allclose(again.lips, track.lips)
    np.testing.assert_array_equal(again.speaking, track.speaking)
    summary = result.to_dict()["tracks"][0]
    assert summary["frames"] == 6 and 0.0 <= summary["speaking_fraction"] <= 1.0


def test_crops_in_a_video_centre_the_mouth(clip: Path) -> None:
    from facescope.analysis.mesh import shared_mesher
    from facescope.pipeline import find_faces

    track = extract_lips(clip).tracks[0]
    images, _ = _images(clip, 10.0)
    rgb = images[3]
    mesh = shared_mesher().mesh(rgb, find_faces(rgb, assume_aligned=False).boxes[0])
    assert mesh is not None
    lips = mouth_warp(mesh.points).apply(mesh.points[list(LANDMARK_POINTS[:40])])
    assert np.all(np.abs(lips.mean(0) - CROP_SIZE / 2) < 5)
    # the stored crop is that mouth (the track's mesh is smoothed: close, not identical)
    direct = cv2.cvtColor(
        cv2.warpAffine(rgb, mouth_warp(mesh.points).matrix, (CROP_SIZE, CROP_SIZE)),
        cv2.COLOR_RGB2GRAY,
    ).astype(np.float32)
    assert np.corrcoef(direct.ravel(), track.crops[3].astype(np.float32).ravel())[0, 1] > 0.9


def test_talking_head_speaks_and_its_silent_versions_do_not() -> None:
    images, fps = _images(_video("talking_head_3.mp4"), 3.0)
    talking = extract_frames(synthetic.as_frames(images, fps), max_faces=1).tracks[0]
    assert talking.speaking_fraction > 0.8
    assert len(talking.crops) == len(images)
    frozen = extract_frames(synthetic.as_frames(synthetic.frozen(images), fps)).tracks[0]
    assert frozen.speaking_fraction < 0.05
    still = synthetic.still_mouth(images, synthetic.meshes_of(images))
    held = extract_frames(synthetic.as_frames(still, fps), max_faces=1).tracks[0]
    assert held.speaking_fraction < 0.2


def test_side_by_side_says_who_is_speaking() -> None:
    talking, fps = _images(_video("talking_head_3.mp4"), 2.5)
    other, _ = _images(_video("talking_head_2.mp4"), 2.5)
    n = min(len(talking), len(other))
    frames = synthetic.side_by_side(talking[:n], synthetic.frozen(other[:n]))
    result = extract_frames(synthetic.as_frames(frames, fps))
    assert len(result.tracks) == 2
    half = frames[0].shape[1] / 2
    by_side = {
        ("left" if t.mouth[:, 0].mean() < half else "right"): t.speaking_fraction
        for t in result.tracks
    }
    assert by_side["left"] > 0.7 and by_side["right"] < 0.1, by_side


def test_audio_energy_of_a_talking_head() -> None:
    path = _video("talking_head_3.mp4")
    times = np.arange(0, 9.0, 0.04)
    level = audio_energy(path, times)
    assert level.shape == times.shape and np.all(level <= 0)
    assert np.median(level) > -40  # non-silent speech
    assert audio_speech(level, times).mean() > 0.5
    silent = audio_energy(_video("talking_head_1.mp4"), times[:50])
    assert not audio_speech(silent, times[:50]).any()


def test_bad_inputs_raise(tmp_path: Path, blank: Path, clip: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    for bad in (tmp_path / "missing.mp4", empty, junk, tmp_path):
        with pytest.raises(FacescopeError):
            extract_lips(bad)
    with pytest.raises(NoMouthError) as caught:
        extract_lips(blank)
    assert isinstance(caught.value, NoFaceError) and "no face" in str(caught.value)
    with pytest.raises(LipsError, match="no audio"):
        audio_energy(clip, [0.1])
    for bad in (tmp_path / "missing.mp4", empty, junk):
        with pytest.raises(LipsError):
            audio_energy(bad, [0.1])
    with pytest.raises(LipsError):
        extract_lips(clip, max_frames=0)
    with pytest.raises(LipsError):
        extract_lips(clip, max_faces=0)
    with pytest.raises(LipsError):
        audio_energy(clip, [0.1], window_s=0)


def test_cli(clip: Path, blank: Path, tmp_path: Path) -> None:
    out = tmp_path / "lips"
    done = runner.invoke(app, ["lips", str(clip), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["frames"] == 6 and len(doc["tracks"]) == 1
    track = doc["tracks"][0]
    assert {"speech", "speaking_fraction", "track"} <= set(track)
    assert (out / f"track_{track['track']}.npz").is_file()
    same = runner.invoke(app, ["lips", "extract", str(clip), "--max-frames", "4", "--json"])
    assert same.exit_code == 0 and json.loads(same.stdout)["frames"] == 4
    people = runner.invoke(app, ["lips", str(clip)])
    assert people.exit_code == 0 and "track" in people.stdout
    missing = runner.invoke(app, ["lips", str(tmp_path / "nope.mp4"), "--json"])
    assert missing.exit_code == 2 and not missing.stdout.strip()
    assert "no such file" in missing.stderr
    assert runner.invoke(app, ["lips", str(blank)]).exit_code == 3
    assert runner.invoke(app, ["lips", str(clip), "--threshold", "-1"]).exit_code == 2
