"""``facescope micro spot``: JSON, CSV, a picture, and one-line errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facescope.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six frames of a still portrait sliding sideways (as tests/cli's convention walk)."""
    import cv2
    from conftest import DATA

    from facescope.io.image import load_image
    from facescope.video import VideoWriter

    path = tmp_path_factory.mktemp("micro") / "clip.mp4"
    rgb = cv2.resize(load_image(DATA / "obama_2.jpg"), (320, 240))
    with VideoWriter(path, 10.0, 320, 240) as writer:
        for i in range(6):
            writer.write(np.roll(rgb, i, axis=1))
    return path


def test_json_csv_and_plot(clip: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, ["micro", "spot", str(clip), "--json", "--plot", str(tmp_path)])
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["intervals"] == []  # a still face slid sideways: head motion only
    assert document["frames"] == 6 and len(document["tracks"]) == 1 and document["fps"] == 10
    assert (tmp_path / "clip_micro.png").stat().st_size > 1000
    table = runner.invoke(app, ["micro", "spot", str(clip), "--csv"])
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].startswith("track,onset,apex,offset,start,end,regions")
    people = runner.invoke(app, ["micro", "spot", str(clip)])
    assert people.exit_code == 0 and "0 micro-movement(s) spotted" in people.stdout


def test_bad_input_is_one_line_and_exit_2(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    for args in (
        [str(tmp_path / "missing.mp4")],
        [str(empty)],
        [str(text)],
        [str(clip), "--threshold", "-2"],
        [str(clip), "--max-duration", "0"],
    ):
        done = runner.invoke(app, ["micro", "spot", *args, "--json"])
        assert done.exit_code == 2, (args, done.stdout, done.stderr)
        assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr
    both = runner.invoke(app, ["micro", "spot", str(clip), "--json", "--csv"])
    assert both.exit_code == 2 and "pick one" in both.stderr


def test_no_face_is_exit_3(tmp_path: Path) -> None:
    from facescope.video import VideoWriter

    path = tmp_path / "blank.mp4"
    with VideoWriter(path, 10.0, 160, 120) as writer:
        for _ in range(3):
            writer.write(np.full((120, 160, 3), 80, np.uint8))
    done = runner.invoke(app, ["micro", "spot", str(path), "--json"])
    assert done.exit_code == 3 and "no face" in done.stderr
