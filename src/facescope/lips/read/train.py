"""Training: word classification with landmark supervision and stream alignment.

The loss is ``CE(fused) + graph_weight * CE(landmark stream) + align_weight * InfoNCE``:
label-smoothed cross-entropy of the fused network's words, the same for the auxiliary
classifier of the landmark stream alone (the graph features are supervised by the words
directly, so they stay informative where the crops are ambiguous), and a symmetric
InfoNCE between the two streams' per-sample embeddings (temperature 0.1; the batch's
other samples are the negatives) that aligns what the crops and the landmarks say.
For limited data and unseen speakers, batches are augmented (on by default): a mirror
flip (crops flipped, landmarks reflected and re-indexed by the symmetry graph's
partners), a random shift of the crop by up to 4 px, and a random brightness/contrast
change; crops are standardised per sample and landmarks normalised per sample.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.lips.read.datasets import Track, WordSample, source_track
from facescope.lips.read.errors import LipReadingError
from facescope.lips.read.graphs import mirror
from facescope.lips.read.network import (
    NetConfig,
    _torch,
    build_network,
    template_of,
    to_tensors,
    torch_threads,
)
from facescope.lips.read.preprocess import prepare_sample

#: ``progress(done, total)``.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainingSet:
    """Prepared samples (arrays; what training and evaluation read).

    Attributes:
        crops: (N, T, S, S) uint8. lips: (N, T, K, 2) float32, normalised per sample.
        labels: (N,) int64 indices into `vocabulary`.
        names, speakers: per sample (speaker "" when unknown).
        mesh_points: MediaPipe mesh index per landmark, when known.
        skipped: (sample, reason) for samples that could not be read.
    """

    crops: npt.NDArray[np.uint8]
    lips: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    vocabulary: tuple[str, ...]
    names: tuple[str, ...]
    speakers: tuple[str, ...]
    mesh_points: tuple[int, ...] | None = None
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.crops)
        if n == 0:
            raise LipReadingError("no samples to train on")
        if self.crops.ndim != 4 or self.crops.dtype != np.uint8:
            raise LipReadingError(f"crops must be (N, T, S, S) uint8, got {self.crops.shape}")
        if self.lips.ndim != 4 or self.lips.shape[:2] != self.crops.shape[:2] or (
                self.lips.shape[-1] != 2):  # fmt: skip
            raise LipReadingError(f"lips must be (N, T, K, 2) like the crops, got "
                                  f"{self.lips.shape}")  # fmt: skip
        if len(self.labels) != n or len(self.names) != n or len(self.speakers) != n:
            raise LipReadingError("crops, labels, names and speakers differ in length")
        if self.labels.min() < 0 or self.labels.max() >= len(self.vocabulary):
            raise LipReadingError(f"labels must be 0..{len(self.vocabulary) - 1}")

    def subset(self, keep: npt.NDArray[np.bool_]) -> TrainingSet:
        """The samples where `keep` is true."""
        return replace(self, crops=self.crops[keep], lips=self.lips[keep],
                       labels=self.labels[keep],
                       names=tuple(v for v, k in zip(self.names, keep, strict=True) if k),
                       speakers=tuple(v for v, k in zip(self.speakers, keep, strict=True)
                                      if k))  # fmt: skip


def prepare_training_set(
    samples: Sequence[WordSample],
    vocabulary: Sequence[str],
    *,
    frames: int = 29,
    size: int = 88,
    cache: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    extract: Callable[[Path], Track] | None = None,
    progress: Progress | None = None,
) -> TrainingSet:
    """Read each sample's track (extracting videos), cut its span, resample it to
    `frames` and normalise it; samples that fail are skipped with the reason."""
    words = tuple(vocabulary)
    crops, lips, labels, names, speakers = [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    mesh: tuple[int, ...] | None = None
    points: int | None = None
    last: tuple[Path, Track] | None = None
    total = len(samples)
    for k, sample in enumerate(samples):
        if progress:
            progress(k, total)
        try:
            if last is None or last[0] != sample.source:
                last = (sample.source, source_track(sample.source, cache=cache, root=root,
                                                    extract=extract))  # fmt: skip
            track = last[1].cut(sample.span)
            if len(track.crops) < 2:
                raise LipReadingError(f"{len(track.crops)} frame(s) of the word in its track")
            if points is not None and track.lips.shape[1] != points:
                raise LipReadingError(f"{track.lips.shape[1]} landmarks, the others {points}")
            c, p = prepare_sample(track.crops, track.lips, frames=frames, size=size)
        except FacescopeError as exc:
            skipped.append((sample.name, str(exc)))
            continue
        if points is None:
            points, mesh = p.shape[1], track.mesh_points
        crops.append(c)
        lips.append(p)
        labels.append(words.index(sample.word))
        names.append(sample.name)
        speakers.append(sample.speaker or track.speaker or "")
    if progress:
        progress(total, total)
    if not crops:
        reasons = "; ".join(f"{c}: {r}" for c, r in skipped[:3])
        raise LipReadingError(f"no sample could be read ({reasons})")
    return TrainingSet(np.stack(crops), np.stack(lips), np.asarray(labels, np.int64), words,
                       tuple(names), tuple(speakers), mesh, tuple(skipped))  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyper-parameters.

    Attributes:
        steps: optimiser steps; batch: samples per step; lr: AdamW's peak (one-cycle).
        graph_weight: of the landmark stream's auxiliary word loss.
        align_weight: of the InfoNCE alignment of the two streams.
        label_smoothing: of the cross-entropies. weight_decay: AdamW's.
        augment: mirror flips, shifts and brightness changes of the batches.
        seed: of the weights, the sampling and the augmentation.
    """

    steps: int = 300
    batch: int = 16
    lr: float = 2e-3
    graph_weight: float = 0.3
    align_weight: float = 0.1
    label_smoothing: float = 0.1
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise LipReadingError("steps and batch must be positive")
        if not self.lr > 0:
            raise LipReadingError(f"lr must be positive, got {self.lr}")
        if min(self.graph_weight, self.align_weight, self.weight_decay) < 0:
            raise LipReadingError("loss weights and weight decay must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise LipReadingError("label_smoothing must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch": self.batch, "lr": self.lr,
                "graph_weight": self.graph_weight, "align_weight": self.align_weight,
                "label_smoothing": self.label_smoothing, "weight_decay": self.weight_decay,
                "augment": self.augment, "seed": self.seed}  # fmt: skip


@dataclass(frozen=True)
class TrainReport:
    """What training did. `history` rows: ``step, loss, words, graph, align, accuracy``
    (accuracy of that batch's fused predictions)."""

    history: tuple[dict[str, float], ...]
    train_accuracy: float
    seconds: float
    config: TrainConfig
    parameters: int
    samples: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"train_accuracy": self.train_accuracy, "seconds": round(self.seconds, 2),
                "config": self.config.to_dict(), "parameters": self.parameters,
                "samples": self.samples, "first": self.history[0] if self.history else {},
                "last": self.history[-1] if self.history else {},
                "history": list(self.history), **self.extra}  # fmt: skip


def _batches(labels: npt.NDArray[np.int64], config: TrainConfig) -> Any:
    rng = np.random.default_rng(config.seed)
    n = len(labels)
    order = rng.permutation(n)
    at = 0
    for _ in range(config.steps):
        take = min(config.batch, n)
        if at + take > n:
            order, at = rng.permutation(n), 0
        yield order[at : at + take]
        at += take


def augment(
    crops: npt.NDArray[np.uint8],
    lips: npt.NDArray[np.float32],
    partner: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Mirror flips (half the samples), shifts of up to 4 px and brightness changes."""
    c = crops.copy()
    p = lips.copy()
    s = c.shape[-1]
    for i in range(len(c)):
        if rng.random() < 0.5:
            c[i] = c[i, :, :, ::-1]
            p[i] = p[i][:, partner] * np.array([-1.0, 1.0], np.float32)
        dy, dx = rng.integers(-4, 5, 2)
        padded = np.pad(c[i], ((0, 0), (4, 4), (4, 4)), mode="edge")
        c[i] = padded[:, 4 + dy : 4 + dy + s, 4 + dx : 4 + dx + s]
        gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
        c[i] = np.clip(c[i].astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    return c, p


def losses(out: dict[str, Any], labels: Any, config: TrainConfig) -> dict[str, Any]:
    """The three losses and their weighted sum (``total``) for one batch."""
    torch = _torch()
    functional = torch.nn.functional
    words = functional.cross_entropy(out["logits"], labels,
                                     label_smoothing=config.label_smoothing)  # fmt: skip
    graph = functional.cross_entropy(out["graph_logits"], labels,
                                     label_smoothing=config.label_smoothing)  # fmt: skip
    a, b = out["crop_embedding"], out["graph_embedding"]
    if len(a) >= 2:
        similarity = a @ b.T / 0.1
        target = torch.arange(len(a))
        align = 0.5 * (functional.cross_entropy(similarity, target)
                       + functional.cross_entropy(similarity.T, target))  # fmt: skip
    else:
        align = 1 - (a * b).sum(-1).mean()
    total = words + config.graph_weight * graph + config.align_weight * align
    return {"total": total, "words": words, "graph": graph, "align": align}


def predict_arrays(
    model: Any, crops: npt.NDArray[np.uint8], lips: npt.NDArray[np.float32], batch: int = 16
) -> npt.NDArray[np.float32]:
    """(N, V) word probabilities of prepared (N, T, S, S) crops and (N, T, K, 2) lips."""
    torch = _torch()
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for k in range(0, len(crops), batch):
            logits = model(*to_tensors(crops[k : k + batch], lips[k : k + batch]))["logits"]
            out.append(torch.softmax(logits, 1).numpy())
    model.train(was_training)
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def train_network(
    data: TrainingSet,
    config: TrainConfig | None = None,
    *,
    net: NetConfig | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[Any, NetConfig, TrainReport]:
    """Train a fresh network on `data`; returns (model in eval mode, architecture, report).

    Without `net`, the default architecture for the data's vocabulary, frames, crop
    size and landmark template (the mean shape of `data`).
    """
    cfg = config or TrainConfig()
    _, frames, size = data.crops.shape[:3]
    arch = net or NetConfig(data.vocabulary, template_of(data.lips), frames=frames, size=size,
                            mesh_points=data.mesh_points)  # fmt: skip
    if arch.vocabulary != data.vocabulary:
        raise LipReadingError("the architecture's vocabulary must be the data's")
    if (arch.frames, arch.size, arch.points) != (frames, size, data.lips.shape[2]):
        raise LipReadingError(
            f"the architecture reads {arch.frames} frames of {arch.size} px and {arch.points} "
            f"landmarks; the data has {frames}, {size} and {data.lips.shape[2]}"
        )
    with torch_threads():
        return _train(data, cfg, arch, progress)


def _train(
    data: TrainingSet,
    cfg: TrainConfig,
    arch: NetConfig,
    progress: Callable[[int, int, dict[str, float]], None] | None,
) -> tuple[Any, NetConfig, TrainReport]:
    torch = _torch()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    model = build_network(arch)
    model.train()
    partner = mirror(np.asarray(arch.template))
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.15
    )
    labels = torch.from_numpy(data.labels)
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for step, idx in enumerate(_batches(data.labels, cfg), start=1):
        crops, lips = data.crops[idx], data.lips[idx]
        if cfg.augment:
            crops, lips = augment(crops, lips, partner, rng)
        out = model(*to_tensors(crops, lips))
        parts = losses(out, labels[idx], cfg)
        optimiser.zero_grad()
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        schedule.step()
        accuracy = float((out["logits"].argmax(1) == labels[idx]).float().mean())
        record = {"step": float(step), "loss": float(parts["total"].detach()),
                  "words": float(parts["words"].detach()),
                  "graph": float(parts["graph"].detach()),
                  "align": float(parts["align"].detach()), "accuracy": accuracy}  # fmt: skip
        history.append(record)
        if progress:
            progress(step, cfg.steps, record)
    model.eval()
    probabilities = predict_arrays(model, data.crops, data.lips)
    train_accuracy = float((probabilities.argmax(1) == data.labels).mean())
    for p in model.parameters():
        p.requires_grad_(False)
    report = TrainReport(
        history=tuple(history),
        train_accuracy=train_accuracy,
        seconds=time.perf_counter() - started,
        config=cfg,
        parameters=int(sum(p.numel() for p in model.parameters())),
        samples=len(data.crops),
    )
    return model, arch, report


__all__ = [
    "TrainConfig",
    "TrainReport",
    "TrainingSet",
    "augment",
    "losses",
    "predict_arrays",
    "prepare_training_set",
    "train_network",
]
