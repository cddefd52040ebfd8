"""The face recognisers behind one small interface.

The two bundled ones map aligned faces to 128-d features; `facescope.embed` normalises
them. A third, ``arcface`` (InsightFace ArcFace MobileFaceNet, 512-d), is opt-in: its
weights are licensed for non-commercial research only, so it loads only after
``facescope models enable arcface-mbf --accept-licence`` (:mod:`facescope.embed.arcface`).
Use :func:`embedding_dim` for a model's feature length, never a constant.
SFace (ArcFace-family, 112x112 crops on the ArcFace template) runs batched in
ONNX Runtime. dlib's ResNet runs on dlib's own 150x150 "face chips", aligned
with dlib's 5-point shape predictor, seeded by a face rectangle derived from
our 5 landmarks (dlib's own alignment measured better for it than ours on the
calibration set; the figures are in the README's models table).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.align.photometric import (
    DLIB_CHIP_REGION,
    normalise_crops,
    normalise_illumination,
)
from facescope.align.template import ARCFACE_TEMPLATE_112, similarity_transform, warp_faces
from facescope.errors import ModelNotAvailableError
from facescope.models import consent
from facescope.models.registry import MODEL_FILES, verified_path
from facescope.models.runtime import onnx_threads

#: Feature length of the bundled recognisers (sface, dlib). Per model: :func:`embedding_dim`.
FEATURE_DIM = 128
#: Feature length per recogniser.
EMBEDDING_DIMS: dict[str, int] = {"sface": 128, "dlib": 128, "arcface": 512}
#: Recognisers whose weights are licence-gated (opt-in), with the consent gate of each.
GATED_RECOGNIZERS: dict[str, str] = {"arcface": "arcface-mbf"}

#: The face rectangle dlib's detector would give, in ArcFace-112 crop coordinates
#: (x1, y1, x2, y2): seeds dlib's 5-point predictor from our landmarks.
_DLIB_RECT_IN_TEMPLATE = np.array([18.0, 25.0, 94.0, 101.0])


class Recognizer(Protocol):
    """A face recogniser: aligned faces in, raw features out."""

    name: str
    version: str

    def features(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Return raw (n, d) features for the faces with these landmarks (d: embedding_dim)."""
        ...


#: Environment variable choosing SFace's arithmetic: "fp32" (default) or "int8".
SFACE_PRECISION_ENV = "FACESCOPE_SFACE_PRECISION"


class SFaceRecognizer:
    """SFace (OpenCV zoo 2021dec), batched through ONNX Runtime.

    fp32 (default) reproduces OpenCV's features exactly on every CPU. int8 is
    faster but its features differ slightly from fp32 (README, "Accuracy")
    and may differ between CPUs with and without VNNI, so embeddings made
    with it are versioned apart and should not be mixed with fp32 ones.
    """

    name = "sface"

    def __init__(self) -> None:
        from facescope.embed.sface_onnx import Precision, SFaceSession

        precision: Precision
        match os.environ.get(SFACE_PRECISION_ENV, "fp32"):
            case "fp32":
                precision = "fp32"
            case "int8":
                precision = "int8"
            case other:
                raise ValueError(f"{SFACE_PRECISION_ENV} must be 'fp32' or 'int8', got {other!r}")
        # the pinned file, SHA-256 checked; its converted graph comes from the cache
        # that `facescope models` fills (see facescope.models.converted)
        self._session = SFaceSession(
            verified_path("sface"),
            intra_op_threads=onnx_threads(),
            precision=precision,
            source_sha256=MODEL_FILES["sface"].sha256,
        )
        self.version = f"2021dec-{precision}"

    def features(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return self.features_from_crops(warp_faces(rgb, landmarks5))

    def features_from_crops(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Raw features for (n, 112, 112, 3) RGB crops already on the ArcFace template.

        Dark faces are brightened first (:mod:`facescope.align.photometric`).
        """
        return self._session.run(normalise_crops(crops))


class DlibRecognizer:
    """dlib's ResNet (LFW 99.38%), on chips from dlib's 5-point alignment."""

    name = "dlib"
    version = "resnet_v1"

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelNotAvailableError(
                'model "dlib" needs dlib; install it with: pip install "dlib-bin==20.0.1.post1"'
            ) from exc
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(verified_path("dlib_shape5")))
        self._net = dlib.face_recognition_model_v1(str(verified_path("dlib_resnet")))
        # dlib's DNN keeps per-call buffers inside the network object
        self._lock = threading.Lock()

    def chips(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]
    ) -> list[npt.NDArray[np.uint8]]:
        """dlib face chips (150x150, padding 0.25) for the faces with these landmarks."""
        height, width = rgb.shape[:2]
        pad = max(height, width) // 2
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        chips = []
        for points in landmarks5:
            x1, y1, x2, y2 = dlib_face_rect(points) + pad
            rect = self._dlib.rectangle(round(x1), round(y1), round(x2), round(y2))
            shape = self._shape(padded, rect)
            chips.append(np.asarray(self._dlib.get_face_chip(padded, shape, 150, 0.25)))
        return chips

    def features(
        self, rgb: npt.NDArray[np.uint8], landmarks5: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return self.features_from_chips(self.chips(rgb, landmarks5))

    def features_from_chips(
        self, chips: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float32]:
        """Raw features for 150x150 RGB chips already aligned the way dlib's chips are."""
        chips = [
            normalise_illumination(np.ascontiguousarray(chip, dtype=np.uint8), DLIB_CHIP_REGION)
            for chip in chips
        ]
        if not chips:
            return np.zeros((0, EMBEDDING_DIMS["dlib"]), np.float32)
        with self._lock:
            descriptors = self._net.compute_face_descriptor(chips)
        return np.asarray([np.asarray(d) for d in descriptors], dtype=np.float32)


def dlib_face_rect(landmarks5: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Axis-aligned face rectangle, dlib-detector style, from 5 landmarks."""
    matrix = similarity_transform(ARCFACE_TEMPLATE_112, landmarks5)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    x1, y1, x2, y2 = _DLIB_RECT_IN_TEMPLATE
    centre = matrix @ np.array([(x1 + x2) / 2, (y1 + y2) / 2, 1.0])
    half = scale * (x2 - x1) / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def _arcface() -> Recognizer:
    from facescope.embed.arcface import ArcFaceRecognizer

    return ArcFaceRecognizer()


_SFACE: Lazy[SFaceRecognizer] = Lazy(SFaceRecognizer)
_RECOGNIZERS: dict[str, Lazy[Recognizer]] = {
    "sface": _SFACE,  # type: ignore[dict-item]
    "dlib": Lazy(DlibRecognizer),
}
_OPT_IN: dict[str, Lazy[Recognizer]] = {"arcface": Lazy(_arcface)}

#: The default recognisers (always available). Opt-in ones: :data:`OPT_IN_RECOGNIZER_NAMES`.
RECOGNIZER_NAMES = tuple(_RECOGNIZERS)
OPT_IN_RECOGNIZER_NAMES = tuple(_OPT_IN)


def embedding_dim(model: str) -> int:
    """The feature length of recogniser `model` (128 for sface and dlib, 512 for arcface)."""
    try:
        return EMBEDDING_DIMS[model]
    except KeyError:
        known = ", ".join((*RECOGNIZER_NAMES, *OPT_IN_RECOGNIZER_NAMES))
        raise ValueError(f"unknown model {model!r}; choose one of: {known}") from None


def get_recognizer(name: str) -> Recognizer:
    """Return the process-wide recogniser `name`, loading it on first use.

    An opt-in recogniser (``arcface``) is checked against its licence consent on every
    call, so withdrawing consent (``facescope models disable``) takes effect at once.

    Raises:
        ValueError: unknown name.
        ModelNotAvailableError: an opt-in recogniser whose licence is not accepted
            (``LicenceNotAcceptedError``) or whose carrier is not installed.
    """
    lazy = _RECOGNIZERS.get(name)
    if lazy is not None:
        return lazy.get()
    gated = _OPT_IN.get(name)
    if gated is None:
        known = ", ".join((*RECOGNIZER_NAMES, *OPT_IN_RECOGNIZER_NAMES))
        raise ValueError(f"unknown model {name!r}; choose one of: {known}")
    consent.require(GATED_RECOGNIZERS[name])
    return gated.get()


def sface_recognizer() -> SFaceRecognizer:
    """The process-wide SFace recogniser, typed for its batched crop entry point."""
    return _SFACE.get()
