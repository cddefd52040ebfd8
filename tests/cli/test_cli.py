"""The command line: JSON contracts, exit codes, one-line errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facescope.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_verify_json_contract_and_exit_zero_for_both_outcomes(data: Path) -> None:
    code, out, _ = run("verify", str(data / "obama_1.jpg"), str(data / "obama_2.jpg"), "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {
        "same_person",
        "score",
        "threshold",
        "model",
        "fmr",
        "box_a",
        "box_b",
        "faces_a",
        "faces_b",
        "comparisons",
        "decision_rule",
    }
    assert result["same_person"] is True and result["model"] == "sface"
    assert result["comparisons"] == 1 and len(result["box_a"]) == 4
    code, out, _ = run(
        "verify", str(data / "obama_1.jpg"), str(data / "biden_1.jpg"), "--json", "-m", "fusion"
    )
    assert code == 0 and json.loads(out)["same_person"] is False


def test_verify_compares_every_face_never_just_the_largest(data: Path) -> None:
    """Issue 20 item 4: Obama against a photo of Biden (larger) and Obama is the same person."""
    code, out, _ = run(
        "verify", str(data / "obama_1.jpg"), str(data / "biden_left_obama_right.jpg"), "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["same_person"] is True
    assert result["faces_b"] >= 2 and result["comparisons"] == result["faces_a"] * result["faces_b"]
    # the matched face is Obama, on the right of the photo
    assert 400 < result["box_b"][0] < 600
    code, out, _ = run(
        "verify", str(data / "obama_1.jpg"), str(data / "biden_left_obama_right.jpg")
    )
    assert "compared every face" in out and "best pair" in out


def test_verify_no_face_exits_3(data: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 150), (90, 90, 90)).save(blank)
    code, _, err = run("verify", str(blank), str(data / "obama_1.jpg"))
    assert code == 3
    assert "wall.png: no face found" in err


def _bad_inputs(tmp_path: Path, data: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((data / "obama_1.jpg").read_bytes()[:4000])
    return {
        "empty": (empty, "empty file"),
        "text": (text, "not a recognised image format"),
        "truncated": (truncated, "truncated or corrupt"),
        "missing": (tmp_path / "nope.jpg", "no such file"),
    }


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "missing"])
def test_bad_input_is_one_line_exit_2_without_traceback(
    case: str, tmp_path: Path, data: Path
) -> None:
    path, reason = _bad_inputs(tmp_path, data)[case]
    code, _, err = run("verify", str(path), str(data / "obama_1.jpg"))
    assert code == 2
    assert path.name in err and reason in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_too_large_image_is_refused_before_decoding(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACESCOPE_MAX_PIXELS", "10000")
    code, _, err = run("verify", str(data / "obama_1.jpg"), str(data / "obama_2.jpg"))
    assert code == 2 and "more than the limit" in err


def test_detect_json_and_annotated_output(data: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "detect", str(data / "obama_left_biden_right.jpg"), "--json", "--annotate", str(tmp_path)
    )
    assert code == 0
    result = json.loads(out)
    assert len(result[0]["faces"]) == 2
    assert {"box", "score", "landmarks5"} <= set(result[0]["faces"][0])
    assert (tmp_path / "obama_left_biden_right.annotated.jpg").stat().st_size > 1000


def test_detect_reports_bad_files_and_goes_on(data: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, out, err = run("detect", str(empty), str(data / "obama_1.jpg"), "--json")
    assert code == 2
    assert "empty.png" in err
    assert len(json.loads(out)) == 1


def test_identify_with_a_known_folder(data: Path, tmp_path: Path) -> None:
    for name, files in {"obama": ["obama_1.jpg"], "biden": ["biden_1.jpg"]}.items():
        (tmp_path / name).mkdir()
        for file in files:
            shutil.copy(data / file, tmp_path / name / file)
    code, out, _ = run(
        "identify", str(data / "obama_left_biden_right.jpg"), "--known", str(tmp_path), "--json"
    )
    assert code == 0
    faces = json.loads(out)[0]["faces"]
    assert [f["identity"] for f in faces] == ["obama", "biden"]


def test_calibrate_writes_a_usable_thresholds_file(data: Path, tmp_path: Path) -> None:
    people = tmp_path / "people"
    for name, files in {
        "obama": ["obama_1.jpg", "obama_2.jpg"],
        "biden": ["biden_1.jpg", "biden_2.jpg"],
    }.items():
        (people / name).mkdir(parents=True)
        for file in files:
            shutil.copy(data / file, people / name / file)
    out = tmp_path / "thresholds.json"
    code, stdout, _ = run("calibrate", str(people), "--fmr", "0.01", "--out", str(out), "--json")
    assert code == 0, stdout
    written = json.loads(out.read_text())
    assert written["format"] == "facescope-thresholds/2" and written["rate"] == "fmr"
    models = written["extra"]["models"]
    assert set(models) == {"sface", "dlib", "fusion"}
    assert models["sface"]["n_genuine"] == 2
    assert models["sface"]["n_impostor"] == 4
    (sface_point,) = [p for p in written["points"] if p["model"] == "sface"]
    code, verdict, _ = run(
        "verify",
        str(data / "obama_1.jpg"),
        str(data / "obama_2.jpg"),
        "--thresholds",
        str(out),
        "--fmr",
        "0.01",
        "--json",
    )
    assert code == 0 and json.loads(verdict)["threshold"] == pytest.approx(
        sface_point["threshold"], abs=1e-6
    )


def test_calibrate_refuses_a_folder_without_identities(tmp_path: Path) -> None:
    code, _, err = run("calibrate", str(tmp_path))
    assert code == 2 and "need at least 2 identity sub-folders" in err


def test_models_lists_every_model_as_ok() -> None:
    code, out, _ = run("models", "--json")
    assert code == 0
    listed = json.loads(out)
    from facescope.models.registry import MODEL_FILES

    assert {m["model"] for m in listed} == set(MODEL_FILES)
    assert {"yunet", "sface", "dlib_resnet", "mediapipe_face_mesh", "fer", "facex"} <= set(
        MODEL_FILES
    )
    assert all(m["status"] == "ok" and len(m["sha256"]) == 64 for m in listed)


def test_gallery_cli_enrol_identify_list_remove(data: Path, tmp_path: Path) -> None:
    gallery = str(tmp_path / "gallery")
    assert run("enroll", "obama", str(data / "obama_1.jpg"), "-g", gallery)[0] == 0
    assert run("enroll", "biden", str(data / "biden_1.jpg"), "-g", gallery)[0] == 0
    code, _, err = run("enroll", "obama", str(data / "obama_1.jpg"), "-g", gallery)
    assert code == 2 and "already enrolled" in err
    code, out, _ = run(
        "identify", str(data / "biden_left_obama_right.jpg"), "-g", gallery, "--json"
    )
    assert code == 0
    faces = json.loads(out)[0]["faces"]
    assert [f["identity"] for f in faces] == ["biden", "obama", None]
    assert {"box", "identity", "score", "candidates"} <= set(faces[0])
    # human output: one line per face with its box, never wrapped when piped
    long_name = tmp_path / ("a-long-folder-name-" * 6) / "group.jpg"
    long_name.parent.mkdir()
    shutil.copy(data / "biden_left_obama_right.jpg", long_name)
    code, out, _ = run("identify", str(long_name), "-g", gallery)
    lines = out.splitlines()
    assert code == 0 and str(long_name) in lines[0] and len(lines[0]) > 80
    faces_lines = [line for line in lines if "score" in line]
    assert len(faces_lines) == 3 and all(" box (" in line for line in faces_lines)
    assert faces_lines[0].split()[0] == "biden" and faces_lines[2].split()[0] == "unknown"
    code, out, _ = run("gallery", "list", "-g", gallery, "--json")
    assert {s["name"] for s in json.loads(out)} == {"obama", "biden"}
    exported = tmp_path / "export.json"
    assert run("gallery", "export", str(exported), "-g", gallery)[0] == 0
    assert run("gallery", "remove", "obama", "-g", gallery)[0] == 0
    code, _, err = run("gallery", "remove", "obama", "-g", gallery)
    assert code == 2 and "unknown subject 'obama'" in err
    assert run("gallery", "import", str(exported), "-g", gallery)[0] == 0
    code, out, _ = run("gallery", "show", "obama", "-g", gallery, "--json")
    assert json.loads(out)["templates"] == 1
    code, out, _ = run("gallery", "show", "obama", "-g", gallery)
    assert code == 0 and "obama" in out and "1 template(s)" in out


def test_index_enrols_a_tree_and_reports_bad_files(data: Path, tmp_path: Path) -> None:
    people = tmp_path / "people"
    (people / "obama").mkdir(parents=True)
    (people / "biden").mkdir()
    shutil.copy(data / "obama_1.jpg", people / "obama" / "a.jpg")
    shutil.copy(data / "obama_2.jpg", people / "obama" / "b.jpg")
    shutil.copy(data / "biden_1.jpg", people / "biden" / "a.jpg")
    (people / "biden" / "broken.jpg").write_bytes(b"")
    gallery = str(tmp_path / "gallery")
    code, out, err = run("index", str(people), "-g", gallery)
    assert code == 0
    assert "enrolled 3 of 4" in out and "broken.jpg" in err
    code, out, _ = run("gallery", "list", "-g", gallery, "--json")
    assert {s["name"]: s["templates"] for s in json.loads(out)} == {"biden": 1, "obama": 2}


def test_a_dlib_gallery_keeps_its_model_in_every_command(data: Path, tmp_path: Path) -> None:
    gallery = str(tmp_path / "dlib-gallery")
    assert run("enroll", "obama", str(data / "obama_1.jpg"), "-g", gallery, "-m", "dlib")[0] == 0
    assert run("enroll", "biden", str(data / "biden_1.jpg"), "-g", gallery)[0] == 0
    code, out, _ = run("identify", str(data / "obama_2.jpg"), "-g", gallery, "--json")
    assert code == 0
    face = json.loads(out)[0]["faces"][0]
    assert face["identity"] == "obama" and face["model"] == "dlib"
    code, out, _ = run("gallery", "list", "-g", gallery, "--json")
    assert code == 0 and len(json.loads(out)) == 2
    code, _, err = run("enroll", "x", str(data / "obama_2.jpg"), "-g", gallery, "-m", "sface")
    assert code == 2 and "created with dlib" in err


@pytest.mark.parametrize("damage", ["flipped", "zeroed_page", "empty", "nan_row", "cache"])
def test_a_damaged_gallery_is_one_line_exit_2(data: Path, tmp_path: Path, damage: str) -> None:
    """Issue 18 item 5: no traceback for any damaged gallery file, in every command."""
    import sqlite3

    gallery = tmp_path / "gallery"
    for name, photo in (("obama", "obama_1.jpg"), ("biden", "biden_1.jpg")):
        assert run("enroll", name, str(data / photo), "-g", str(gallery))[0] == 0
    database = gallery / "gallery.sqlite3"
    if damage == "nan_row":
        with sqlite3.connect(database) as db:
            nan = bytes.fromhex("0000c07f") * 128
            db.execute("UPDATE templates SET embedding = ? WHERE id = 1", (nan,))
    else:
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = bytearray(database.read_bytes())
        if damage == "flipped":
            for offset in range(100, len(raw), 97):
                raw[offset] ^= 0xFF
        elif damage == "zeroed_page":
            page = int.from_bytes(raw[16:18], "big")
            raw[page : 2 * page] = bytes(page)
        elif damage == "empty":
            raw = bytearray()
        else:  # a search cache of garbage: rebuilt from the database, never used
            (gallery / "gallery.sqlite3.index").write_bytes(b"FSCACHE2\n" + bytes(200))
        database.write_bytes(bytes(raw))
    commands = [
        ("gallery", "list", "-g", str(gallery)),
        ("identify", str(data / "obama_2.jpg"), "-g", str(gallery)),
        ("gallery", "export", str(tmp_path / "out.json"), "-g", str(gallery)),
    ]
    for command in commands:
        result = runner.invoke(app, list(command))
        # a damaged search cache is rebuilt; listing names does not read a damaged vector
        if damage == "cache" or (damage == "nan_row" and command[1] == "list"):
            assert result.exit_code == 0, (command, result.output)
            continue
        assert result.exit_code == 2, (command, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        message = result.stderr.strip()
        assert "Traceback" not in result.output and len(message.splitlines()) == 1, message
        assert "gallery.sqlite3" in message, message


def test_reading_commands_never_create_a_gallery(data: Path, tmp_path: Path) -> None:
    absent = tmp_path / "no" / "such" / "gallery"
    for command in (
        ("identify", str(data / "obama_1.jpg"), "-g", str(absent)),
        ("gallery", "list", "-g", str(absent)),
        ("gallery", "show", "obama", "-g", str(absent)),
        ("gallery", "remove", "obama", "-g", str(absent)),
        ("gallery", "export", str(tmp_path / "out.json"), "-g", str(absent)),
    ):
        code, _, err = run(*command)
        assert code != 0 and f"no gallery at {absent}" in err, (command, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "out.json").exists()
