"""Statistics of SFace's first feature maps: a learned description of a crop's texture.

The aligned 112x112 crop goes through SFace's first two blocks (the ``sface_stem``
graph, cut from the converted fp32 SFace at install time by ``facescope models``; see
:mod:`facescope.embed.converters.sface_stem`). Each of their 96 channels (32 of
``conv_1_relu``, 64 of ``conv_2_relu``, both at full resolution) is reduced to its mean
and standard deviation over the crop: 192 values describing its colour and fine texture
through filters learned on millions of faces.

Two heads read them: presentation-attack detection (:mod:`facescope.pad.stem`, where they
told real print attacks from live faces) and the degradation detectors
(:mod:`facescope.restoration.detectors`, where they find rain streaks that the hand-made
measurements miss).
"""

from __future__ import annotations

import threading
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.errors import InvalidImageError
from facescope.models import converted as converted_models
from facescope.models.registry import MODEL_FILES, verified_path
from facescope.models.runtime import cpu_session

#: The converted graph.
STEM_KEY: Final[str] = "sface_stem"
#: Its outputs, in order, and their channel counts.
LAYERS: Final[tuple[tuple[str, int], ...]] = (("conv_1_relu", 32), ("conv_2_relu", 64))
#: Crops per ONNX Runtime call (bounds memory: 96 x 112 x 112 floats per crop).
BATCH: Final[int] = 16
#: Width of the statistics vector.
WIDTH: Final[int] = 2 * sum(c for _, c in LAYERS)


def feature_names() -> list[str]:
    """Names of the 192 values: ``conv_1_relu.mean[0]``, ..., ``conv_2_relu.std[63]``."""
    names: list[str] = []
    for layer, channels in LAYERS:
        names += [f"{layer}.mean[{c}]" for c in range(channels)]
        names += [f"{layer}.std[{c}]" for c in range(channels)]
    return names


_lock = threading.Lock()
_session: Any = None


def _stem_session() -> Any:
    """The stem's ONNX Runtime session, opened once (thread-safe)."""
    global _session
    with _lock:
        if _session is None:
            spec = MODEL_FILES[converted_models.CONVERTED_MODELS[STEM_KEY].source]
            path = verified_path(spec.key)
            graph = converted_models.load(STEM_KEY, path, spec.sha256)
            _session = cpu_session(graph, "the SFace stem")
        return _session


def stem_statistics(crops: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(n, 192) per-channel means and standard deviations for (n, 112, 112, 3) uint8 crops.

    Raises:
        InvalidImageError: the crops are not aligned 112x112 RGB uint8 images.
        ModelNotAvailableError: the stem graph is not built and ``onnx`` is missing
            (run ``facescope models``).
    """
    array = np.asarray(crops)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (112, 112, 3):
        raise InvalidImageError(
            f"the SFace stem needs aligned crops of shape (n, 112, 112, 3) uint8, "
            f"got {array.shape} {array.dtype}"
        )
    out = np.empty((len(array), WIDTH), np.float64)
    if len(array) == 0:
        return out
    session = _stem_session()
    names = [layer for layer, _ in LAYERS]
    for start in range(0, len(array), BATCH):
        batch = array[start : start + BATCH].astype(np.float32).transpose(0, 3, 1, 2)
        maps = session.run(names, {"data": np.ascontiguousarray(batch)})
        parts = []
        for m in maps:
            parts += [m.mean(axis=(2, 3)), m.std(axis=(2, 3))]
        out[start : start + len(batch)] = np.concatenate(parts, axis=1)
    return out


__all__ = ["BATCH", "LAYERS", "STEM_KEY", "WIDTH", "feature_names", "stem_statistics"]
