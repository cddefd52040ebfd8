"""SFace with a weather-adapted front end: features of a degraded face that match its clean self.

Restoring pixels is one way to recognise a face through rain, blur or noise; the other,
which the weather issue's study asked us to weigh, is to make the recogniser itself
ignore the weather. This module does it without touching the gallery: the first
:data:`ADAPTED_BLOCKS` blocks of SFace in PyTorch (:mod:`facescope.embed.sface_torch`,
``conv_1`` to ``conv_7``, the layers that see edges and texture, 0.27 M of SFace's 9.6 M
parameters) are fine-tuned so that the features of a *degraded* crop equal the pinned
SFace's features of the same crop *clean* (a distillation, DAFE applied to the
recogniser: :func:`facescope.weather.adapt.train_adapted_sface`). Everything after them
is the pinned SFace, frozen, so the features live in SFace's own space: a probe embedded
by the adapted network is compared with a gallery embedded by the shipped ONNX SFace,
with the shipped thresholds.

It is used only where the degradation detectors fire (``restore="auto"`` in
:func:`facescope.pipeline.embed_faces`, for the kinds in
:data:`facescope.restoration.auto.ADAPTED_FOR`); clean faces keep the ONNX path. Even
there it is trusted only as far as the weather calls for: :func:`blend_with_sface` mixes
its features with the ONNX SFace's of the same crop, by how far the two disagree
(:data:`BLEND_RANGE`), because on a face with little weather the network's own error
(cosine 0.95 to SFace on clean crops) is larger than the weather's.

Weights: ``sface_weather.npz`` (package data): the adapted blocks' state as float32
``w:`` arrays and a JSON ``meta`` (format, blocks, training provenance); the rest of the
network comes from the pinned SFace file. Made by ``python scripts/fit_weather_sface.py``.
``FACESCOPE_WEATHER_SFACE=FILE`` uses other weights. Needs the ``torch`` extra and
``onnx`` (``build``), like the differentiable SFace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.errors import ModelFileError, WeatherError
from facescope.models.shipped import read_shipped_or_named, shipped_or_named_exists
from facescope.models.torch_runtime import (
    read_weights,
    require_torch,
    torch_available,
    torch_threads,
    write_weights,
)

#: The shipped weights (package data of ``facescope.embed``) and their pinned SHA-256.
SHIPPED: Final[str] = "sface_weather.npz"
SHIPPED_SHA256: Final[str] = "64f8b6bce8ef03396c2029200b839e8d8e8292e58aa070e36bbd43dcf5e94da6"
#: Environment variable naming other weights.
WEATHER_SFACE_ENV: Final[str] = "FACESCOPE_WEATHER_SFACE"
#: Format tag of the weights file.
WEIGHTS_FORMAT: Final[str] = "facescope-sface-weather/1"
#: How many of SFace's blocks (``features[:n]``: conv_1 .. conv_7) are adapted.
ADAPTED_BLOCKS: Final[int] = 13
_WHAT: Final[str] = "weather-adapted SFace"
#: Disagreement (1 - cosine) between the ONNX SFace's and the adapted network's unit
#: features of one crop below which the ONNX features are kept, and above which the
#: adapted ones are, linearly mixed in between (:func:`blend_with_sface`). Chosen on the
#: fit half of ``benchmarks/bench_weather.py`` by ``python scripts/choose_adapted_blend.py``
#: (pooled recovery at severities 2-4, both sets; severity 5 held within 2 points of the
#: unblended network).
BLEND_RANGE: Final[tuple[float, float]] = (0.0, 0.15)
#: Crops embedded per forward pass.
_BATCH: Final[int] = 32


def adapted_prefixes(blocks: int = ADAPTED_BLOCKS) -> tuple[str, ...]:
    """State-dict key prefixes of the adapted blocks (``features.conv_1.`` ...)."""
    from facescope.embed.sface_torch import BLOCKS

    return tuple(f"features.{name}." for name, *_ in BLOCKS[:blocks])


def adapted_state(model: Any, blocks: int = ADAPTED_BLOCKS) -> dict[str, npt.NDArray[Any]]:
    """``w:`` arrays (float32) of the adapted blocks of an SFaceTorch `model`."""
    prefixes = adapted_prefixes(blocks)
    return {
        f"w:{k}": v.detach().cpu().numpy().astype(np.float32)
        for k, v in model.state_dict().items()
        if k.startswith(prefixes)
    }


def save_adapted(
    model: Any, path: str | os.PathLike[str], meta: dict[str, Any], blocks: int = ADAPTED_BLOCKS
) -> Path:
    """Write the adapted blocks of `model` and `meta` (provenance) to an ``.npz``."""
    info = {"format": WEIGHTS_FORMAT, "blocks": blocks, **meta}
    return write_weights(path, adapted_state(model, blocks), info)


def load_adapted(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """(SFaceTorch with the adapted blocks, in eval mode, frozen; its meta).

    `path` defaults to the shipped weights. Raises ModelFileError for a missing, foreign
    or ill-fitting file (and ModelNotAvailableError without torch or onnx).
    """
    torch = require_torch("the weather-adapted SFace")
    from facescope.embed.sface_torch import load_sface_torch

    (arrays, meta), where = read_shipped_or_named(
        path, _read, package="facescope.embed", name=SHIPPED, sha256=SHIPPED_SHA256, what=_WHAT
    )
    blocks = meta.get("blocks")
    if not isinstance(blocks, int) or not 1 <= blocks <= ADAPTED_BLOCKS:
        raise ModelFileError(f"{where}: 'blocks' must be 1..{ADAPTED_BLOCKS}, got {blocks!r}")
    model = load_sface_torch()
    wanted = {k for k in model.state_dict() if k.startswith(adapted_prefixes(blocks))}
    given = {k[2:] for k in arrays if k.startswith("w:")}
    if given != wanted:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        raise ModelFileError(
            f"{where} does not fit SFace: missing {missing[:3]}, extra {extra[:3]}"
        )
    state = model.state_dict()
    for key in wanted:
        value = torch.from_numpy(np.asarray(arrays["w:" + key], np.float32))
        if tuple(value.shape) != tuple(state[key].shape) or not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"{where}: {key} has the wrong shape or non-finite values")
        state[key] = value
    model.load_state_dict(state, strict=True)
    model.eval()
    model.requires_grad_(False)
    return model, meta


def _read(file: Path) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    return read_weights(
        file,
        WEIGHTS_FORMAT,
        error=ModelFileError,
        what=f"{_WHAT} weights",
        make_with="python scripts/fit_weather_sface.py",
    )


_shared: Lazy[tuple[Any, dict[str, Any]]] = Lazy(
    lambda: load_adapted(os.environ.get(WEATHER_SFACE_ENV) or None)
)


def shipped_adapted() -> tuple[Any, dict[str, Any]]:
    """The weights named by ``FACESCOPE_WEATHER_SFACE``, else the shipped ones; loaded once."""
    return _shared.get()


def adapted_available() -> bool:
    """Whether the adapted SFace can run here (torch and onnx importable, weights there)."""
    if not torch_available():
        return False
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return shipped_or_named_exists("facescope.embed", SHIPPED, WEATHER_SFACE_ENV)


def adapted_features(crops: npt.NDArray[np.uint8], model: Any = None) -> npt.NDArray[np.float32]:
    """Raw (n, 128) features of aligned (n, 112, 112, 3) RGB crops by the adapted SFace.

    Like ``SFaceRecognizer.features_from_crops``: not normalised.
    """
    torch = require_torch("the weather-adapted SFace")
    data = np.asarray(crops)
    if data.ndim != 4 or data.shape[1:] != (112, 112, 3) or data.dtype != np.uint8:
        raise WeatherError(
            f"the adapted SFace reads aligned (n, 112, 112, 3) uint8 crops, got {data.shape} "
            f"{data.dtype}"
        )
    net = model if model is not None else shipped_adapted()[0]
    out = []
    with torch_threads(), torch.inference_mode():
        for start in range(0, len(data), _BATCH):
            x = torch.from_numpy(data[start : start + _BATCH].astype(np.float32))
            out.append(net(x.permute(0, 3, 1, 2)).numpy())
    if not out:
        return np.zeros((0, 128), np.float32)
    return np.concatenate(out).astype(np.float32)


def blend_with_sface(
    sface: npt.NDArray[np.floating[Any]],
    adapted: npt.NDArray[np.floating[Any]],
    span: tuple[float, float] = BLEND_RANGE,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(unit features, adapted weight per row): the adapted features trusted by disagreement.

    `sface` and `adapted` are (n, 128) features of the same crops by the ONNX SFace and by
    the adapted network (normalised here). With ``d = 1 - cosine`` between them, the
    adapted features get weight ``clip((d - span[0]) / (span[1] - span[0]), 0, 1)``: the
    network moves a face's features far only where the weather is strong, and on a face
    with little weather its own error outweighs what it undoes. The mix is renormalised.
    """
    low, high = (float(v) for v in span)
    if not 0.0 <= low < high:
        raise WeatherError(f"blend span must satisfy 0 <= low < high, got {span}")
    a, b = _unit_pair(sface, adapted, "blend")
    weight = np.clip((1.0 - np.sum(a * b, axis=1) - low) / (high - low), 0.0, 1.0)
    return _mix(a, b, weight), weight.astype(np.float32)


def _unit_pair(
    a: npt.NDArray[np.floating[Any]], b: npt.NDArray[np.floating[Any]], what: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two (n, d) feature arrays of one shape, checked finite and L2-normalised per row."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise WeatherError(f"{what} needs two (n, d) arrays of one shape, got {x.shape}, {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise WeatherError(f"{what} got non-finite features")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return x, y


def _mix(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    """Unit rows of ``(1 - weight) * a + weight * b`` (`weight`: one per row)."""
    mixed: npt.NDArray[np.float64] = (1.0 - weight)[:, None] * a + weight[:, None] * b
    mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
    return mixed.astype(np.float32)


def fuse_with_view(
    features: npt.NDArray[np.floating[Any]],
    view: npt.NDArray[np.floating[Any]],
    weight: float | npt.NDArray[np.floating[Any]],
) -> npt.NDArray[np.float32]:
    """Unit features: ``(1 - weight) * features + weight * view``, both normalised first.

    `features` and `view` are (n, d) features of one face in two versions (the adapted
    network's of the crop as it came, SFace's of a restored crop); `weight` is one number
    or one per row, in [0, 1].
    """
    a, b = _unit_pair(features, view, "fusion")
    w = np.broadcast_to(np.asarray(weight, np.float64), (len(a),))
    if not (np.isfinite(w).all() and (w >= 0).all() and (w <= 1).all()):
        raise WeatherError(f"view weight must lie in [0, 1], got {weight}")
    return _mix(a, b, w)


__all__ = [
    "ADAPTED_BLOCKS",
    "BLEND_RANGE",
    "SHIPPED",
    "SHIPPED_SHA256",
    "WEATHER_SFACE_ENV",
    "WEIGHTS_FORMAT",
    "adapted_available",
    "adapted_features",
    "adapted_prefixes",
    "adapted_state",
    "blend_with_sface",
    "fuse_with_view",
    "load_adapted",
    "save_adapted",
    "shipped_adapted",
]
