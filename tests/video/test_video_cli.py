"""`facescope video`: tracks, JSON, annotated video and thumbnails; real clips are one track."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA
from typer.testing import CliRunner
from video_scenes import scene

from facescope.cli import app as cli
from facescope.gallery import Gallery
from facescope.video import VideoSource, VideoWriter
from facescope.video.recognizer import VideoRecognizer

pytestmark = pytest.mark.slow  # decodes, tracks and identifies whole videos

VIDEOS = TESTDATA / "video"


def write_scene(path: Path, data: Path) -> None:
    with VideoWriter(path, 25.0, 640, 360) as writer:
        for frame in scene(data):
            writer.write(frame)


def test_video_command_writes_tracks_annotated_video_and_thumbnails(
    tmp_path: Path, data: Path
) -> None:
    clip = tmp_path / "walk.mp4"
    write_scene(clip, data)
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("Obama", [data / "obama_2.jpg"])
    out, report, thumbs = tmp_path / "annotated.mp4", tmp_path / "tracks.json", tmp_path / "thumbs"
    result = CliRunner().invoke(
        cli,
        [
            "video",
            str(clip),
            "--gallery",
            str(tmp_path / "g"),
            "--stride",
            "2",
            "--out",
            str(out),
            "--out",
            str(report),
            "--thumbs",
            str(thumbs),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    assert document["frames"] == 95 and document["ended_early"] is None
    assert [t["identity"] for t in document["tracks"]] == ["Obama", None]
    with VideoSource(out) as annotated:
        assert (annotated.width, annotated.height) == (640, 360)
        frames = list(annotated)
    assert len(frames) == 95
    assert sorted(p.name for p in thumbs.iterdir()) == ["track_1.jpg", "track_2.jpg"]


def test_video_command_streams_json_lines(tmp_path: Path, data: Path) -> None:
    clip = tmp_path / "walk.mkv"
    write_scene(clip, data)
    result = CliRunner().invoke(cli, ["video", str(clip), "--jsonl", "--stride", "3"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["track_id"] for line in lines] == [1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"not a video at all", "not a video"), (None, "no such file")],
)
def test_video_command_bad_input_is_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(cli, ["video", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and message in result.output.lower()
    assert "Traceback" not in result.output


def _videos() -> list[tuple[str, str]]:
    labels = VIDEOS / "labels.csv"
    if not labels.is_file():
        return []
    with labels.open() as handle:
        return [(row["path"], row["subject"]) for row in csv.DictReader(handle)]


@pytest.mark.skipif(not _videos(), reason=f"shared test videos not found at {VIDEOS}")
@pytest.mark.parametrize("stride", [1, 3])
def test_each_talking_head_video_is_one_track(stride: int) -> None:
    """Track fragmentation on the real clips (one person each): exactly one track."""
    for name, _ in _videos():
        results = VideoRecognizer(stride=stride).run(str(VIDEOS / name))
        assert len(results) == 1, (name, [r.to_dict() for r in results])
        assert results[0].first_frame <= 2 * stride
        assert np.isclose(np.linalg.norm(results[0].embedding), 1.0, atol=1e-4)
