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
    assert set(done.embeddings) == {"gallery", "identity", "clean:degraded", "clean:auto",
                                    "haze/4:degraded", "haze/4:auto"}  # fmt: skip
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


def _people(rng: np.random.Generator, noise: float, centres: np.ndarray) -> np.ndarray:
    x = np.repeat(centres, 6, axis=0) + noise * rng.standard_normal((len(centres) * 6, 32))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_bootstrap_gives_an_interval_around_the_recovery(tmp_path: Path) -> None:
    from facescope.match.metrics import threshold_at_fmr
    from facescope.weather.evaluate import (
        FMR,
        WeatherEvaluation,
        _scores,
        bootstrap_recovered,
        recovered_at_loss,
    )

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 32))
    gallery = _people(rng, 0.5, centres)
    ids = np.repeat([f"p{i}" for i in range(8)], 6)
    heavy = {s: _people(rng, 0.5 + 0.35 * s, centres) for s in (1, 3)}
    half = {s: _people(rng, 0.5 + 0.2 * s, centres) for s in (1, 3)}

    def arrays(auto: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        out = {"gallery": gallery, "identity": ids, "clean:degraded": gallery,
               "clean:auto": gallery}  # fmt: skip
        for s in (1, 3):
            out[f"blur/{s}:degraded"], out[f"blur/{s}:auto"] = heavy[s], auto[s]
        return out

    # auto giving back the clean embeddings recovers everything in every draw, and auto
    # changing nothing recovers nothing
    full = bootstrap_recovered(arrays({1: gallery, 3: gallery}), "blur", 0.05, draws=50)
    assert full is not None and full["low"] == pytest.approx(1.0)
    assert full["high"] == pytest.approx(1.0)
    none = bootstrap_recovered(arrays(heavy), "blur", 0.05, draws=50)
    assert none is not None and none["low"] == none["high"] == pytest.approx(0.0)
    # part-way: the interval brackets the figure measured on all the people
    evaluation = WeatherEvaluation("synthetic", len(ids), 8, 0.5, embeddings=arrays(half))
    saved = np.load(evaluation.save_embeddings(tmp_path / "e.npz"), allow_pickle=False)
    spread = bootstrap_recovered(dict(saved), "blur", 0.05, draws=200)
    assert spread is not None and spread["low"] < spread["median"] < spread["high"]
    rows = {}
    for key in ("clean", "blur/1", "blur/3"):
        rows[key] = {}
        for method in ("degraded", "auto"):
            genuine, impostor = _scores(saved[f"{key}:{method}"], gallery, ids)
            rows[key][method] = {"tar": float((genuine >= threshold_at_fmr(impostor, FMR)).mean())}
    everyone = recovered_at_loss(rows, "blur", 0.05)
    assert everyone is not None and spread["low"] <= everyone["recovered"] <= spread["high"]
    assert bootstrap_recovered(dict(saved), "rain", 0.05) is None  # not measured
    with pytest.raises(WeatherError, match="lack"):
        bootstrap_recovered({"gallery": gallery}, "blur", 0.05)
    with pytest.raises(WeatherError, match="draws"):
        bootstrap_recovered(dict(saved), "blur", 0.05, draws=0)
    broken = {**dict(saved), "gallery": np.full_like(gallery, np.nan)}
    with pytest.raises(WeatherError, match="finite"):
        bootstrap_recovered(broken, "blur", 0.05)
