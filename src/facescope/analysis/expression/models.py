"""The three offline expression models, each behind one small class.

Every model takes grey face crops (any size; see
:mod:`facescope.analysis.expression.preprocess`), resizes each straight to its
own input and returns ``(n, 7)`` float32 probabilities in
:data:`~facescope.analysis.expression.labels.EXPRESSIONS` order.

============== ============================ ==================================
model          input                        runtime
============== ============================ ==================================
fer            64x64 grey, ``x/127.5 - 1``  tflite (mini-Xception, quantised)
facex          200x200 grey x3, ``x/255``   tflite
what_the_face  48x48 grey, ``x/255``        PyTorch (the optional ``torch`` extra)
============== ============================ ==================================

The weight files come from their pinned carrier packages through
:func:`facescope.models.registry.verified_path` (SHA-256 checked); the
carriers' own modules are never imported (they need TensorFlow, torchvision or
pkg_resources). The what-the-face network is re-implemented here from the
carrier's ``model.py`` and its state dict loaded into it.

Models load lazily on first use; each instance holds a lock, so one instance
may be shared between threads (inference through one interpreter is
serialised).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS, reorder_index
from facescope.errors import ModelNotAvailableError
from facescope.models.registry import verified_path

FloatArray = npt.NDArray[np.float32]
GreyCrops = Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]

#: The member names, in the order the ensemble lists them.
MODEL_NAMES: tuple[str, ...] = ("fer", "facex", "what_the_face")
#: Members trained by facescope itself (weights shipped in the package once trained; see
#: :mod:`facescope.analysis.expression.convcut`). The ensemble uses one only when
#: ``weights.json`` gives it a weight.
TRAINED_MODEL_NAMES: tuple[str, ...] = ("convcut",)


def resize_grey(crop: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """Resize a grey crop straight to ``size`` x ``size`` (area when shrinking)."""
    grey = as_grey(crop)
    if grey.shape == (size, size):
        return grey
    shrinking = grey.shape[0] > size or grey.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(grey, (size, size), interpolation=interpolation), np.uint8)


def as_grey(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """A (h, w) uint8 grey view of a grey, RGB or RGBA uint8 image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"expected a non-empty grey or RGB image, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def softmax(logits: npt.NDArray[Any]) -> FloatArray:
    """Row-wise softmax, numerically stable."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


class ExpressionModel(ABC):
    """One expression classifier: grey crops in, probabilities in EXPRESSIONS order out."""

    #: Registry key and :data:`~facescope.analysis.expression.labels.MODEL_ORDERS` key.
    name: ClassVar[str]
    #: Side of the square input, in pixels.
    input_size: ClassVar[int]

    def __init__(self, num_threads: int = 1) -> None:
        """Args: num_threads: intra-op threads of the runtime (1 by default)."""
        self.num_threads = int(num_threads)
        self._lock = threading.Lock()
        self._loaded = False
        self._reorder = reorder_index(self.name)

    def load(self) -> None:
        """Load the weights now (otherwise done on first prediction).

        Raises:
            ModelNotAvailableError: the carrier package (or torch) is missing.
            ModelFileError: the weight file's SHA-256 differs from the pinned one.
        """
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def is_available(self) -> bool:
        """Whether the model can be loaded here (it is loaded if so)."""
        try:
            self.load()
        except ModelNotAvailableError:
            return False
        return True

    def predict_crops(self, grey_crops: GreyCrops, *, flip: bool = False) -> FloatArray:
        """Probabilities ``(n, 7)`` in EXPRESSIONS order for ``n`` grey face crops.

        Args:
            grey_crops: a sequence of (h, w) uint8 crops of any size (RGB is
                turned grey), or an (n, h, w) uint8 array.
            flip: also run each crop mirrored left-right and average the two.
        """
        crops = [resize_grey(crop, self.input_size) for crop in grey_crops]
        if not crops:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        self.load()
        batch = np.stack(crops)
        probs = self._probabilities(batch)
        if flip:
            probs = 0.5 * (probs + self._probabilities(np.ascontiguousarray(batch[:, :, ::-1])))
        probs = probs[:, self._reorder]
        probs = np.clip(probs, 0.0, None)
        return np.asarray(
            probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12), dtype=np.float32
        )

    @abstractmethod
    def _load(self) -> None:
        """Load the weights (called once, under the lock)."""

    @abstractmethod
    def _probabilities(self, batch: npt.NDArray[np.uint8]) -> FloatArray:
        """(n, 7) probabilities in the model's own order for (n, s, s) uint8 crops."""


class _TfliteModel(ExpressionModel):
    """A tflite classifier run with ai-edge-litert, one crop per invoke."""

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__(num_threads)
        self._interpreter: Any = None
        self._input_index = 0
        self._output_index = 0

    def _load(self) -> None:
        path = verified_path(self.name)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ModelNotAvailableError(
                f"model '{self.name}' needs ai-edge-litert: pip install ai-edge-litert"
            ) from exc
        interpreter = Interpreter(model_path=str(path), num_threads=self.num_threads)
        interpreter.allocate_tensors()
        self._input_index = interpreter.get_input_details()[0]["index"]
        self._output_index = interpreter.get_output_details()[0]["index"]
        self._interpreter = interpreter

    @abstractmethod
    def _tensor(self, crop: npt.NDArray[np.uint8]) -> FloatArray:
        """The (1, s, s, c) float32 input tensor for one crop."""

    def _probabilities(self, batch: npt.NDArray[np.uint8]) -> FloatArray:
        out = np.empty((len(batch), len(EXPRESSIONS)), np.float32)
        with self._lock:
            for i, crop in enumerate(batch):
                self._interpreter.set_tensor(self._input_index, self._tensor(crop))
                self._interpreter.invoke()
                out[i] = self._interpreter.get_tensor(self._output_index)[0]
        return out


class FerModel(_TfliteModel):
    """The fer package's mini-Xception (FER-2013), quantised tflite, 64x64 grey in [-1, 1]."""

    name = "fer"
    input_size = 64

    def _tensor(self, crop: npt.NDArray[np.uint8]) -> FloatArray:
        x = crop.astype(np.float32) / 127.5 - 1.0
        return x[None, :, :, None]


class FacexModel(_TfliteModel):
    """The facex package's classifier, 200x200 grey copied to 3 channels, in [0, 1]."""

    name = "facex"
    input_size = 200

    def _tensor(self, crop: npt.NDArray[np.uint8]) -> FloatArray:
        x = crop.astype(np.float32) / 255.0
        return np.repeat(x[None, :, :, None], 3, axis=3)


class WhatTheFaceModel(ExpressionModel):
    """what-the-face's small CNN (48x48 grey in [0, 1]), re-implemented in PyTorch.

    Needs the optional ``torch`` extra; without it :meth:`load` raises
    :class:`~facescope.errors.ModelNotAvailableError`.
    """

    name = "what_the_face"
    input_size = 48

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__(num_threads)
        self._net: Any = None
        self._torch: Any = None

    def _load(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ModelNotAvailableError(
                "model 'what_the_face' needs PyTorch, which is not installed; install the "
                "optional extra with: pip install 'facescope[torch]'"
            ) from exc
        path = verified_path(self.name)
        net = _build_what_the_face_net(torch)
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        self._torch = torch
        self._net = net

    def _probabilities(self, batch: npt.NDArray[np.uint8]) -> FloatArray:
        torch = self._torch
        x = torch.from_numpy(batch.astype(np.float32) / 255.0)[:, None]
        with self._lock:
            previous = torch.get_num_threads()
            torch.set_num_threads(self.num_threads)
            try:
                with torch.inference_mode():
                    logits = self._net(x).numpy()
            finally:
                torch.set_num_threads(previous)
        return softmax(logits)


def _build_what_the_face_net(torch: Any) -> Any:
    """SimpleConvolutionalNetwork(filter_layers=3, io [[1,28],[28,56],[56,112]], k=3, pad=0).

    48 -> conv 46 -> pool 23 -> conv 21 -> pool 10 -> conv 8 -> pool 4: 4*4*112 = 1792
    features, then fully connected 1792 -> 2000 -> 304 -> 7 (logits). The attribute
    names match the carrier's state dict.
    """
    nn = torch.nn
    functional = torch.nn.functional

    class SimpleConvolutionalNetwork(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 28, 3, padding=0)
            self.pool1 = nn.MaxPool2d(2, stride=2, padding=0)
            self.conv2 = nn.Conv2d(28, 56, 3, padding=0)
            self.pool2 = nn.MaxPool2d(2, stride=2, padding=0)
            self.conv3 = nn.Conv2d(56, 112, 3, padding=0)
            self.pool3 = nn.MaxPool2d(2, stride=2, padding=0)
            self.fc1 = nn.Linear(1792, 2000)
            self.fc2 = nn.Linear(2000, 304)
            self.fc3 = nn.Linear(304, 7)

        def forward(self, x: Any) -> Any:
            x = self.pool1(torch.tanh(self.conv1(x)))
            x = self.pool2(torch.tanh(self.conv2(x)))
            x = self.pool3(torch.tanh(self.conv3(x)))
            x = x.reshape(x.shape[0], -1)
            x = functional.relu(self.fc1(x))
            x = functional.relu(self.fc2(x))
            return self.fc3(x)

    return SimpleConvolutionalNetwork()


_MODEL_CLASSES: dict[str, type[ExpressionModel]] = {
    "fer": FerModel,
    "facex": FacexModel,
    "what_the_face": WhatTheFaceModel,
}


def make_model(name: str, num_threads: int = 1) -> ExpressionModel:
    """A new (unloaded) model by name: ``fer``, ``facex``, ``what_the_face`` or ``convcut``."""
    if name == "convcut":
        from facescope.analysis.expression.convcut import ConvCutModel

        return ConvCutModel(num_threads=num_threads)
    try:
        cls = _MODEL_CLASSES[name]
    except KeyError:
        known = MODEL_NAMES + TRAINED_MODEL_NAMES
        raise ValueError(f"unknown expression model {name!r}; known: {known}") from None
    return cls(num_threads=num_threads)
