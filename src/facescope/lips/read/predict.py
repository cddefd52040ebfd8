"""Inference with user-trained weights: a track file or a video -> its most likely words."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.lips.read.datasets import source_track
from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.network import NetConfig, _torch, load_weights, to_tensors, torch_threads
from facescope.lips.read.preprocess import prepare_sample


@dataclass(frozen=True)
class LipReadingPrediction:
    """The words one mouth sequence most likely says.

    Attributes:
        source: the track file or video read.
        word: the most probable word; confidence: its probability.
        top: (word, probability) of the `k` most probable words, best first.
        frames: frames of the track read (after --start/--end), resampled to the
            network's frame count.
        weights: the weights file.
    """

    source: str
    word: str
    confidence: float
    top: tuple[tuple[str, float], ...]
    frames: int
    weights: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "word": self.word,
            "confidence": self.confidence,
            "top": [{"word": w, "probability": p} for w, p in self.top],
            "frames": self.frames,
            "weights": self.weights,
        }


class LipReader:
    """A trained lip-reading network loaded from a weights file."""

    def __init__(self, model: Any, config: NetConfig, meta: dict[str, Any], path: Path) -> None:
        self.model = model
        self.config = config
        self.meta = meta
        self.path = path

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, vocabulary: Sequence[str] | None = None
    ) -> LipReader:
        """Load ``.npz`` weights made by ``facescope lips train`` (or
        :func:`~facescope.lips.read.network.save_weights`); `vocabulary`, when given,
        must be the file's."""
        model, config, meta = load_weights(path, vocabulary=None if vocabulary is None
                                           else tuple(vocabulary))  # fmt: skip
        return cls(model, config, meta, Path(path))

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self.config.vocabulary

    def probabilities(self, crops: npt.ArrayLike, lips: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """(V,) word probabilities of one sample: (T, S, S) uint8 crops and (T, K, 2|3)
        landmarks (any T, any S; resampled and normalised here)."""
        torch = _torch()
        k = np.shape(lips)[1] if np.ndim(lips) == 3 else None
        if k != self.config.points:
            raise LipReadingError(
                f"these weights read {self.config.points} landmarks per frame, got lips of "
                f"shape {np.shape(lips)}"
            )
        c, p = prepare_sample(crops, lips, frames=self.config.frames, size=self.config.size)
        with torch_threads(), torch.inference_mode():
            logits = self.model(*to_tensors(c, p))["logits"]
            probs = torch.softmax(logits, 1).numpy()[0]
        return np.asarray(probs, np.float32)

    def predict(
        self,
        source: str | os.PathLike[str],
        *,
        top: int = 5,
        start: int | None = None,
        end: int | None = None,
        cache: str | os.PathLike[str] | None = None,
    ) -> LipReadingPrediction:
        """Read one word from a track ``.npz`` (``facescope lips VIDEO --out DIR`` writes
        them) or a video (its mouth is extracted first, the longest face track).

        `start`/`end`: the first and last (inclusive) rows of the track to read.
        """
        if top < 1:
            raise LipReadingError(f"top must be >= 1, got {top}")
        track = source_track(source, cache=cache)
        rows = len(track.crops)
        first = 0 if start is None else start
        last = rows - 1 if end is None else min(end, rows - 1)
        if first < 0 or first > last:
            raise LipReadingError(f"--start/--end select no frame of the {rows} of {source}")
        crops, lips = track.crops[first : last + 1], track.lips[first : last + 1]
        probs = self.probabilities(crops, lips)
        order = np.argsort(-probs)[:top]
        best = int(order[0])
        return LipReadingPrediction(
            source=str(source),
            word=self.vocabulary[best],
            confidence=float(probs[best]),
            top=tuple((self.vocabulary[int(i)], float(probs[i])) for i in order),
            frames=len(crops),
            weights=str(self.path),
        )


def read_lips(
    source: str | os.PathLike[str],
    weights: str | os.PathLike[str],
    *,
    top: int = 5,
    start: int | None = None,
    end: int | None = None,
) -> LipReadingPrediction:
    """Load `weights` and read one word (see :meth:`LipReader.predict`)."""
    return LipReader.load(weights).predict(source, top=top, start=start, end=end)


__all__ = ["LipReader", "LipReadingPrediction", "read_lips"]
