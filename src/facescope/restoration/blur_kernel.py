"""A learned estimate of a face crop's motion blur: length and direction.

Deblurring pays only with the right kernel, and a wrong one ruins a face. The classical
estimate (:func:`facescope.restoration.classical.estimate_motion_kernel`, the cepstrum's
negative peak) finds blurs of 9 px or more on a 112 px crop, but it is wrong by 12-17 px
at 7 px, where the face's own structure hides the peak; so ``auto`` could not deblur
moderate blur. This module regresses the kernel with a small CNN instead (torch extra):

* input: the crop's grey log power spectrum (Hann-windowed, standardised), where a linear
  blur of length L along a direction leaves the sinc's dark stripes, N/L bins apart,
  across that direction;
* four strided convolutions (16-64 channels) and two dense layers (0.46 M parameters),
  output ``(L / 16, cos 2a, sin 2a)``: the direction as a doubled angle, since a blur
  along ``a`` and ``a + 180`` is the same;
* trained by us (``python scripts/fit_blur_kernel.py``) on blurs synthesised from the
  crops the other weather parts train on (never the evaluation half): our bent path
  kernels and straight rasterised lines, 0-16 px, some with sensor noise, one person in
  eight held out for validation.

Weights: ``blur_kernel.npz`` (package data; float32 arrays and a JSON ``meta``),
SHA-256 pinned. ``FACESCOPE_BLUR_KERNEL=FILE`` selects other weights, and
``FACESCOPE_BLUR_KERNEL=off`` turns the estimator off (``auto`` then deblurs with the
cepstrum's kernel, as without torch).
"""

from __future__ import annotations

import math
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
from facescope.restoration.classical import MotionKernel

#: The shipped weights (package data of ``facescope.restoration``) and their SHA-256.
SHIPPED: Final[str] = "blur_kernel.npz"
SHIPPED_SHA256: Final[str] = "b978a1148eb0a266cc71fe02805700a09277e3b8b1c4bdf391fe51c6a370263d"
#: Environment variable naming other weights, or ``off`` to use the cepstrum instead.
BLUR_KERNEL_ENV: Final[str] = "FACESCOPE_BLUR_KERNEL"
OFF: Final[str] = "off"
WEIGHTS_FORMAT: Final[str] = "facescope-blur-kernel/1"
#: The side of the crops the network reads (aligned face crops).
SIDE: Final[int] = 112
#: The longest blur the network was trained on (px); its length output is a share of it.
MAX_LENGTH: Final[float] = 16.0
_WHAT: Final[str] = "blur-kernel estimator"
_WINDOW: Final[npt.NDArray[np.float32]] = np.outer(
    np.hanning(SIDE + 2)[1:-1], np.hanning(SIDE + 2)[1:-1]
).astype(np.float32)


def spectrum(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The network's input: the (112, 112) standardised log power spectrum of a crop."""
    image = np.asarray(crop)
    if image.dtype != np.uint8 or image.shape[:2] != (SIDE, SIDE) or image.ndim not in (2, 3):
        raise WeatherError(
            f"the blur-kernel estimator reads 112x112 uint8 crops, got {image.shape} {image.dtype}"
        )
    if image.ndim == 3 and image.shape[2] != 3:
        raise WeatherError(f"expected RGB or grey, got {image.shape[2]} channels")
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    unit = grey.astype(np.float32) / np.float32(255.0)
    power = np.abs(np.fft.fftshift(np.fft.fft2((unit - unit.mean()) * _WINDOW))) ** 2
    log_power = np.log(power + 1e-6)
    standard = (log_power - log_power.mean()) / (log_power.std() + 1e-6)
    return np.asarray(standard, dtype=np.float32)


def build_network() -> Any:
    """The (untrained) estimator: (n, 1, 112, 112) spectra -> (n, 3)."""
    torch = require_torch("the blur-kernel estimator")
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, 2, 2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 3),
    )  # fmt: skip


def targets(length: float, angle: float) -> npt.NDArray[np.float32]:
    """The network's output for a blur of `length` px along `angle` degrees (as
    :class:`~facescope.restoration.classical.MotionKernel`: counter-clockwise from x)."""
    doubled = math.radians(2.0 * angle)
    return np.array([length / MAX_LENGTH, math.cos(doubled), math.sin(doubled)], np.float32)


def save_estimator(net: Any, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write the network's state (float32) and `meta` (provenance) to an ``.npz``."""
    return write_weights(path, state_arrays(net), {"format": WEIGHTS_FORMAT, **meta})


def load_estimator(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """(network in eval mode, its meta); `path` defaults to the shipped weights."""
    require_torch("the blur-kernel estimator")
    (arrays, meta), where = read_shipped_or_named(
        path, _read, package="facescope.restoration", name=SHIPPED, sha256=SHIPPED_SHA256,
        what=_WHAT,
    )  # fmt: skip
    return load_state(build_network(), arrays, error=ModelFileError, source=where), meta


def _read(file: Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    return read_weights(
        file,
        WEIGHTS_FORMAT,
        error=ModelFileError,
        what=f"{_WHAT} weights",
        make_with="python scripts/fit_blur_kernel.py",
    )


_shared: Lazy[tuple[Any, dict[str, Any]]] = Lazy(
    lambda: load_estimator(os.environ.get(BLUR_KERNEL_ENV) or None)
)


def estimator_available() -> bool:
    """Whether the learned estimator can run here (torch importable, weights there, and
    ``FACESCOPE_BLUR_KERNEL`` not ``off``: then ``auto`` keeps the cepstrum's kernel)."""
    if os.environ.get(BLUR_KERNEL_ENV, "").strip().lower() == OFF:
        return False
    return torch_available() and shipped_or_named_exists(
        "facescope.restoration", SHIPPED, BLUR_KERNEL_ENV
    )


def estimate_blur(crops: npt.NDArray[np.uint8], net: Any = None) -> list[MotionKernel]:
    """The motion kernel of each 112x112 crop (RGB or grey, one or a batch).

    ``confidence`` is 1 (the network does not grade itself); a sharp crop gets a length
    near 0 (0.3 px median on held-out faces, at most about 4-6 px); a flat crop (nothing
    to read) gets length and confidence 0.
    """
    torch = require_torch("the blur-kernel estimator")
    data = np.asarray(crops)
    if data.ndim not in (2, 3, 4) or data.size == 0:
        raise WeatherError(
            f"the blur-kernel estimator reads 112x112 crops (one or a batch), got {data.shape}"
        )
    batch = data[None] if data.ndim == 2 or (data.ndim == 3 and data.shape[-1] == 3) else data
    features = np.stack([spectrum(c) for c in batch])[:, None]
    model = net if net is not None else _shared.get()[0]
    with torch_threads(), torch.inference_mode():
        out = model(torch.from_numpy(features)).numpy().astype(np.float64)
    lengths = np.clip(out[:, 0] * MAX_LENGTH, 0.0, MAX_LENGTH)
    angles = np.degrees(np.arctan2(out[:, 2], out[:, 1]) / 2.0) % 180.0
    # a flat crop has no spectrum to read: no blur can be told (as for the cepstrum)
    flat = [float(np.asarray(c, np.float32).std()) < 0.5 for c in batch]
    return [MotionKernel(length=0.0, angle=0.0, confidence=0.0) if f
            else MotionKernel(length=float(n), angle=float(a), confidence=1.0)
            for n, a, f in zip(lengths, angles, flat, strict=True)]  # fmt: skip


__all__ = [
    "BLUR_KERNEL_ENV",
    "MAX_LENGTH",
    "OFF",
    "SHIPPED",
    "SHIPPED_SHA256",
    "SIDE",
    "WEIGHTS_FORMAT",
    "build_network",
    "estimate_blur",
    "estimator_available",
    "load_estimator",
    "save_estimator",
    "spectrum",
    "targets",
]
