"""Dataset folder -> trained weights file (what ``facescope lips train`` runs)."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facescope.lips.read.datasets import Split, load_dataset, split_dataset
from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.evaluate import Accuracy, accuracy
from facescope.lips.read.network import NetConfig, _torch, save_weights, template_of
from facescope.lips.read.train import TrainConfig, TrainReport, prepare_training_set, train_network

#: ``progress(stage, done, total)``: stages ``prepare``, ``train``.
Stages = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LipTrainingRun:
    """A finished ``lips train``: where the weights went, the data, the split, training
    and the held-out accuracy (None without a held-out set)."""

    weights: Path
    dataset: dict[str, Any]
    split: Split
    report: TrainReport
    test: Accuracy | None
    skipped: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        report = self.report.to_dict()
        report.pop("history", None)
        return {
            "weights": str(self.weights),
            "dataset": self.dataset,
            "split": self.split.to_dict(),
            "training": report,
            "test": self.test.to_dict() if self.test else None,
            "skipped": [{"sample": c, "reason": r} for c, r in self.skipped],
        }


def _thinned(history: tuple[dict[str, float], ...], keep: int = 50) -> list[dict[str, float]]:
    step = max(1, len(history) // keep)
    rows = list(history[::step])
    if history and rows[-1] is not history[-1]:
        rows.append(history[-1])
    return [{k: round(v, 5) for k, v in r.items()} for r in rows]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facescope")
    except PackageNotFoundError:  # pragma: no cover - a source checkout
        return "unknown"


def train_from_folder(
    root: str | os.PathLike[str],
    layout: str,
    out: str | os.PathLike[str],
    *,
    words: int | Sequence[str] | None = None,
    per_word: int | None = None,
    frames: int = 29,
    size: int = 88,
    width: int = 16,
    hidden: int = 128,
    backend: str = "gru",
    config: TrainConfig | None = None,
    test_speakers: Sequence[str] | None = None,
    evaluate: bool = True,
    cache: str | os.PathLike[str] | None = None,
    command: str = "",
    progress: Stages | None = None,
) -> LipTrainingRun:
    """Load an LRW/GRID/npz folder, split it (speaker-independent where speakers are
    known), prepare the samples, train on the training part, score the held-out part
    (top-1/top-5) and write the weights (``.npz``, JSON meta with the provenance)."""
    torch = _torch()
    cfg = config or TrainConfig()
    data_set = load_dataset(root, layout, words=words, per_word=per_word)
    split = split_dataset(data_set, test_speakers=test_speakers)

    def stage(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    held = split.test if evaluate else ()
    prepare = stage("prepare")
    everything = prepare_training_set(
        (*split.train, *held), data_set.vocabulary, frames=frames, size=size, cache=cache,
        root=root, progress=prepare,
    )  # fmt: skip
    held_names = {s.name for s in held}
    is_test = np.asarray([n in held_names for n in everything.names], bool)
    if is_test.all():
        raise LipReadingError("no training sample could be read (only held-out ones)")
    train = everything.subset(~is_test)
    arch = NetConfig(data_set.vocabulary, template_of(train.lips), frames=frames, size=size,
                     width=width, hidden=hidden, backend=backend,
                     mesh_points=train.mesh_points)  # fmt: skip
    train_stage = stage("train")
    model, arch, report = train_network(
        train, cfg, net=arch,
        progress=None if train_stage is None else lambda k, n, _r: train_stage(k, n),
    )  # fmt: skip
    test = accuracy(model, everything.subset(is_test)) if is_test.any() else None
    summary = data_set.to_dict()
    summary["prepared"] = len(everything.labels)
    meta = {
        "training": {
            "command": command,
            "dataset": summary,
            "split": split.to_dict(),
            "config": cfg.to_dict(),
            "train_accuracy": report.train_accuracy,
            "test": test.to_dict() if test else None,
            "seconds": round(report.seconds, 1),
            "history": _thinned(report.history),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "torch": str(torch.__version__),
            "facescope": _version(),
            "python": platform.python_version(),
        },
    }
    path = save_weights(model, arch, out, meta)
    skipped = (*data_set.skipped, *everything.skipped)
    return LipTrainingRun(path, summary, split, report, test, skipped)


__all__ = ["LipTrainingRun", "train_from_folder"]
