"""`facescope pad`, `pad calibrate`, `pad train` and `audit pad` from the command line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from facescope.cli import app
from facescope.io import load_image
from facescope.pad.model import load_model
from facescope.pad.synth import synthesize

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _save(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_pad_file_explains_and_draws_the_heatmap(data: Path, tmp_path: Path) -> None:
    heat = tmp_path / "heat.png"
    code, out, _ = run("pad", str(data / "obama_1.jpg"), "--explain", "--heatmap", str(heat))
    assert code == 0, out
    assert "p(live)" in out and "stem" in out and "calibrate" in out
    picture = cv2.imread(str(heat))
    assert picture is not None and picture.shape == (224, 448, 3)


def test_pad_json_contract(data: Path) -> None:
    code, out, _ = run("pad", "check", str(data / "biden_1.jpg"), "--json")
    assert code == 0
    result = json.loads(out)
    assert {"live_probability", "is_live", "attack_type", "evidence", "heatmap",
            "explanation"} <= set(result)  # fmt: skip
    assert len(result["heatmap"]) == 6


def test_pad_bad_input_exits_2_or_3(tmp_path: Path) -> None:
    code, _, err = run("pad", str(tmp_path / "missing.jpg"))
    assert code == 2 and "missing.jpg" in err
    blank = _save(tmp_path / "wall.png", np.full((200, 200, 3), 90, np.uint8))
    code, _, err = run("pad", str(blank))
    assert code == 3 and "no face" in err


def test_calibrate_sets_the_threshold_from_bona_fide_captures(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "calibrated.json"
    code, text, _ = run("pad", "calibrate", str(data / "obama_1.jpg"), str(data / "biden_1.jpg"),
                        "--out", str(out), "--bpcer", "0")  # fmt: skip
    assert code == 0, text
    assert "only 2 bona fide crops" in text
    model = load_model(out)
    assert model.meta["calibrated_on_real"] is True
    code, text, _ = run("pad", str(data / "obama_1.jpg"), "--model", str(out), "--json")
    assert code == 0 and json.loads(text)["is_live"] is True  # BPCER 0 on this very capture


def test_calibrate_refuses_captures_without_faces(tmp_path: Path) -> None:
    _save(tmp_path / "wall.png", np.full((200, 200, 3), 90, np.uint8))
    code, _, err = run("pad", "calibrate", str(tmp_path), "--out", str(tmp_path / "m.json"))
    assert code == 2 and "no face" in err
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_train_refits_with_real_attacks(data: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    prints = tmp_path / "prints"
    prints.mkdir()
    for name in ("obama_2.jpg", "biden_2.jpg"):
        _save(prints / name, synthesize(load_image(data / name), "print", rng))
    out = tmp_path / "trained.json"
    code, text, _ = run("pad", "train", "--bona-fide", str(data / "obama_1.jpg"),
                        "--bona-fide", str(data / "biden_1.jpg"), "--attack", f"print={prints}",
                        "--out", str(out), "--json")  # fmt: skip
    assert code == 0, text
    summary = json.loads(text)
    assert summary["real_attacks"] == {"print": 2}
    assert load_model(out).classes == ("bona_fide", "print", "replay")
    code, _, err = run("pad", "train", "--bona-fide", str(data / "obama_1.jpg"),
                       "--attack", "prints-without-species", "--out", str(out))  # fmt: skip
    assert code == 2 and "SPECIES=PATH" in err


@pytest.fixture()
def two_people(data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "gallery"
    for who in ("obama", "biden"):
        (root / who).mkdir(parents=True)
        for k in (1, 2):
            shutil.copy(data / f"{who}_{k}.jpg", root / who / f"{k}.jpg")
    return root


def test_audit_pad_reports_iapmr_with_and_without_pad(two_people: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    code, text, _ = run("audit", "pad", "--gallery", str(two_people), "--report", str(report),
                        "--json")  # fmt: skip
    assert code == 0, text
    metrics = json.loads(text)
    assert set(metrics["species"]) == {"print", "replay"}
    for values in metrics["species"].values():
        assert values["n"] == 2
        assert 0.0 <= values["iapmr_verification_with_pad"] <= values["iapmr_verification"] <= 1.0
    assert metrics["bona_fide"]["fnmr"] == 0.0  # same-person press photos match at FMR 1e-3
    assert (report / "index.html").is_file()


def test_audit_pad_bad_arguments(two_people: Path, tmp_path: Path) -> None:
    code, _, err = run("audit", "pad", "--gallery", str(two_people), "--spectrum", "uv")
    assert code == 2 and "spectrum" in err
    code, _, err = run("audit", "pad", "--gallery", str(two_people), "--probes", "2")
    assert code == 2 and "more than 2" in err
    attacks = tmp_path / "attacks.csv"
    attacks.write_text("path,identity,species\nx.jpg,nobody,print\n")
    code, _, err = run("audit", "pad", "--gallery", str(two_people), "--attacks", str(attacks))
    assert code == 2 and "nobody" in err


@pytest.mark.slow
def test_audit_pad_in_pseudo_nir_names_its_threshold(two_people: Path, tmp_path: Path) -> None:
    from facescope.spectral import SpectralThresholds

    code, text, _ = run("audit", "pad", "--gallery", str(two_people), "--spectrum", "nir",
                        "--json")  # fmt: skip
    assert code == 0, text
    metrics = json.loads(text)
    assert (
        metrics["spectrum"] == "nir" and "no --spectral-thresholds" in metrics["threshold_source"]
    )
    rng = np.random.default_rng(0)
    genuine, impostor = rng.uniform(0.5, 0.9, 200), rng.uniform(-0.2, 0.3, 5000)
    pairs = {(a, b): (genuine, impostor) for a, b in (("vis", "vis"), ("vis", "nir"))}
    path = SpectralThresholds.calibrate(pairs, fmr=1e-3, model="sface").save(tmp_path / "t.json")
    code, text, _ = run("audit", "pad", "--gallery", str(two_people), "--spectrum", "nir",
                        "--spectral-thresholds", str(path), "--json")  # fmt: skip
    assert code == 0, text
    metrics = json.loads(text)
    assert metrics["threshold"] == pytest.approx(
        SpectralThresholds.load(path).threshold("vis", "nir")
    )


def test_audit_pad_refuses_bad_attack_files(two_people: Path, tmp_path: Path) -> None:
    code, _, err = run("audit", "pad", "--gallery", str(two_people), "--attacks",
                       str(tmp_path / "none.csv"))  # fmt: skip
    assert code == 2 and "no such attacks file" in err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,who\nx.jpg,obama\n")
    code, _, err = run("audit", "pad", "--gallery", str(two_people), "--attacks", str(wrong))
    assert code == 2 and "path,identity,species" in err


# ---- several files and folders, skipped files, progress --------------------------------


@pytest.fixture()
def mixed(data: Path, tmp_path: Path) -> Path:
    """A folder: two portraits, a zero-byte .jpg, a text file named .png, notes.txt (ignored)."""
    folder = tmp_path / "captures"
    folder.mkdir()
    shutil.copy(data / "obama_1.jpg", folder / "b_obama.jpg")
    shutil.copy(data / "biden_1.jpg", folder / "a_biden.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not a picture\n")
    (folder / "notes.txt").write_text("not media\n")
    return folder


def _clip(data: Path, path: Path, frames: int = 8) -> Path:
    from facescope.video import VideoWriter

    rgb = cv2.resize(load_image(data / "obama_2.jpg"), (320, 240))
    with VideoWriter(path, 10.0, 320, 240) as writer:
        for i in range(frames):
            writer.write(np.roll(rgb, i, axis=1))
    return path


def test_pad_checks_several_files_in_one_call(data: Path) -> None:
    obama, biden = str(data / "obama_1.jpg"), str(data / "biden_1.jpg")
    code, out, _ = run("pad", obama, biden)
    assert code == 0, out
    lines = [line for line in out.splitlines() if "p(live)" in line]
    assert len(lines) == 2
    assert lines[0].startswith(obama) and lines[1].startswith(biden)
    code, out, _ = run("pad", "check", obama, biden)  # the explicit sub-command too
    assert code == 0 and out.count("p(live)") == 2


def test_pad_folder_skips_bad_files_with_their_reason(mixed: Path) -> None:
    code, out, err = run("pad", str(mixed))
    assert code == 0, err
    checked = [line.split(":")[0] for line in out.splitlines() if "p(live)" in line]
    assert checked == [str(mixed / "a_biden.jpg"), str(mixed / "b_obama.jpg")]  # sorted
    assert f"skipped: {mixed / 'empty.jpg'}: empty file" in err
    assert f"skipped: {mixed / 'text.png'}:" in err
    assert "notes.txt" not in out + err  # not a photo or video: not listed


def test_pad_json_for_several_files(mixed: Path, data: Path) -> None:
    code, out, _ = run("pad", str(mixed), str(data / "obama_2.jpg"), "--json")
    assert code == 0
    document = json.loads(out)  # only the document on stdout: no progress, no skipped lines
    assert set(document) == {"results", "skipped"}
    paths = [r["path"] for r in document["results"]]
    assert paths == [str(mixed / "a_biden.jpg"), str(mixed / "b_obama.jpg"),
                     str(data / "obama_2.jpg")]  # fmt: skip
    for result in document["results"]:
        assert {"path", "live_probability", "is_live", "attack_type", "evidence",
                "heatmap", "explanation"} <= set(result)  # fmt: skip
    skipped = {s["path"]: s["reason"] for s in document["skipped"]}
    assert set(skipped) == {str(mixed / "empty.jpg"), str(mixed / "text.png")}
    assert "empty file" in skipped[str(mixed / "empty.jpg")]
    assert all(reason and not reason.startswith(path) for path, reason in skipped.items())


def test_pad_exits_2_when_no_file_could_be_checked(mixed: Path, tmp_path: Path) -> None:
    code, out, err = run("pad", str(mixed / "empty.jpg"), str(mixed / "text.png"), "--json")
    assert code == 2 and out == ""
    assert "empty.jpg" in err and "text.png" in err and "none of the 2 file(s)" in err
    empty = tmp_path / "nothing"
    empty.mkdir()
    code, _, err = run("pad", str(empty))
    assert code == 2 and "no photos or videos" in err


def test_pad_heatmap_is_a_folder_with_several_files(data: Path, tmp_path: Path) -> None:
    heat = tmp_path / "heat"
    code, out, _ = run("pad", str(data / "obama_1.jpg"), str(data / "biden_1.jpg"),
                       "--heatmap", str(heat))  # fmt: skip
    assert code == 0, out
    assert sorted(p.name for p in heat.iterdir()) == ["biden_1_heatmap.png", "obama_1_heatmap.png"]
    picture = cv2.imread(str(heat / "obama_1_heatmap.png"))
    assert picture is not None and picture.shape == (224, 448, 3)
    assert f"heatmap: {heat / 'biden_1_heatmap.png'}" in out


def test_pad_video_progress_follows_frames_and_stays_off_stdout(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facescope.pad import deployment

    clip = _clip(data, tmp_path / "clip.mp4")
    seen: dict[str, list[tuple[int, int]]] = {}
    check_file = deployment.check_file

    def recording(source: Path, **kwargs: Any) -> Any:
        progress = kwargs["progress"]
        assert callable(progress)

        def step(done: int, total: int) -> None:
            seen.setdefault(Path(source).name, []).append((done, total))
            progress(done, total)

        return check_file(source, **{**kwargs, "progress": step})

    monkeypatch.setattr(deployment, "check_file", recording)
    code, out, _ = run("pad", str(clip), str(data / "obama_1.jpg"), "--json")
    assert code == 0
    document = json.loads(out)
    assert [r["path"] for r in document["results"]] == [str(clip), str(data / "obama_1.jpg")]
    assert document["results"][0]["frames"] > 1
    assert seen["clip.mp4"] and seen["clip.mp4"][-1][0] == document["results"][0]["frames"]
    code, out, _ = run("pad", str(clip), "--json")  # one video: today's document, a bar too
    assert code == 0 and json.loads(out)["frames"] > 1 and len(seen["clip.mp4"]) > 2


def _result(is_live: bool, **extra: object) -> Any:
    """What `_checked` reads of a result; without `decision`/`calibrated` unless given."""
    return SimpleNamespace(
        is_live=is_live, attack_type="none" if is_live else "print", live_probability=0.5,
        threshold=0.4, frames=1, evidence=[], explanation="", **extra,
    )  # fmt: skip


def _rendered(lines: Iterable[Any]) -> str:
    from rich.console import Console

    console = Console(width=400, no_color=True)
    with console.capture() as captured:
        for line in lines:
            console.print(line)
    return captured.get()


def test_pad_rendering_of_uncertain_and_uncalibrated_results() -> None:
    from facescope.cli.pad import NOT_CALIBRATED, Checked, _checked, _checked_all

    path = Path("door.jpg")
    old = _rendered(_checked(_result(False), path, False, None))  # results without the fields
    assert "ATTACK" in old and "most likely print" in old
    assert "LIVE" in _rendered(_checked(_result(True), path, False, None))
    unsure = _result(False, decision="uncertain", calibrated=True)
    text = _rendered(_checked(unsure, path, False, None))
    assert "UNCERTAIN" in text and "ATTACK" not in text and "most likely" not in text
    several = Checked([(Path(f"{k}.jpg"), _result(True, calibrated=False), None) for k in range(3)])
    text = _rendered(_checked_all(several, False))
    assert text.count(NOT_CALIBRATED) == 1  # once per run, after the files
    assert text.rstrip().endswith("captures from yours")
    assert NOT_CALIBRATED not in _rendered(
        _checked_all(Checked([(path, _result(True), None)]), False)
    )
    assert NOT_CALIBRATED not in _rendered(_checked_all(Checked([(path, unsure, None)]), False))
