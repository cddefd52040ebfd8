"""``POST /v1/pad``: presentation-attack detection over the REST service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from service_helpers import error_code, upload

from facescope.pad import check


def test_pad_endpoint_matches_the_library(service: Any, data: Path) -> None:
    response = service.post("/v1/pad", files=upload(data / "obama_1.jpg"))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = check(data / "obama_1.jpg")
    assert body["live_probability"] == pytest.approx(expected.live_probability, abs=1e-4)
    assert body["is_live"] == expected.is_live and body["calibrated"] is False
    assert body["decision"] == expected.decision in {"live", "attack", "uncertain"}
    assert body["uncertain_band"] == pytest.approx(list(expected.uncertain_band or ()), abs=1e-4)
    assert "NUAA" in body["threshold_source"] or "held out" in body["threshold_source"]
    assert len(body["heatmap"]) == 6 and body["explanation"] == expected.explanation
    assert {e["cue"] for e in body["evidence"]} == {e.cue for e in expected.evidence}


def test_pad_endpoint_without_a_face_is_422(service: Any, tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(blank)
    response = service.post("/v1/pad", files=upload(blank))
    assert response.status_code == 422 and error_code(response) == "no_face"


def test_enrolment_records_the_spectrum(service: Any, data: Path) -> None:
    response = service.post("/v1/collections/default/subjects/obama/faces?spectrum=nir",
                            files=upload(data / "obama_1.jpg"))  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["spectrum"] == "nir"
    guessed = service.post("/v1/collections/default/subjects/obama/faces",
                           files=upload(data / "obama_2.jpg"))  # fmt: skip
    assert guessed.status_code == 201 and guessed.json()["spectrum"] == "vis"
    bad = service.post("/v1/collections/default/subjects/obama/faces?spectrum=uv",
                       files=upload(data / "biden_1.jpg"))  # fmt: skip
    assert bad.status_code in (400, 422)
