"""The learned texture cue of PAD: statistics of SFace's first feature maps.

The aligned 112x112 crop goes through SFace's first two blocks (the ``sface_stem``
graph, cut from the converted fp32 SFace at install time by ``facescope models``; see
:mod:`facescope.embed.converters.sface_stem`). Each of their 96 channels (32 of
``conv_1_relu``, 64 of ``conv_2_relu``, both at full resolution) is reduced to its mean
and standard deviation over the face: a 192-value description of the crop's colour and
fine texture through filters learned on millions of faces.

Why this cue (issue 21): on the real print attacks of NUAA, held out by person *and*
session, a logistic head on these statistics ranked live above attack with AUC 0.99,
where the hand-made colour-texture, frequency and specular cues fell to 0.50-0.85 (their
figures moved with the capture session, not the attack). Deeper SFace layers carry
identity and did worse (AUC 0.89-0.95). Measured in ``benchmarks/bench_pad_real.py``.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.models import converted as converted_models
from facescope.models.registry import MODEL_FILES, verified_path
from facescope.models.runtime import cpu_session
from facescope.pad.cues import PADError

#: The converted graph this cue runs.
STEM_KEY: Final[str] = "sface_stem"
#: Its outputs, in order, and their channel counts.
LAYERS: Final[tuple[tuple[str, int], ...]] = (("conv_1_relu", 32), ("conv_2_relu", 64))
#: Crops per ONNX Runtime call (bounds memory: 96 x 112 x 112 floats per crop).
BATCH: Final[int] = 16
#: The cue group's name in PAD models.
GROUP: Final[str] = "stem"


def feature_names() -> list[str]:
    """Names of the 192 values: ``conv_1_relu.mean[0]``, ..., ``conv_2_relu.std[63]``."""
    names: list[str] = []
    for layer, channels in LAYERS:
        names += [f"{layer}.mean[{c}]" for c in range(channels)]
        names += [f"{layer}.std[{c}]" for c in range(channels)]
    return names


#: Width of the cue's vector.
WIDTH: Final[int] = 2 * sum(c for _, c in LAYERS)

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
            _session = cpu_session(graph, "the SFace stem of the PAD texture cue")
        return _session


def stem_features(crops: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The cue's (n, 192) vectors for aligned RGB crops, (n, 112, 112, 3) uint8.

    Raises:
        PADError: the crops are not aligned 112x112 RGB uint8 images.
        ModelNotAvailableError: the stem graph is not built and ``onnx`` is missing
            (run ``facescope models``).
    """
    array = np.asarray(crops)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[1:] != (112, 112, 3):
        raise PADError(
            f"the stem cue needs aligned crops of shape (n, 112, 112, 3) uint8, "
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


__all__ = ["GROUP", "LAYERS", "STEM_KEY", "WIDTH", "feature_names", "stem_features"]
