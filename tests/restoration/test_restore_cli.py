"""``facescope restore``: many files and folders, --json, skipped files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from facescope.cli import app
from facescope.weather import degrade

runner = CliRunner()


def test_restore_writes_every_image_and_reports_what_it_did(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    photo = cv2.imread(str(data / "obama_1.jpg"))
    cv2.imwrite(str(folder / "clean.png"), photo)
    hazy = degrade(np.ascontiguousarray(photo[:, :, ::-1]), "haze", 4, seed=0)
    cv2.imwrite(str(folder / "hazy.png"), hazy[:, :, ::-1])
    (folder / "broken.jpg").write_bytes(b"")
    out = tmp_path / "out"
    result = runner.invoke(app, ["restore", str(folder), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    by_name = {Path(r["path"]).name: r for r in document["results"]}
    assert set(by_name) == {"clean.png", "hazy.png"}
    assert by_name["clean.png"]["applied"] == []
    assert "haze" in by_name["hazy.png"]["detected"]["present"]
    assert "dehaze" in by_name["hazy.png"]["applied"]
    assert [Path(s["path"]).name for s in document["skipped"]] == ["broken.jpg"]
    clean_out = cv2.imread(by_name["clean.png"]["out"])
    np.testing.assert_array_equal(clean_out, photo)  # passed through untouched
    assert (out / "hazy.png").is_file()


def test_restore_refuses_a_method_it_does_not_know(data: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["restore", str(data / "obama_1.jpg"), "--out", str(tmp_path), "--method", "x"]
    )
    assert result.exit_code == 2
    assert "unknown restoration method" in result.output


def test_restore_with_nothing_to_read_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    result = runner.invoke(app, ["restore", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no photos" in result.output


def test_train_and_eval_refuse_a_dataset_without_faces(tmp_path: Path) -> None:
    for person in ("a", "b"):
        (tmp_path / "people" / person).mkdir(parents=True)
        cv2.imwrite(
            str(tmp_path / "people" / person / "wall.png"), np.full((90, 120, 3), 90, np.uint8)
        )
        (tmp_path / "people" / person / "empty.jpg").write_bytes(b"")
    people = str(tmp_path / "people")
    trained = runner.invoke(app, ["restore", "train", people, "--out", str(tmp_path / "w.npz")])
    assert trained.exit_code == 2 and "no face found in any photo" in trained.output
    assert not (tmp_path / "w.npz").exists()
    evaluated = runner.invoke(app, ["eval", "weather", people, "--kind", "haze"])
    assert evaluated.exit_code == 2 and "no face found in any photo" in evaluated.output
