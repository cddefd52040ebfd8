"""Recognition thresholds files: the shared format, the first layout, errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from facescope.errors import CalibrationError
from facescope.heads import Thresholds
from facescope.match.thresholds import (
    THRESHOLDS_ENV,
    Calibration,
    ModelCalibration,
    load_calibration,
)

OLD = {
    "format": "facescope-thresholds/1",
    "source": "my people (40 images, 8 identities)",
    "models": {
        "sface": {
            "thresholds": {"0.01": 0.33, "0.001": 0.41},
            "fnmr": {"0.01": 0.05, "0.001": 0.11},
            "eer": 0.03,
            "impostor_mean": 0.13,
            "impostor_std": 0.09,
            "n_genuine": 140,
            "n_impostor": 640,
        },
        "fusion": {
            "thresholds": {"0.01": 2.0},
            "fnmr": {"0.01": 0.04},
            "eer": 0.02,
            "impostor_mean": 0.0,
            "impostor_std": 0.8,
            "n_genuine": 140,
            "n_impostor": 640,
            "weights": {"sface": 0.6, "dlib": 0.4},
        },
    },
}


def test_user_files_of_the_first_layout_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(OLD))
    for calibration in (load_calibration(path), _from_env(path, monkeypatch)):
        assert calibration.source == OLD["source"]
        assert calibration.for_model("sface").threshold(1e-3) == 0.41
        assert calibration.for_model("fusion").weights == {"sface": 0.6, "dlib": 0.4}
    again = load_calibration(load_calibration(path).save(tmp_path / "new.json"))
    assert json.loads((tmp_path / "new.json").read_text())["format"] == "facescope-thresholds/2"
    assert again.models == load_calibration(path).models and again.source == OLD["source"]


def _from_env(path: Path, monkeypatch: pytest.MonkeyPatch) -> Calibration:
    monkeypatch.setenv(THRESHOLDS_ENV, str(path))
    return load_calibration()


def test_calibration_is_a_thresholds_document(tmp_path: Path) -> None:
    model = ModelCalibration(
        {1e-3: 0.4, 1e-2: 0.3}, {1e-3: 0.1, 1e-2: 0.05}, 0.03, 0.1, 0.09, 9, 30
    )
    weights_only = ModelCalibration({}, {}, 0.0, 0.0, 1.0, 0, 0, {"sface": 1.0})
    calibration = Calibration("toy", {"sface": model, "fusion": weights_only})
    calibration = replace(calibration, provenance={"script": "python scripts/fit_thresholds.py"})
    table = Thresholds.load(calibration.save(tmp_path / "t.json"))
    assert table.by == ("model",) and table.rate == "fmr"
    assert table.threshold(1e-2, model="sface") == 0.3
    assert table.point(1e-3, model="sface").measured == {"fnmr": 0.1}
    assert table.provenance["data"] == "toy"
    loaded = load_calibration(tmp_path / "t.json")
    assert loaded.models == calibration.models and loaded.source == "toy"
    assert loaded.provenance["script"] == "python scripts/fit_thresholds.py"


def test_shipped_thresholds_carry_provenance() -> None:
    calibration = load_calibration()
    assert calibration.provenance["script"] == "python scripts/fit_thresholds.py"
    assert calibration.for_model("sface").threshold(1e-3) > 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"format": "something"}, "not a facescope-thresholds/2"),
        ({**OLD, "models": {"sface": {"thresholds": {}}}}, "malformed"),
        (
            Thresholds("p(live)", "bpcer", []).to_json(),
            "not recognition thresholds",
        ),
    ],
)
def test_bad_files_raise_calibration_errors(
    tmp_path: Path, document: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CalibrationError, match=message):
        load_calibration(path)
    path.write_text("{")
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(path)
