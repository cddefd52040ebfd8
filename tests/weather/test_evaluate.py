"""facescope.weather.evaluate: the weather evaluation behind `facescope eval weather`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.errors import WeatherError
from facescope.pipeline import adapted_ok
from facescope.weather.evaluate import evaluate_weather, write_weather_report


@pytest.fixture(scope="module")
def crops(data: Path) -> tuple[np.ndarray, np.ndarray]:
    names = ["obama_1", "obama_2", "biden_1", "biden_2"]
    faces = np.stack([fs.align(data / f"{n}.jpg")[0] for n in names])
    return faces, np.array(["obama", "obama", "biden", "biden"])


def test_haze_is_measured_and_restored(
    crops: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    faces, ids = crops
    steps: list[tuple[int, int]] = []
    done = evaluate_weather(faces, ids, kinds=["haze"], severities=[4],
                            progress=lambda k, n: steps.append((k, n)))  # fmt: skip
    assert set(done.rows) == {"clean", "haze/4"} and steps[-1] == (2, 2)
    clean, hazy = done.rows["clean"], done.rows["haze/4"]
    assert clean["auto_touched"] == 0.0  # clean faces pass through
    assert clean["auto"]["identity_cosine"] == pytest.approx(1.0, abs=1e-5)
    # with torch, haze goes to the weather-adapted SFace (pixels untouched); without, dehaze
    network = adapted_ok("sface")
    expected = ["adapted"] if network else ["dehaze"]
    assert hazy["detected"] == 1.0 and hazy["auto_applied"] == expected
    assert hazy["auto"]["identity_cosine"] > hazy["degraded"]["identity_cosine"] + 0.05
    assert hazy["classical"]["psnr"] > hazy["degraded"]["psnr"]  # dehazing restores pixels
    assert ("adapted" in hazy) == network and ("adapted" in clean) == network
    assert "| haze/4 |" in done.markdown()
    page = write_weather_report(done, tmp_path / "report")
    assert "data:image/png;base64" in page.read_text()
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["rows"]["haze/4"]["auto_applied"] == expected


def test_bad_requests_are_refused(crops: tuple[np.ndarray, np.ndarray]) -> None:
    faces, ids = crops
    with pytest.raises(WeatherError, match="unknown weather kind"):
        evaluate_weather(faces, ids, kinds=["fog"])
    with pytest.raises(WeatherError, match="identities"):
        evaluate_weather(faces, ids[:3])
    with pytest.raises(WeatherError, match="two people"):
        evaluate_weather(faces, np.array(["a", "b", "c", "d"]))
    with pytest.raises(WeatherError, match="112, 112, 3"):
        evaluate_weather(faces[:, :64], ids)


def test_recovery_is_read_where_the_weather_costs_a_given_loss() -> None:
    from facescope.weather.evaluate import recovered_at_loss

    def row(degraded: float, auto: float) -> dict[str, dict[str, float]]:
        return {"degraded": {"tar": degraded}, "auto": {"tar": auto}}

    rows = {"clean": row(0.9, 0.9), "rain/1": row(0.85, 0.88), "rain/3": row(0.7, 0.8),
            "rain/5": row(0.5, 0.7)}  # fmt: skip
    mid = recovered_at_loss(rows, "rain", 0.125)  # halfway between severities 1 and 3
    assert mid is not None and (mid["from_severity"], mid["to_severity"]) == (1, 3)
    assert mid["degraded_tar"] == pytest.approx(0.775)
    assert mid["auto_tar"] == pytest.approx(0.84)
    assert mid["recovered"] == pytest.approx(0.52)
    exact = recovered_at_loss(rows, "rain", 0.4)
    assert exact is not None and exact["recovered"] == pytest.approx(0.5)
    assert recovered_at_loss(rows, "rain", 0.5) is None  # heavier than anything measured
    assert recovered_at_loss(rows, "snow", 0.1) is None  # not measured at all
