"""`facescope analyze`: images and videos in; JSON, CSV, tables and pictures out; bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from typer.testing import CliRunner

from facescope.cli import app
from facescope.io.image import load_image
from facescope.video import VideoWriter

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_analyze_image_json_has_every_measure(data: Path) -> None:
    code, out, _ = run("analyze", str(data / "biden_2.jpg"), "--json")
    assert code == 0
    document = json.loads(out)
    face = document["faces"][0]
    assert len(face["mesh"]) == 478 and len(face["mesh"][0]) == 3
    assert {"yaw", "pitch", "roll", "gaze_yaw", "ear_left", "mouth_open", "quality"} <= set(face)
    assert set(face["expressions"]) == {
        "anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"
    }  # fmt: skip
    assert face["expression"] == "happiness"
    assert "AU12" in face["action_units"]


def test_analyze_image_csv_table_and_picture(data: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "analyze", str(data / "biden_left_obama_right.jpg"), "--csv", "--no-expressions",
        "--plot", str(tmp_path), "--out", str(tmp_path / "faces.parquet"),
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) >= 2 and rows[0]["expression"] == ""
    source = str(data / "biden_left_obama_right.jpg")
    assert {r["input"] for r in rows} == {source} and {r["frame"] for r in rows} == {"0"}
    assert {"FaceRectX", "FaceRectWidth", "FaceScore", "Pitch", "Roll", "Yaw"} <= set(rows[0])
    assert "x_0" not in rows[0] and "mesh_x_0" not in rows[0]
    picture = tmp_path / "biden_left_obama_right_analysis.jpg"
    assert picture.is_file()
    assert Image.open(picture).size == Image.open(data / "biden_left_obama_right.jpg").size
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "faces.parquet")) == len(rows)


def test_analyze_video_rows_per_frame_with_timestamps_and_plot(data: Path, tmp_path: Path) -> None:
    rgb = cv2.resize(load_image(data / "obama_2.jpg"), (320, 240))
    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, 10.0, 320, 240) as writer:
        for i in range(8):
            writer.write(np.roll(rgb, i, axis=1))
    code, out, _ = run("analyze", str(clip), "--csv", "--no-expressions", "--plot", str(tmp_path))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 8
    assert [round(float(r["time"]), 2) for r in rows] == [round(i / 10, 2) for i in range(8)]
    assert {r["track"] for r in rows} == {"1"}
    assert {r["input"] for r in rows} == {str(clip)}
    assert [r["frame"] for r in rows] == [str(i) for i in range(8)]
    assert (tmp_path / "clip_timeseries.png").stat().st_size > 10_000
    assert (tmp_path / "clip_frame.jpg").is_file()


def test_analyze_table_gets_landmark_and_mesh_columns(data: Path, tmp_path: Path) -> None:
    code, _, _ = run(
        "analyze", str(data / "obama_1.jpg"), "--no-expressions", "--landmarks68",
        "--mesh-columns", "--out", str(tmp_path / "faces.csv"),
    )  # fmt: skip
    assert code == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "faces.csv")
    columns = set(table.columns)
    assert {f"x_{i}" for i in range(68)} | {f"y_{i}" for i in range(68)} <= columns
    assert {f"mesh_{a}_{i}" for a in "xyz" for i in range(478)} <= columns
    assert table[["x_0", "y_67", "mesh_z_477"]].notna().all(axis=None)
    assert table["input"].iloc[0] == str(data / "obama_1.jpg") and table["frame"].iloc[0] == 0


def test_analyze_bad_input_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run("analyze", str(broken))
    assert code == 2 and "broken.jpg" in err and "Traceback" not in err
    code, _, err = run("analyze", str(tmp_path / "missing.png"))
    assert code == 2 and "no such file" in err
    code, _, err = run("analyze", str(tmp_path / "missing.mp4"))
    assert code == 2 and "missing.mp4" in err and "Traceback" not in err


def test_analyze_an_image_without_faces_prints_an_empty_table(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 150), (90, 90, 90)).save(blank)
    code, out, _ = run("analyze", str(blank))
    assert code == 0 and "0 face(s)" in out


def test_analyze_empty_wrong_type_and_bomb_inputs_fail_clearly(tmp_path: Path) -> None:
    import pytest

    import facescope as fs
    from facescope.errors import ImageTooLargeError, InvalidImageError

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    code, _, err = run("analyze", str(empty))
    assert code == 2 and "empty.jpg" in err and "Traceback" not in err
    with pytest.raises(InvalidImageError):
        fs.analyze(12345)  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="NaN"):
        fs.analyze(np.full((10, 10, 3), np.nan))
    with pytest.raises(InvalidImageError, match="shape"):
        fs.analyze(np.zeros((2, 10, 10, 3), np.uint8))
    bomb = tmp_path / "bomb.png"
    Image.new("L", (12000, 12000)).save(bomb)  # 144 Mpx: over the decode limit
    with pytest.raises(ImageTooLargeError):
        fs.analyze(bomb)
