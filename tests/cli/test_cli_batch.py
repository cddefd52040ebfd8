"""Issue 28: commands over many inputs behave like tools.

Every input is processed, each failure is named on its own line, the exit status is 2 at
the end; folders are accepted where photos are; outputs per input never overwrite each
other; ``index`` reads the dataset layouts ``eval`` reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facescope.cli import app
from facescope.io.files import distinct_stems, image_inputs

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def gallery(data: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("batch") / "gallery")
    assert run("enroll", "obama", str(data / "obama_1.jpg"), "-g", path)[0] == 0
    assert run("enroll", "biden", str(data / "biden_1.jpg"), "-g", path)[0] == 0
    return path


def test_identify_goes_on_past_a_bad_input_and_fails_at_the_end(
    data: Path, gallery: str, tmp_path: Path
) -> None:
    not_a_photo = tmp_path / "LICENSE"
    not_a_photo.write_text("MIT License\n")
    code, out, err = run(
        "identify", str(data / "obama_2.jpg"), str(not_a_photo), str(tmp_path / "absent.jpg"),
        str(data / "biden_2.jpg"), "-g", gallery, "--json",
    )  # fmt: skip
    assert code == 2
    found = json.loads(out)
    assert [Path(e["image"]).name for e in found] == ["obama_2.jpg", "biden_2.jpg"]
    assert [e["faces"][0]["identity"] for e in found] == ["obama", "biden"]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 2 and "LICENSE" in lines[0] and "absent.jpg" in lines[1]
    assert "no such file" in lines[1]
    # human output too: the good photos are printed
    code, out, _ = run("identify", str(not_a_photo), str(data / "obama_2.jpg"), "-g", gallery)
    assert code == 2 and "obama_2.jpg" in out and "obama" in out


def test_identify_and_detect_take_folders(data: Path, gallery: str, tmp_path: Path) -> None:
    folder = tmp_path / "probes"
    (folder / "deeper").mkdir(parents=True)
    shutil.copy(data / "obama_2.jpg", folder / "a.jpg")
    shutil.copy(data / "biden_2.jpg", folder / "deeper" / "b.jpg")
    (folder / "notes.txt").write_text("not a photo, not looked at")
    code, out, err = run("identify", str(folder), "-g", gallery, "--json")
    assert code == 0, err
    found = {Path(e["image"]).name: e["faces"][0]["identity"] for e in json.loads(out)}
    assert found == {"a.jpg": "obama", "b.jpg": "biden"}
    code, out, _ = run("detect", str(folder), "--json")
    assert code == 0 and len(json.loads(out)) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run("detect", str(empty), str(folder), "--json")
    assert code == 2 and "no photos in this folder" in err and len(json.loads(out)) == 2


def test_detect_annotate_never_overwrites_same_named_inputs(data: Path, tmp_path: Path) -> None:
    inputs = []
    for folder in ("day1", "day2", "day3"):
        (tmp_path / folder).mkdir()
        shutil.copy(data / "obama_1.jpg", tmp_path / folder / "photo.jpg")
        inputs.append(str(tmp_path / folder / "photo.jpg"))
    shutil.copy(data / "biden_1.jpg", tmp_path / "day1" / "other.jpg")
    inputs.append(str(tmp_path / "day1" / "other.jpg"))
    out_dir = tmp_path / "annotated"
    code, _, err = run("detect", *inputs, "--annotate", str(out_dir))
    assert code == 0, err
    written = sorted(p.name for p in out_dir.iterdir())
    assert len(written) == len(inputs)
    assert "other.annotated.jpg" in written and "day2_photo.annotated.jpg" in written


def test_distinct_stems_and_image_inputs(tmp_path: Path) -> None:
    assert distinct_stems(["a/x.jpg", "b/x.png", "c/y.jpg"]) == ["a_x", "b_x", "y"]
    assert distinct_stems(["x.jpg", "x.png"]) == ["x", "x-2"]
    assert distinct_stems(["a/x.jpg", "a/x.png", "a_x.jpg"]) == ["a_x", "a_x-2", "a_x-3"]
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "p.JPG").write_bytes(b"x")
    (tmp_path / "g").mkdir()
    files, problems = image_inputs([tmp_path / "nope.png", tmp_path / "f", tmp_path / "g"])
    assert files == [tmp_path / "nope.png", tmp_path / "f" / "p.JPG"]
    assert [p for p, _ in problems] == [tmp_path / "g"]


def test_enroll_takes_a_folder_and_is_all_or_nothing(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "obama"
    folder.mkdir()
    for name in ("obama_1.jpg", "obama_2.jpg"):
        shutil.copy(data / name, folder / name)
    store = str(tmp_path / "g")
    code, out, err = run("enroll", "obama", str(folder), "-g", store, "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 2
    code, _, err = run("enroll", "biden", str(data / "biden_1.jpg"), str(tmp_path / "gone.jpg"),
                       "-g", store)  # fmt: skip
    assert code == 2 and "gone.jpg" in err
    code, out, _ = run("gallery", "list", "-g", store, "--json")
    assert [s["name"] for s in json.loads(out)] == ["obama"]


def test_index_reads_a_flat_folder_with_labels_csv(data: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = ["path,identity"]
    for name in ("obama_1.jpg", "obama_2.jpg", "biden_1.jpg", "biden_2.jpg"):
        shutil.copy(data / name, flat / name)
        rows.append(f"{name},{name.split('_')[0]}")
    (flat / "labels.csv").write_text("\n".join(rows) + "\n")
    store = str(tmp_path / "g")
    code, out, err = run("index", str(flat), "-g", store, "--json")
    assert code == 0, err
    assert json.loads(out)["added"] == 4
    code, out, _ = run("gallery", "list", "-g", store, "--json")
    assert sorted(s["name"] for s in json.loads(out)) == ["biden", "obama"]


def test_analyze_takes_photos_and_folders_into_one_table(data: Path, tmp_path: Path) -> None:
    for folder, photo in (("a", "obama_1.jpg"), ("b", "biden_1.jpg")):
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(data / photo, tmp_path / "in" / folder / "x.jpg")
    (tmp_path / "in" / "bad.jpg").write_text("not a photo")
    table = tmp_path / "table.csv"
    code, _, err = run(
        "analyze", str(tmp_path / "in"), str(data / "obama_2.jpg"), "--no-expressions",
        "--out", str(table), "--plot", str(tmp_path / "plots"),
    )  # fmt: skip
    assert code == 2 and "bad.jpg" in err and "not a recognised image format" in err
    import pandas as pd

    rows = pd.read_csv(table)
    assert sorted(Path(p).name for p in rows["input"]) == ["obama_2.jpg", "x.jpg", "x.jpg"]
    assert set(rows["frame"]) == {0}
    pictures = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pictures == ["a_x_analysis.jpg", "b_x_analysis.jpg", "obama_2_analysis.jpg"]
