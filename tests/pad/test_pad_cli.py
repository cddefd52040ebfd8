"""`facescope pad`, `pad calibrate`, `pad train` and `audit pad` from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    assert "p(live)" in out and "chroma_texture" in out and "calibrate" in out
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
