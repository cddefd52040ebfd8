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

from typing import Final

import numpy as np
import numpy.typing as npt

from facescope.models.stem import LAYERS, STEM_KEY, WIDTH, feature_names, stem_statistics
from facescope.pad.cues import PADError

#: The cue group's name in PAD models.
GROUP: Final[str] = "stem"


def stem_features(crops: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The cue's (n, 192) vectors for aligned RGB crops, (n, 112, 112, 3) uint8.

    The statistics are :func:`facescope.models.stem.stem_statistics`.

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
    return stem_statistics(array)


__all__ = ["GROUP", "LAYERS", "STEM_KEY", "WIDTH", "feature_names", "stem_features"]
