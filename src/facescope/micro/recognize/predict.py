"""Inference with user-trained weights: a video or a folder of frames -> its class."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.micro.recognize.errors import MicroRecognitionError
from facescope.micro.recognize.network import (
    NetConfig,
    _torch,
    load_weights,
    to_tensor,
    torch_threads,
)
from facescope.micro.recognize.preprocess import CROPS, crop_clip, read_clip


@dataclass(frozen=True)
class MicroExpressionPrediction:
    """The class of one clip.

    Attributes:
        source: the video or frame folder read.
        label: the most probable class; confidence: its probability.
        probabilities: per class, in the weights' class order.
        frames: the (0-based) frames of the clip that were sampled.
        clip_frames: frames in the clip (or its --start/--end span).
        face_box: where the face crop lay in the first sampled frame (crop "detect").
        weights: the weights file; crop: how the frames were cropped.
    """

    source: str
    label: str
    confidence: float
    probabilities: dict[str, float]
    frames: tuple[int, ...]
    clip_frames: int
    face_box: tuple[float, float, float, float] | None
    weights: str
    crop: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "frames": list(self.frames),
            "clip_frames": self.clip_frames,
            "face_box": list(self.face_box) if self.face_box else None,
            "weights": self.weights,
            "crop": self.crop,
        }


class MicroRecognizer:
    """A trained micro-expression network loaded from a weights file."""

    def __init__(self, model: Any, config: NetConfig, meta: dict[str, Any], path: Path) -> None:
        self.model = model
        self.config = config
        self.meta = meta
        self.path = path

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, classes: Sequence[str] | None = None
    ) -> MicroRecognizer:
        """Load ``.npz`` weights made by :func:`facescope.micro.recognize.train_network`
        and :func:`~facescope.micro.recognize.network.save_weights`."""
        model, config, meta = load_weights(path, classes=None if classes is None
                                           else tuple(classes))  # fmt: skip
        return cls(model, config, meta, Path(path))

    @property
    def classes(self) -> tuple[str, ...]:
        return self.config.classes

    def probabilities(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(K,) class probabilities of one (T, S, S, C) clip of crops (or (N, K) for N)."""
        torch = _torch()
        array = np.asarray(crops)
        expected = (self.config.input.frames, self.config.input.size, self.config.input.size,
                    self.config.input.channels)  # fmt: skip
        if array.shape[-4:] != expected or array.dtype != np.uint8:
            raise MicroRecognitionError(
                f"these weights read {expected} uint8 crops, got {array.shape} {array.dtype}"
            )
        with torch_threads(), torch.inference_mode():
            probs = torch.softmax(self.model(to_tensor(array))["logits"], 1).numpy()
        return np.asarray(probs[0] if array.ndim == 4 else probs, np.float32)

    def predict(
        self,
        source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        start: int | None = None,
        end: int | None = None,
        crop: str | None = None,
    ) -> MicroExpressionPrediction:
        """Classify a video file, a folder of a clip's frames or a list of frame files.

        `crop` overrides the weights' crop mode (``detect`` or ``none``).

        Raises:
            MicroRecognitionError: unreadable input, a too-short or too-long clip.
            NoFaceInClipError: no face in the frames (crop ``detect``).
        """
        config = self.config.input
        if crop is not None:
            if crop not in CROPS:
                raise MicroRecognitionError(f"crop must be one of {', '.join(CROPS)}")
            config = replace(config, crop=crop)
        frames, indices, count = read_clip(source, config.frames, start=start, end=end)
        crops, _, box = crop_clip(frames, config)
        probs = self.probabilities(crops)
        best = int(np.argmax(probs))
        name = str(source) if isinstance(source, str | os.PathLike) else f"{len(source)} frames"
        return MicroExpressionPrediction(
            source=name,
            label=self.classes[best],
            confidence=float(probs[best]),
            probabilities={c: float(p) for c, p in zip(self.classes, probs, strict=True)},
            frames=indices,
            clip_frames=count,
            face_box=box,
            weights=str(self.path),
            crop=config.crop,
        )


def recognize_clip(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    weights: str | os.PathLike[str],
    *,
    start: int | None = None,
    end: int | None = None,
    crop: str | None = None,
) -> MicroExpressionPrediction:
    """Load `weights` and classify one clip (see :meth:`MicroRecognizer.predict`)."""
    return MicroRecognizer.load(weights).predict(source, start=start, end=end, crop=crop)


__all__ = ["MicroExpressionPrediction", "MicroRecognizer", "recognize_clip"]
