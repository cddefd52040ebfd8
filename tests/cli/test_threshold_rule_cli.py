"""The CLI states the decision rule it applied, and uses the rule the library uses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import facescope as fs
from facescope.cli import app
from facescope.gallery import Gallery
from facescope.match.thresholds import identification_rule, load_calibration, verification_rule

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _fmr_between_points() -> float:
    """0.005 (the issue's example) when it lies between calibrated points."""
    low, high = load_calibration().for_model("sface").fmr_range
    return 0.005 if low < 0.005 < high else (low * high) ** 0.5


def test_verify_at_an_interpolated_fmr_equals_the_gallery_threshold(
    data: Path, tmp_path: Path
) -> None:
    fmr = _fmr_between_points()
    a, b = str(data / "obama_1.jpg"), str(data / "obama_2.jpg")
    code, out, err = run("verify", a, b, "--fmr", str(fmr), "--json")
    assert code == 0, err
    result = json.loads(out)
    expected = verification_rule(load_calibration(), "sface", fmr)
    assert result["threshold"] == pytest.approx(expected.threshold, abs=1e-6)
    assert result["decision_rule"] == expected.to_dict()
    assert result["decision_rule"]["interpolated"] is True
    assert result["fmr"] == fmr  # the old keys stay
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("obama", [data / "obama_1.jpg"])
        assert gallery.threshold(fmr) == pytest.approx(result["threshold"], abs=1e-6)
        assert (
            gallery.verify("obama", data / "obama_2.jpg", fmr=fmr).to_dict()["decision_rule"]
            == result["decision_rule"]
        )
    assert fs.verify(a, b, fmr=fmr).to_dict()["decision_rule"] == result["decision_rule"]

    code, out, _ = run("verify", a, b, "--fmr", str(fmr))
    said = " ".join(out.split())
    assert code == 0 and f"rule: {expected.describe()}" in said
    if fmr == 0.005:
        assert f"rule: 1:1 at FMR 5e-3 \u2192 sface threshold {expected.threshold:.3f}" in said


def test_verify_outside_the_calibrated_range_is_refused_with_the_range(data: Path) -> None:
    low, high = load_calibration().for_model("sface").fmr_range
    code, out, err = run(
        "verify", str(data / "obama_1.jpg"), str(data / "obama_2.jpg"), "--fmr", "0.5"
    )
    assert code != 0 and not out
    message = " ".join(err.split())
    assert "outside the calibrated range" in message and f"{low:g} to {high:g}" in message


def _people(data: Path, root: Path) -> Path:
    for name in ("obama", "biden"):
        (root / name).mkdir(parents=True)
        for k in (1, 2):
            shutil.copy(data / f"{name}_{k}.jpg", root / name / f"{k}.jpg")
    return root


def test_identify_known_states_the_one_to_n_rule_with_the_number_of_people(
    data: Path, tmp_path: Path
) -> None:
    people = _people(data, tmp_path / "people")
    probe = str(data / "biden_left_obama_right.jpg")
    code, out, err = run("identify", probe, "--known", str(people), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    expected = identification_rule(load_calibration(), "sface", 2).to_dict()
    assert entry["faces"] and all(f["decision_rule"] == expected for f in entry["faces"])
    assert all(f["threshold"] == expected["threshold"] for f in entry["faces"])

    code, out, _ = run("identify", probe, "--known", str(people))
    assert code == 0 and "1:N among 2 subjects at FPIR 1%" in " ".join(out.split())


def test_gallery_identify_states_the_rule_for_its_size(data: Path, tmp_path: Path) -> None:
    gallery = str(tmp_path / "g")
    for name, photo in (("obama", "obama_1"), ("biden", "biden_1"), ("obama again", "obama_2")):
        code, _, err = run("enroll", name, str(data / f"{photo}.jpg"), "-g", gallery)
        assert code == 0, err
    code, out, err = run(
        "identify", str(data / "obama_2.jpg"), "-g", gallery, "--fpir", "0.05", "--json"
    )
    assert code == 0, err
    (face,) = json.loads(out)[0]["faces"]
    expected = identification_rule(load_calibration(), "sface", 3, 0.05)
    assert face["decision_rule"] == expected.to_dict()
    assert face["decision_rule"]["gallery_size"] == 3 and face["decision_rule"]["target"] == 0.05
    code, out, _ = run("identify", str(data / "obama_2.jpg"), "-g", gallery)
    assert code == 0 and "1:N among 3 subjects at FPIR 1%" in " ".join(out.split())
