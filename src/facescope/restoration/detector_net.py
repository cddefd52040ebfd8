"""A small convolutional degradation detector, beside the logistic heads (torch extra).

The logistic heads of :mod:`facescope.restoration.detectors` read global statistics of a
crop; they learned the look of our own synthesiser and miss weather drawn otherwise (1 px
drawn streaks: 19-29% of faces; rain of a wider family: 34%). This network reads the
aligned 112x112 crop itself:

* five 3x3 convolutions with BatchNorm and ReLU (16 channels at full resolution, so that
  sub-pixel streaks survive, then 24-64 channels at strides 2), global mean and max
  pooling, and one linear layer: one logit per kind of :data:`KINDS` (0.05 M parameters,
  1.6 ms a crop on one thread);
* trained by us (``python scripts/fit_weather_detector_net.py``), multi-label, on the
  crops the other weather parts train on (never the evaluation half), degraded on the
  fly by :func:`facescope.weather.degrade` and, for half of the rain, snow and haze, by
  :func:`facescope.weather.variety.vary`; a kind at severity 1 is left out of its own
  loss (mild weather that restoration should not chase), as for the heads;
* one threshold per kind, kept in the weights' meta, set so that about 0.5% of the clean
  crops of people held out of training fire it.

:meth:`facescope.restoration.detectors.DegradationDetectors.assess` reports a kind as
present when its head *or* this network fires. Weights: ``detector_net.npz`` (package
data; float32 arrays and a JSON ``meta``), SHA-256 pinned.
``FACESCOPE_WEATHER_DETECTOR_NET=FILE`` selects other weights, ``off`` leaves the heads
alone (as without torch).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelFileError, WeatherError
from facescope.models.shipped import read_shipped_or_named, shipped_or_named_exists
from facescope.models.torch_runtime import (
    load_state,
    read_weights,
    require_torch,
    state_arrays,
    torch_available,
    torch_threads,
    write_weights,
)

#: The kinds the network tells, in the order of its outputs.
KINDS: Final[tuple[str, ...]] = ("haze", "motion_blur", "noise", "low_light", "rain", "snow")
#: The shipped weights (package data of ``facescope.restoration``) and their SHA-256.
SHIPPED: Final[str] = "detector_net.npz"
SHIPPED_SHA256: Final[str] = "1dd4436f35ae9684051c8913fccd4f707a03ee3eca572d68cbc3e47d1bcfcb5d"
#: Environment variable naming other weights, or ``off``.
DETECTOR_NET_ENV: Final[str] = "FACESCOPE_WEATHER_DETECTOR_NET"
OFF: Final[str] = "off"
WEIGHTS_FORMAT: Final[str] = "facescope-weather-detector-net/1"
#: The side of the crops the network reads.
SIDE: Final[int] = 112
_WHAT: Final[str] = "weather detector network"


def build_network() -> Any:
    """The (untrained) detector: (n, 3, 112, 112) crops in [-0.5, 0.5] -> (n, 6) logits."""
    torch = require_torch("the weather detector network")
    nn = torch.nn

    def block(cin: int, cout: int, stride: int) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    class DetectorNet(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                block(3, 16, 1), block(16, 24, 2), block(24, 32, 2), block(32, 48, 2),
                block(48, 64, 2),
            )  # fmt: skip
            self.head = nn.Linear(128, len(KINDS))

        def forward(self, x: Any) -> Any:
            f = self.body(x)
            return self.head(torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1))

    return DetectorNet()


def as_input(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """(n, 3, 112, 112) float32 network input of uint8 crops (RGB or grey; other sizes
    are resized)."""
    data = np.asarray(crops)
    if data.dtype != np.uint8 or data.ndim not in (3, 4):
        raise WeatherError(f"the weather detector reads uint8 crops, got {data.shape} {data.dtype}")
    batch = data[..., None].repeat(3, axis=-1) if data.ndim == 3 else data
    if batch.shape[-1] != 3:
        raise WeatherError(f"expected RGB or grey crops, got {batch.shape[-1]} channels")
    if batch.shape[1:3] != (SIDE, SIDE):
        batch = np.stack([cv2.resize(c, (SIDE, SIDE), interpolation=cv2.INTER_AREA) for c in batch])
    x = batch.astype(np.float32) / np.float32(255.0) - np.float32(0.5)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def save_network(net: Any, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write the network's state (float32) and `meta` (thresholds, provenance) to ``.npz``."""
    return write_weights(path, state_arrays(net), {"format": WEIGHTS_FORMAT, **meta})


def load_network(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """(network in eval mode, its meta); `path` defaults to the shipped weights."""
    require_torch("the weather detector network")
    (arrays, meta), where = read_shipped_or_named(
        path, _read, package="facescope.restoration", name=SHIPPED, sha256=SHIPPED_SHA256,
        what=_WHAT,
    )  # fmt: skip
    thresholds = meta.get("thresholds")
    if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(KINDS):
        raise ModelFileError(f"{where}: meta needs a threshold for each of {', '.join(KINDS)}")
    if not all(isinstance(v, int | float) and 0.0 < v < 1.0 for v in thresholds.values()):
        raise ModelFileError(f"{where}: thresholds must lie in (0, 1)")
    net = load_state(build_network(), arrays, error=ModelFileError, source=where)
    return net, meta


def _read(file: Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    return read_weights(
        file,
        WEIGHTS_FORMAT,
        error=ModelFileError,
        what=f"{_WHAT} weights",
        make_with="python scripts/fit_weather_detector_net.py",
    )


_shared: Lazy[tuple[Any, dict[str, Any]]] = Lazy(
    lambda: load_network(os.environ.get(DETECTOR_NET_ENV) or None)
)


def network_available() -> bool:
    """Whether the network can run here (torch importable, weights there, and
    ``FACESCOPE_WEATHER_DETECTOR_NET`` not ``off``)."""
    if os.environ.get(DETECTOR_NET_ENV, "").strip().lower() == OFF:
        return False
    return torch_available() and shipped_or_named_exists(
        "facescope.restoration", SHIPPED, DETECTOR_NET_ENV
    )


def probabilities(crops: npt.NDArray[np.uint8], net: Any = None) -> npt.NDArray[np.float64]:
    """(n, 6) probability of each of :data:`KINDS` for a batch of crops."""
    torch = require_torch("the weather detector network")
    x = as_input(crops)
    model = net if net is not None else _shared.get()[0]
    out = []
    with torch_threads(), torch.inference_mode():
        for start in range(0, len(x), 64):
            out.append(torch.sigmoid(model(torch.from_numpy(x[start : start + 64]))).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(KINDS)))


def shipped_thresholds() -> dict[str, float]:
    """The thresholds of the weights in use (shipped or ``FACESCOPE_WEATHER_DETECTOR_NET``)."""
    return {k: float(v) for k, v in _shared.get()[1]["thresholds"].items()}


__all__ = [
    "DETECTOR_NET_ENV",
    "KINDS",
    "OFF",
    "SHIPPED",
    "SHIPPED_SHA256",
    "SIDE",
    "WEIGHTS_FORMAT",
    "as_input",
    "build_network",
    "load_network",
    "network_available",
    "probabilities",
    "save_network",
    "shipped_thresholds",
]
