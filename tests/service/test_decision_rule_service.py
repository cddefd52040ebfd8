"""REST responses state the decision rule, and it is the rule the library applies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_helpers import client, error_code, upload

import facescope as fs
from facescope.match.thresholds import identification_rule, load_calibration, verification_rule


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[Any]:
    with client(tmp_path / "data") as test_client:
        yield test_client


def _fmr_between_points() -> float:
    low, high = load_calibration().for_model("sface").fmr_range
    return 0.005 if low < 0.005 < high else (low * high) ** 0.5


def _pair(data: Path) -> dict[str, Any]:
    return {**upload(data / "obama_1.jpg", "image_a"), **upload(data / "obama_2.jpg", "image_b")}


def test_verify_pair_and_subject_use_the_library_rule(api: Any, data: Path) -> None:
    fmr = _fmr_between_points()
    expected = verification_rule(load_calibration(), "sface", fmr).to_dict()
    pair = api.post("/v1/verify", params={"fmr": fmr}, files=_pair(data))
    assert pair.status_code == 200, pair.text
    body = pair.json()
    assert body["decision_rule"] == expected and body["threshold"] == expected["threshold"]
    assert body["fmr"] == fmr  # the old keys stay
    library = fs.verify(data / "obama_1.jpg", data / "obama_2.jpg", fmr=fmr).to_dict()
    assert library["decision_rule"] == expected and library["threshold"] == body["threshold"]

    enrolled = api.post(
        "/v1/collections/default/subjects/obama/faces", files=upload(data / "obama_1.jpg")
    )
    assert enrolled.status_code == 201, enrolled.text
    subject = api.post(
        "/v1/verify",
        params={"fmr": fmr, "collection": "default", "subject": "obama"},
        files=upload(data / "obama_2.jpg"),
    )
    assert subject.status_code == 200, subject.text
    assert subject.json()["decision_rule"] == expected
    assert subject.json()["same_person"] is True


def test_verify_outside_the_calibrated_range_is_refused_with_the_range(
    api: Any, data: Path
) -> None:
    low, high = load_calibration().for_model("sface").fmr_range
    refused = api.post("/v1/verify", params={"fmr": 0.5}, files=_pair(data))
    assert refused.status_code == 422 and error_code(refused) == "not_calibrated"
    message = refused.json()["error"]["message"]
    assert "outside the calibrated range" in message and f"{low:g} to {high:g}" in message


def test_identify_and_collection_state_the_one_to_n_rule_for_their_size(
    api: Any, data: Path
) -> None:
    for name, photo in (("obama", "obama_1.jpg"), ("biden", "biden_1.jpg")):
        response = api.post(
            f"/v1/collections/default/subjects/{name}/faces", files=upload(data / photo)
        )
        assert response.status_code == 201, response.text
    found = api.post(
        "/v1/collections/default/identify",
        params={"fpir": 0.02},
        files=upload(data / "obama_2.jpg"),
    )
    assert found.status_code == 200, found.text
    body = found.json()
    expected = identification_rule(load_calibration(), "sface", 2, 0.02).to_dict()
    assert body["decision_rule"] == expected and body["threshold"] == expected["threshold"]
    assert body["decision_rule"]["gallery_size"] == body["subjects"] == 2
    assert [f["identity"] for f in body["faces"]] == ["obama"]

    detail = api.get("/v1/collections/default").json()
    default = identification_rule(load_calibration(), "sface", 2).to_dict()
    assert detail["open_set_rule"] == default
    assert detail["open_set_threshold"] == pytest.approx(default["threshold"], abs=1e-6)
