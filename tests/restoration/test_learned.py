"""The learned restorer: architecture, weights file, training loop (torch extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import facescope as fs
from facescope.errors import WeatherError
from facescope.restoration.learned import (
    REGIONS,
    RESTORER_ENV,
    build_restorer,
    load_restorer,
    restore_learned,
    save_restorer,
    shipped_available,
)
from facescope.weather.train import TrainConfig, region_map, train_restorer


@pytest.fixture(scope="module")
def crops(data: Path) -> np.ndarray:
    return np.stack([fs.align(data / f"{n}.jpg")[0] for n in ("obama_1", "obama_2", "biden_1")])


def test_region_map_puts_the_mesh_regions_on_the_template() -> None:
    labels = region_map()
    assert labels.shape == (112, 112) and labels.max() == len(REGIONS) - 1
    eyes, nose, lips = (labels == REGIONS.index(r) for r in ("eyes", "nose", "lips"))
    ys, xs = np.nonzero(eyes)
    assert 40 < ys.mean() < 60 and xs.min() < 45 and xs.max() > 70  # both eyes, at eye height
    assert np.nonzero(nose)[0].mean() < np.nonzero(lips)[0].mean()  # nose above the lips
    assert labels[0, 0] == 0 and labels[60, 56] != 0  # corners are background, centre is face


def test_untrained_restorer_is_the_identity_and_round_trips(
    crops: np.ndarray, tmp_path: Path
) -> None:
    model = build_restorer(region_map())
    model.eval()
    out = restore_learned(crops[0], model)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - crops[0]).max() <= 1  # zero-initialised output layer
    path = save_restorer(model, tmp_path / "r.npz", {"note": "test"})
    again, meta = load_restorer(path)
    assert meta["note"] == "test" and meta["format"] == "facescope-restorer/1"
    np.testing.assert_array_equal(
        restore_learned(crops[1], again), restore_learned(crops[1], model)
    )


def test_bad_weights_and_inputs_are_refused(crops: np.ndarray, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.array('{"format": "other"}'), region_map=np.zeros((112, 112), np.uint8))
    with pytest.raises(WeatherError, match="not a facescope-restorer"):
        load_restorer(bad)
    with pytest.raises(WeatherError, match="align the face first"):
        restore_learned(np.zeros((64, 64, 3), np.uint8), build_restorer(region_map()))
    monkeypatch.setenv(RESTORER_ENV, str(tmp_path / "missing.npz"))
    assert shipped_available() is False
    with pytest.raises(WeatherError, match="region map"):
        build_restorer(np.zeros((10, 10), np.uint8))


def test_training_steps_run_and_lower_nothing_to_nan(crops: np.ndarray) -> None:
    config = TrainConfig(steps=3, batch=2, gan_after=1, seed=1)
    records: list[dict[str, float]] = []
    model, info = train_restorer(crops, config, progress=lambda k, n, r: records.append(r))
    assert len(records) == 3 and all(np.isfinite(list(r.values())).all() for r in records)
    assert info["crops"] == 3 and info["config"]["steps"] == 3
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(WeatherError, match="at least 2 crops"):
        train_restorer(crops[:1], config)


def test_shipped_restorer_lifts_snow_and_darkness(crops: np.ndarray) -> None:
    from facescope.restoration.learned import shipped_restorer
    from facescope.weather import degrade

    if not shipped_available():
        pytest.skip("no shipped restorer weights in this checkout")
    model, meta = shipped_restorer()
    assert meta["script"].startswith("python scripts/fit_restorer.py")

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        ea = fs.embed(a, assume_aligned=True).vectors[0]
        return float(ea @ fs.embed(b, assume_aligned=True).vectors[0])

    for face in crops:
        for kind in ("snow", "low_light"):
            bad = degrade(face, kind, 5, seed=3)
            assert cos(restore_learned(bad, model), face) > cos(bad, face), kind
        assert cos(restore_learned(face, model), face) > 0.85  # a clean face keeps its identity


def test_an_altered_shipped_restorer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from facescope.errors import ModelFileError
    from facescope.restoration import learned

    if not shipped_available():
        pytest.skip("no shipped restorer weights in this install")
    assert load_restorer()[1]  # the shipped file matches its pin
    monkeypatch.setattr(learned, "SHIPPED_SHA256", "0" * 64)
    with pytest.raises(ModelFileError, match="pinned SHA-256"):
        load_restorer()  # as if the file had been altered: refused, never used
