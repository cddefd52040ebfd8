"""The convolutional weather detector beside the logistic heads (torch extra)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

import facescope as fs
from facescope.errors import ModelFileError, WeatherError
from facescope.restoration import detector_net
from facescope.restoration.detector_net import (
    KINDS,
    as_input,
    build_network,
    load_network,
    network_available,
    probabilities,
    save_network,
)
from facescope.restoration.detectors import Assessment, shipped_detectors
from facescope.weather import degrade


@pytest.fixture(scope="module")
def crops(data: Path) -> np.ndarray:
    """The bundled public-domain portraits, aligned."""
    names = ("obama_1", "biden_1", "obama_2", "biden_2")
    return np.stack([fs.align(data / f"{n}.jpg")[0] for n in names])


def _streaks(crop: np.ndarray, seed: int) -> np.ndarray:
    """1 px bright drawn streaks, unlike our synthesiser's rain."""
    rng = np.random.default_rng(seed)
    layer = np.zeros(crop.shape[:2], np.float32)
    for _ in range(120):
        x, y = (int(v) for v in rng.integers(0, 112, 2))
        cv2.line(layer, (x, y), (x + 2, y + 16), 1.0, 1)
    return np.clip(crop + cv2.GaussianBlur(layer, (3, 3), 0)[..., None] * 140, 0, 255).astype(
        np.uint8
    )


def test_input_and_shapes() -> None:
    net = build_network()
    rgb = np.zeros((2, 112, 112, 3), np.uint8)
    assert as_input(rgb).shape == (2, 3, 112, 112)
    assert as_input(np.zeros((1, 60, 80), np.uint8)).shape == (1, 3, 112, 112)  # grey, resized
    assert probabilities(rgb, net).shape == (2, len(KINDS))
    assert probabilities(np.zeros((0, 112, 112, 3), np.uint8), net).shape == (0, len(KINDS))
    for bad in (np.zeros((1, 112, 112, 3), np.float32), np.zeros((112,), np.uint8),
                np.zeros((1, 112, 112, 4), np.uint8)):  # fmt: skip
        with pytest.raises(WeatherError):
            as_input(bad)


def test_weights_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = build_network()
    cuts = dict.fromkeys(KINDS, 0.7)
    path = save_network(net, tmp_path / "d.npz", {"script": "test", "thresholds": cuts})
    again, meta = load_network(path)
    assert meta["thresholds"] == cuts and sum(p.numel() for p in again.parameters()) > 4e4
    for broken in ({"thresholds": {"rain": 0.5}}, {"thresholds": dict.fromkeys(KINDS, 1.5)}, {}):
        bad = save_network(net, tmp_path / "b.npz", {"script": "test", **broken})
        with pytest.raises(ModelFileError, match="threshold"):
            load_network(bad)
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(ModelFileError):
        load_network(tmp_path / "foreign.npz")
    if network_available():
        monkeypatch.setattr(detector_net, "SHIPPED_SHA256", "0" * 64)
        with pytest.raises(ModelFileError, match="pinned SHA-256"):
            load_network()  # as if the shipped file had been altered
    monkeypatch.setenv(detector_net.DETECTOR_NET_ENV, "off")
    assert not network_available()


def test_union_of_heads_and_network() -> None:
    heads = {"rain": 0.2, "haze": 0.9}
    found = Assessment(heads, {"rain": 0.5, "haze": 0.5}, {}, {"rain": 0.95, "haze": 0.1},
                       {"rain": 0.8, "haze": 0.8})  # fmt: skip
    assert found.present == ("rain", "haze")  # the network's rain is the likelier
    assert found.to_dict()["network"] == {"rain": 0.95, "haze": 0.1}
    assert Assessment(heads, {"rain": 0.5, "haze": 0.5}).present == ("haze",)


def test_shipped_network_finds_weather_the_heads_miss(crops: np.ndarray) -> None:
    if not network_available():
        pytest.skip("no shipped weather detector network in this install")
    _, meta = load_network()
    assert meta["script"].startswith("python scripts/fit_weather_detector_net.py")
    cuts = np.array([meta["thresholds"][k] for k in KINDS])
    assert not (probabilities(crops) >= cuts).any()  # clean portraits: nothing
    rain = KINDS.index("rain")
    drawn = np.stack([_streaks(c, i) for i, c in enumerate(crops)])
    assert (probabilities(drawn)[:, rain] >= cuts[rain]).mean() >= 0.75
    ours = np.stack([degrade(c, kind, 4, seed=i) for i, c in enumerate(crops)
                     for kind in ("rain", "snow", "haze", "low_light", "noise")])  # fmt: skip
    p = probabilities(ours) >= cuts
    for j, kind in enumerate(("rain", "snow", "haze", "low_light", "noise")):
        assert p[j::5, KINDS.index(kind)].mean() >= 0.75, kind
    # through the detectors: the heads and the network together
    detectors = shipped_detectors()
    with_net = [detectors.assess(d) for d in drawn]
    heads_only = [detectors.assess(d, network=False) for d in drawn]
    assert sum("rain" in a.present for a in with_net) > sum("rain" in a.present for a in heads_only)
    assert all(a.network == {} for a in heads_only)
    assert detectors.assess(crops[0]).present == ()
