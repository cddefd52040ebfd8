"""Training: micro-expression recognition jointly with optical flow and 68 landmarks.

The loss is ``CE(logits, label) + 0.5 * EPE(flow) + 0.5 * L(landmarks)``: cross-entropy
(class-balanced sampling of the clips, as the datasets are unbalanced), the mean
end-point error of the predicted flow against the TV-L1/DIS target, and the mean
point-to-point distance of the predicted landmarks (in crop units), over the frames whose
landmarks are known. An auxiliary task without targets contributes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.micro.recognize.datasets import MicroDataset
from facescope.micro.recognize.errors import MicroRecognitionError
from facescope.micro.recognize.network import (
    NetConfig,
    _torch,
    build_network,
    to_tensor,
    torch_threads,
)
from facescope.micro.recognize.preprocess import FLOWS, InputConfig, prepare_clip

#: ``progress(done, total)``.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainingSet:
    """Prepared clips and their targets (arrays; what training and LOSO read).

    Attributes:
        clips: (N, T, S, S, C) uint8 crops.
        labels: (N,) int64 class indices into `classes`.
        subjects, names: per clip.
        classes: class names in label order.
        flows: (N, T-1, 2, S/2, S/2) float32 flow targets, or None.
        landmarks: (N, T, 68, 2) float32 targets in [0, 1] (NaN: unknown), or None.
        input: how the crops were made.
        skipped: (clip, reason) for clips that could not be prepared.
    """

    clips: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    subjects: tuple[str, ...]
    names: tuple[str, ...]
    classes: tuple[str, ...]
    input: InputConfig
    flows: npt.NDArray[np.float32] | None = None
    landmarks: npt.NDArray[np.float32] | None = None
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.clips)
        if n == 0:
            raise MicroRecognitionError("no clips to train on")
        if len(self.labels) != n or len(self.subjects) != n or len(self.names) != n:
            raise MicroRecognitionError("clips, labels, subjects and names differ in length")
        if self.labels.min() < 0 or self.labels.max() >= len(self.classes):
            raise MicroRecognitionError(
                f"labels must be 0..{len(self.classes) - 1} for classes {list(self.classes)}"
            )
        s, t = self.input.size, self.input.frames
        if self.clips.shape[1:] != (t, s, s, self.input.channels):
            raise MicroRecognitionError(
                f"clips are {self.clips.shape[1:]}, expected {(t, s, s, self.input.channels)}"
            )

    def subset(self, keep: npt.NDArray[np.bool_]) -> TrainingSet:
        """The clips where `keep` is true."""
        return replace(
            self,
            clips=self.clips[keep],
            labels=self.labels[keep],
            subjects=tuple(s for s, k in zip(self.subjects, keep, strict=True) if k),
            names=tuple(s for s, k in zip(self.names, keep, strict=True) if k),
            flows=None if self.flows is None else self.flows[keep],
            landmarks=None if self.landmarks is None else self.landmarks[keep],
        )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation hyper-parameters.

    Attributes:
        steps: optimiser steps; batch: clips per step; lr: AdamW learning rate.
        flow_weight, landmark_weight: weights of the auxiliary losses (0.5 / 0.5 as MOL).
        weight_decay: AdamW's; balanced: sample the classes equally often.
        seed: of the weights and the sampling.
    """

    steps: int = 300
    batch: int = 8
    lr: float = 1e-3
    flow_weight: float = 0.5
    landmark_weight: float = 0.5
    weight_decay: float = 1e-4
    balanced: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise MicroRecognitionError("steps and batch must be positive")
        if not self.lr > 0:
            raise MicroRecognitionError(f"lr must be positive, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch": self.batch, "lr": self.lr,
                "flow_weight": self.flow_weight, "landmark_weight": self.landmark_weight,
                "weight_decay": self.weight_decay, "balanced": self.balanced,
                "seed": self.seed}  # fmt: skip


@dataclass(frozen=True)
class TrainReport:
    """What training did: per-step losses and batch accuracy, and the final training accuracy.

    `history` rows: ``step, loss, mer, flow, landmarks, accuracy`` (of that batch).
    """

    history: tuple[dict[str, float], ...]
    train_accuracy: float
    seconds: float
    config: TrainConfig
    parameters: int
    clips: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"train_accuracy": self.train_accuracy, "seconds": round(self.seconds, 2),
                "config": self.config.to_dict(), "parameters": self.parameters,
                "clips": self.clips, "first": self.history[0] if self.history else {},
                "last": self.history[-1] if self.history else {},
                "history": list(self.history), **self.extra}  # fmt: skip


def prepare_training_set(
    dataset: MicroDataset,
    config: InputConfig,
    *,
    flow: str | None = "tvl1",
    landmarks: bool = True,
    progress: Progress | None = None,
) -> TrainingSet:
    """Read, crop and make the targets of every clip of `dataset` (skipping bad clips)."""
    if flow is not None and flow not in FLOWS:
        raise MicroRecognitionError(f"unknown flow method {flow!r}: use {', '.join(FLOWS)}")
    clips, labels, subjects, names, flows, points = [], [], [], [], [], []
    skipped: list[tuple[str, str]] = list(dataset.skipped)
    total = len(dataset.clips)
    for k, clip in enumerate(dataset.clips):
        if progress:
            progress(k, total)
        try:
            prepared = prepare_clip(list(clip.frames), config, flow=flow, landmarks=landmarks)
        except FacescopeError as exc:
            skipped.append((f"{clip.subject}/{clip.name}", str(exc)))
            continue
        clips.append(prepared.frames)
        labels.append(dataset.classes.index(clip.label))
        subjects.append(clip.subject)
        names.append(clip.name)
        flows.append(prepared.flow)
        points.append(prepared.landmarks)
    if progress:
        progress(total, total)
    if not clips:
        reasons = "; ".join(f"{c}: {r}" for c, r in skipped[:3])
        raise MicroRecognitionError(f"no clip could be prepared ({reasons})")
    return TrainingSet(
        clips=np.stack(clips),
        labels=np.asarray(labels, np.int64),
        subjects=tuple(subjects),
        names=tuple(names),
        classes=dataset.classes,
        input=config,
        flows=np.stack(flows) if flow else None,  # type: ignore[arg-type]
        landmarks=np.stack(points) if landmarks else None,  # type: ignore[arg-type]
        skipped=tuple(skipped),
    )


def _batches(labels: npt.NDArray[np.int64], config: TrainConfig) -> Any:
    rng = np.random.default_rng(config.seed)
    n = len(labels)
    if config.balanced:
        counts = np.bincount(labels)
        weights = 1.0 / counts[labels]
        weights /= weights.sum()
    else:
        weights = np.full(n, 1.0 / n)
    for _ in range(config.steps):
        yield rng.choice(n, size=min(config.batch, n), replace=False, p=weights)


def joint_losses(
    out: dict[str, Any],
    labels: Any,
    flows: Any | None,
    landmarks: Any | None,
    config: TrainConfig,
) -> dict[str, Any]:
    """The three losses and their weighted sum (``total``) for one batch."""
    torch = _torch()
    functional = torch.nn.functional
    zero = out["logits"].new_zeros(())
    mer = functional.cross_entropy(out["logits"], labels)
    flow = zero
    if flows is not None and config.flow_weight > 0:
        flow = torch.linalg.vector_norm(out["flow"] - flows, dim=2).mean()
    points = zero
    if landmarks is not None and config.landmark_weight > 0:
        known = torch.isfinite(landmarks).all(-1).all(-1)  # (b, t)
        if bool(known.any()):
            error = torch.linalg.vector_norm(out["landmarks"] - torch.nan_to_num(landmarks), dim=-1)
            points = error.mean(-1)[known].mean()
    total = mer + config.flow_weight * flow + config.landmark_weight * points
    return {"total": total, "mer": mer, "flow": flow, "landmarks": points}


def predict_arrays(model: Any, clips: npt.NDArray[np.uint8], batch: int = 16) -> Any:
    """(N, K) class probabilities of (N, T, S, S, C) crops."""
    torch = _torch()
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for k in range(0, len(clips), batch):
            logits = model(to_tensor(clips[k : k + batch]))["logits"]
            out.append(torch.softmax(logits, 1).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def train_network(
    data: TrainingSet,
    config: TrainConfig | None = None,
    *,
    net: NetConfig | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[Any, NetConfig, TrainReport]:
    """Train a fresh network on `data`; returns (model in eval mode, architecture, report)."""
    cfg = config or TrainConfig()
    arch = net or NetConfig(classes=data.classes, input=data.input)
    if arch.classes != data.classes or arch.input != data.input:
        raise MicroRecognitionError("the architecture's classes and input must match the data")
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
    model = build_network(arch)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1
    )
    labels = torch.from_numpy(data.labels)
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for step, idx in enumerate(_batches(data.labels, cfg), start=1):
        x = to_tensor(data.clips[idx])
        flows = None if data.flows is None else torch.from_numpy(data.flows[idx])
        points = None if data.landmarks is None else torch.from_numpy(data.landmarks[idx])
        out = model(x)
        losses = joint_losses(out, labels[idx], flows, points, cfg)
        optimiser.zero_grad()
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        schedule.step()
        accuracy = float((out["logits"].argmax(1) == labels[idx]).float().mean())
        record = {"step": float(step), "loss": float(losses["total"].detach()),
                  "mer": float(losses["mer"].detach()), "flow": float(losses["flow"].detach()),
                  "landmarks": float(losses["landmarks"].detach()),
                  "accuracy": accuracy}  # fmt: skip
        history.append(record)
        if progress:
            progress(step, cfg.steps, record)
    model.eval()
    probabilities = predict_arrays(model, data.clips)
    train_accuracy = float((probabilities.argmax(1) == data.labels).mean())
    for p in model.parameters():
        p.requires_grad_(False)
    report = TrainReport(
        history=tuple(history),
        train_accuracy=train_accuracy,
        seconds=time.perf_counter() - started,
        config=cfg,
        parameters=int(sum(p.numel() for p in model.parameters())),
        clips=len(data.clips),
    )
    return model, arch, report


def smoothed(values: Sequence[float], window: int = 5) -> list[float]:
    """A running mean of `values` (for reading noisy per-batch curves)."""
    out = []
    for k in range(len(values)):
        chunk = values[max(0, k - window + 1) : k + 1]
        out.append(float(np.mean(chunk)))
    return out


__all__ = [
    "TrainConfig",
    "TrainReport",
    "TrainingSet",
    "joint_losses",
    "predict_arrays",
    "prepare_training_set",
    "smoothed",
    "train_network",
]
