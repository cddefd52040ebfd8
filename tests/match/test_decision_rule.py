"""One threshold story: the 1:1 and 1:N rules, computed from the loaded calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.errors import CalibrationError
from facescope.gallery import Gallery
from facescope.match.thresholds import (
    DEFAULT_FMR,
    DEFAULT_FPIR,
    identification_rule,
    load_calibration,
    per_comparison_fmr,
    threshold_at,
    verification_rule,
)


def _between_calibrated_points(model: str = "sface") -> float:
    """An FMR strictly between the two highest calibrated points (geometric middle)."""
    points = sorted(load_calibration().for_model(model).thresholds)
    assert len(points) >= 2, "the bundled calibration has several FMR points"
    return math.sqrt(points[-1] * points[-2])


def test_the_default_one_to_one_rate_is_documented_as_1e_3() -> None:
    assert DEFAULT_FMR == 1e-3 and DEFAULT_FPIR == 0.01


@pytest.mark.parametrize("model", ["sface", "dlib", "fusion"])
def test_calibrated_points_give_their_calibrated_threshold(model: str) -> None:
    calibration = load_calibration()
    for fmr, value in calibration.for_model(model).thresholds.items():
        rule = verification_rule(calibration, model, fmr)
        assert rule.threshold == value
        assert rule.mode == "1:1" and rule.rate == "fmr" and rule.target == fmr
        assert not rule.interpolated and not rule.extrapolated
        assert calibration.for_model(model).threshold(fmr) == value


def test_an_fmr_between_points_is_interpolated_in_log_fmr() -> None:
    calibration = load_calibration()
    table = calibration.for_model("sface").thresholds
    fmr = _between_calibrated_points()
    rule = verification_rule(calibration, "sface", fmr)
    assert rule.interpolated and rule.threshold == pytest.approx(threshold_at(table, fmr))
    low, high = sorted(table)[-2:]
    assert min(table[low], table[high]) < rule.threshold < max(table[low], table[high])
    # halfway in log10(FMR): halfway between the two thresholds
    assert rule.threshold == pytest.approx((table[low] + table[high]) / 2)
    assert calibration.for_model("sface").threshold(fmr) == rule.threshold


@pytest.mark.parametrize("outside", ["above", "below"])
def test_a_one_to_one_fmr_outside_the_calibrated_range_is_refused_naming_the_range(
    outside: str,
) -> None:
    calibration = load_calibration()
    low, high = calibration.for_model("sface").fmr_range
    fmr = high * 5 if outside == "above" else low / 5
    with pytest.raises(CalibrationError, match="outside the calibrated range") as caught:
        verification_rule(calibration, "sface", fmr)
    assert f"{low:g} to {high:g}" in str(caught.value)
    assert "facescope calibrate" in str(caught.value)
    with pytest.raises(CalibrationError, match="outside the calibrated range"):
        calibration.for_model("sface").threshold(fmr)


def test_per_comparison_fmr_is_the_one_rule_for_shared_decisions() -> None:
    assert per_comparison_fmr(0.01, 1) == 0.01
    assert per_comparison_fmr(0.01, 5) == pytest.approx(1 - 0.99 ** (1 / 5))
    for n in (2, 10, 1000):
        per = per_comparison_fmr(0.01, n)
        assert 1 - (1 - per) ** n == pytest.approx(0.01)
    with pytest.raises(ValueError):
        per_comparison_fmr(1.0, 3)


@pytest.mark.parametrize("n", [1, 2, 5, 1000])
def test_the_one_to_n_threshold_depends_on_gallery_size(n: int) -> None:
    calibration = load_calibration()
    table = calibration.for_model("sface").thresholds
    rule = identification_rule(calibration, "sface", n, 0.01)
    assert rule.mode == "1:N" and rule.rate == "fpir" and rule.target == 0.01
    assert rule.gallery_size == n and rule.comparisons == n
    assert rule.per_comparison_fmr == pytest.approx(1 - 0.99 ** (1 / n))
    assert rule.threshold == pytest.approx(threshold_at(table, rule.per_comparison_fmr))
    low, _ = calibration.for_model("sface").fmr_range
    assert rule.extrapolated == (rule.per_comparison_fmr < low * (1 - 1e-9))
    bigger = identification_rule(calibration, "sface", n + 10, 0.01)
    assert bigger.threshold > rule.threshold  # more people, stricter threshold


def test_rules_say_themselves_in_one_line_and_in_json() -> None:
    calibration = load_calibration()
    one = verification_rule(calibration, "sface")
    threshold = calibration.for_model("sface").threshold(DEFAULT_FMR)
    assert one.describe() == f"1:1 at FMR 1e-3 \u2192 sface threshold {threshold:.3f}"
    many = identification_rule(calibration, "sface", 5)
    text = many.describe()
    assert text.startswith("1:N among 5 subjects at FPIR 1% (per-comparison FMR 2e-3)")
    assert text.endswith(f"sface per-comparison threshold {many.threshold:.3f}")
    data = many.to_dict()
    assert data["mode"] == "1:N" and data["rate"] == "fpir" and data["target"] == 0.01
    assert data["gallery_size"] == 5 and data["model"] == "sface"
    assert data["threshold"] == pytest.approx(many.threshold, abs=1e-6)
    assert data["calibration"] == calibration.source
    assert data["calibration_file"] == "bundled thresholds.json"
    assert data["text"] == text


def test_multi_face_verification_holds_the_fmr_over_all_pairs() -> None:
    calibration = load_calibration()
    rule = verification_rule(calibration, "sface", DEFAULT_FMR, comparisons=4)
    table = calibration.for_model("sface").thresholds
    assert rule.per_comparison_fmr == pytest.approx(per_comparison_fmr(DEFAULT_FMR, 4))
    assert rule.threshold == pytest.approx(threshold_at(table, rule.per_comparison_fmr))
    assert rule.threshold > table[DEFAULT_FMR]


# ---- every path uses the same rule ----------------------------------------------------


def test_api_and_gallery_verify_use_the_same_interpolated_threshold(
    data: Path, tmp_path: Path
) -> None:
    fmr = _between_calibrated_points()
    expected = verification_rule(load_calibration(), "sface", fmr)
    result = fs.verify(data / "obama_1.jpg", data / "obama_2.jpg", fmr=fmr)
    assert result.decision_rule == expected and result.threshold == expected.threshold
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("obama", [data / "obama_1.jpg"])
        assert gallery.threshold(fmr) == expected.threshold
        decided = gallery.verify("obama", data / "obama_2.jpg", fmr=fmr)
        assert decided.decision_rule == expected and decided.threshold == expected.threshold
        assert decided.same_person and decided.to_dict()["decision_rule"] == expected.to_dict()
        with pytest.raises(CalibrationError, match="outside the calibrated range"):
            gallery.verify("obama", data / "obama_2.jpg", fmr=0.5)


def test_identify_known_and_a_gallery_of_the_same_people_agree(data: Path, tmp_path: Path) -> None:
    photos = {"obama": [data / "obama_1.jpg"], "biden": [data / "biden_1.jpg"]}
    known = fs.enroll(photos)
    found = fs.identify(data / "biden_left_obama_right.jpg", known)
    with Gallery.open(tmp_path / "g") as gallery:
        for name, images in photos.items():
            gallery.enroll(name, images)
        in_gallery = gallery.identify(data / "biden_left_obama_right.jpg")
        rule = gallery.identification_rule()
    expected = identification_rule(load_calibration(), "sface", 2, DEFAULT_FPIR)
    assert rule == expected
    assert [f.identity for f in found] == [f.identity for f in in_gallery]
    for face in [*found, *in_gallery]:
        assert face.decision_rule == expected and face.threshold == expected.threshold
        assert face.to_dict()["decision_rule"]["gallery_size"] == 2


def test_identify_fmr_is_deprecated_and_keeps_its_old_threshold(data: Path) -> None:
    known = fs.enroll({"obama": [data / "obama_1.jpg"], "biden": [data / "biden_1.jpg"]})
    with pytest.warns(DeprecationWarning, match="fpir"):
        (face,) = fs.identify(data / "obama_2.jpg", known, fmr=DEFAULT_FMR)
    table = load_calibration().for_model("sface").thresholds
    assert face.threshold == table[DEFAULT_FMR]
    assert face.decision_rule is not None and face.decision_rule.gallery_size == 2
    assert face.decision_rule.per_comparison_fmr == pytest.approx(DEFAULT_FMR)
    assert np.isclose(face.decision_rule.target, 1 - (1 - DEFAULT_FMR) ** 2)
