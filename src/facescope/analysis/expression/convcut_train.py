"""Training conv-cut (:mod:`facescope.analysis.expression.convcut`) on FER2013.

Used by ``scripts/fit_expression.py`` and the tests; needs torch. Nothing here prints:
progress goes to an optional callback.

* **Data.** :func:`load_fer2013` reads the shared ``fer2013_train.npz`` (never copied into
  the project) and maps its labels to :data:`EXPRESSIONS` indices.
* **Validation split.** FER2013 has no person ids, so no split can be person-disjoint: the
  same person may appear on both sides. :func:`stratified_split` is a fixed, seeded,
  per-class split (default 10 %); CK+ (other people, posed) is reported as well.
* **Augmentation** (:func:`augment`, batched, from a seeded generator): left-right flip,
  a small affine (rotation, scale, shift), brightness/contrast, Gaussian blur, Gaussian
  noise and random erasing (a grey-level occlusion rectangle).
* **Loss.** Cross-entropy with class weights (inverse frequency to a power, mean 1) and
  label smoothing, for the imbalance (disgust has 436 of 28,709 images).
* **Schedule.** AdamW, linear warm-up then cosine decay to zero; the final weights are kept
  (no selection on the validation split, so its figures are not optimistic).

Deterministic for a seed and a thread count (torch's reductions depend on the threads).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.convcut import (
    ConvCutConfig,
    _torch,
    build_convcut,
    predict_logits,
    to_tensor,
)
from facescope.analysis.expression.ensemble import score_predictions
from facescope.analysis.expression.labels import EXPRESSIONS

#: FER2013's own class names -> EXPRESSIONS names.
FER_NAMES: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "sad": "sadness",
    "surprise": "surprise",
}
#: Seed of the fixed validation split (independent of the training seed).
SPLIT_SEED = 2027
VAL_FRACTION = 0.1


def load_fer2013(path: str | Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(images (n, 48, 48) uint8, labels (n,) indices into EXPRESSIONS) of a FER2013 ``.npz``.

    Raises:
        FileNotFoundError: no file there.
        ValueError: the file lacks ``images``/``labels``/``label_names`` or names a class
            outside FER2013's seven.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        try:
            images = np.asarray(data["images"], np.uint8)
            labels = np.asarray(data["labels"], np.int64)
            names = [str(n) for n in data["label_names"]]
        except KeyError as exc:
            raise ValueError(f"{path} is not a FER2013 array file: {exc}") from exc
    unknown = sorted(set(names) - set(FER_NAMES))
    if unknown:
        raise ValueError(f"{path}: unknown FER2013 classes {unknown}")
    mapping = np.array([EXPRESSIONS.index(FER_NAMES[n]) for n in names], np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{path}: images {images.shape} do not match labels {labels.shape}")
    return images, mapping[labels]


def stratified_split(
    labels: npt.ArrayLike, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(train indices, validation indices): ``fraction`` of each class, seeded, sorted."""
    y = np.asarray(labels, np.int64)
    rng = np.random.default_rng(seed)
    val: list[npt.NDArray[np.int64]] = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        take = max(1, round(fraction * len(members)))
        val.append(rng.permutation(members)[:take])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train_idx = np.setdiff1d(np.arange(len(y)), val_idx)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)


def class_weights(labels: npt.ArrayLike, power: float = 0.5) -> npt.NDArray[np.float32]:
    """Per-class loss weights ``(1 / frequency) ** power``, mean 1 over the classes present."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(EXPRESSIONS)).astype(float)
    w = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1.0)) ** power, 0.0)
    present = counts > 0
    w[present] /= w[present].mean()
    return np.asarray(w, np.float32)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (stored in the weights' meta)."""

    ablation: str = "+attention"
    epochs: float = 20.0
    steps: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.03
    label_smoothing: float = 0.1
    class_weight_power: float = 0.5
    seed: int = 0
    eval_every: int = 0
    eval_limit: int | None = None
    augment: bool = True
    erase_p: float = 0.25
    blur_p: float = 0.1
    noise_p: float = 0.2

    def total_steps(self, n_train: int) -> int:
        """Steps to run: ``steps`` if set, else ``epochs`` over ``n_train`` images."""
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * n_train / self.batch_size))


@dataclass
class TrainRecord:
    """What a training run did: curves and final scores (JSON-ready)."""

    config: dict[str, Any]
    model: dict[str, Any]
    n_train: int
    n_val: int
    class_weights: list[float]
    curves: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view."""
        return asdict(self)


def augment(x: Any, generator: Any, config: TrainConfig | None = None) -> Any:
    """Randomly augmented copy of a normalised (n, 1, 48, 48) batch (see the module notes)."""
    torch = _torch()
    functional = torch.nn.functional
    cfg = config or TrainConfig()
    n = x.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> Any:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    angle = uniform(-10.0, 10.0, n) * math.pi / 180.0
    scale = uniform(0.9, 1.1, n)
    shift = uniform(-0.1, 0.1, n, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
    x = x * uniform(0.8, 1.2, n, 1, 1, 1) + uniform(-0.2, 0.2, n, 1, 1, 1)
    blur = torch.rand(n, generator=generator) < cfg.blur_p
    if bool(blur.any()):
        kernel = torch.tensor([0.25, 0.5, 0.25])
        kernel = (kernel[:, None] * kernel[None, :])[None, None]
        blurred = functional.conv2d(functional.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
        x = torch.where(blur[:, None, None, None], blurred, x)
    noisy = (torch.rand(n, generator=generator) < cfg.noise_p).float()
    sigma = uniform(0.0, 0.2, n) * noisy
    x = x + sigma[:, None, None, None] * torch.randn(x.shape, generator=generator)
    side = x.shape[-1]
    erase = torch.rand(n, generator=generator) < cfg.erase_p
    area = uniform(0.02, 0.12, n) * side * side
    aspect = torch.exp(uniform(math.log(0.3), math.log(3.3), n))
    h = torch.clamp(torch.sqrt(area * aspect).round(), 1, side).long()
    w = torch.clamp(torch.sqrt(area / aspect).round(), 1, side).long()
    top = (torch.rand(n, generator=generator) * (side - h + 1).float()).long()
    left = (torch.rand(n, generator=generator) * (side - w + 1).float()).long()
    fill = uniform(-2.0, 2.0, n)
    rows = torch.arange(side)[None, :]
    inside_r = (rows >= top[:, None]) & (rows < (top + h)[:, None])
    inside_c = (rows >= left[:, None]) & (rows < (left + w)[:, None])
    mask = (inside_r[:, :, None] & inside_c[:, None, :] & erase[:, None, None])[:, None]
    return torch.where(mask, fill[:, None, None, None].expand_as(x), x)


def learning_rate(step: int, total: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine to zero."""
    warm = max(1, round(config.warmup * total))
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def evaluate(
    model: Any, images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64]
) -> dict[str, Any]:
    """Loss (plain cross-entropy), accuracy, macro-F1 and per-class recall on crops."""
    torch = _torch()
    was_training = model.training
    model.eval()
    logits = predict_logits(model, images)
    model.train(was_training)
    loss = float(
        torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    )
    scores = score_predictions(logits, labels, EXPRESSIONS)
    return {
        "loss": loss,
        "accuracy": scores.accuracy,
        "macro_f1": scores.macro_f1,
        "recall": scores.recall,
    }


def train_convcut(
    images: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
    config: TrainConfig,
    *,
    val: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None,
    model_config: ConvCutConfig | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Any, TrainRecord]:
    """Train a new conv-cut on (n, 48, 48) uint8 crops; returns (model in eval mode, record).

    Args:
        images, labels: training crops and their EXPRESSIONS indices.
        config: hyper-parameters (seed, steps or epochs, ...).
        val: validation crops and labels, scored every ``eval_every`` steps (0: once per
            epoch) and at the end; ``eval_limit`` scores only the first that many.
        model_config: the network's shape (default: that of ``config.ablation``).
        progress: called with each curve point as it is recorded.
    """
    torch = _torch()
    cfg = model_config or ConvCutConfig.for_ablation(config.ablation)
    torch.manual_seed(config.seed)
    model = build_convcut(cfg)
    generator = torch.Generator().manual_seed(config.seed + 1)
    rng = np.random.default_rng(config.seed)
    weights = class_weights(labels, config.class_weight_power)
    criterion = torch.nn.CrossEntropyLoss(
        weight=torch.from_numpy(weights), label_smoothing=config.label_smoothing
    )
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "position" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "position" not in n)]
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    n = len(images)
    total = config.total_steps(n)
    per_epoch = max(1, n // config.batch_size)
    every = config.eval_every or per_epoch
    record = TrainRecord(
        config=asdict(config),
        model=cfg.to_dict(),
        n_train=n,
        n_val=0 if val is None else len(val[0]),
        class_weights=[round(float(w), 4) for w in weights],
    )
    val_images, val_labels = val if val is not None else (None, None)
    if val_images is not None and val_labels is not None and config.eval_limit is not None:
        # evenly spaced, not the first N: a file sorted by class would give one class only
        pick = np.linspace(0, len(val_labels) - 1, min(config.eval_limit, len(val_labels)))
        pick = np.unique(pick.round().astype(np.int64))
        val_images, val_labels = val_images[pick], val_labels[pick]
    started = time.perf_counter()
    order = rng.permutation(n)
    cursor, running, seen = 0, 0.0, 0
    model.train()
    for step in range(total):
        if cursor + config.batch_size > n:
            order, cursor = rng.permutation(n), 0
        batch = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        x = to_tensor(images[batch])
        if config.augment:
            x = augment(x, generator, config)
        y = torch.from_numpy(labels[batch])
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, total, config)
        loss = criterion(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running += float(loss.detach())
        seen += 1
        if (step + 1) % every == 0 or step + 1 == total:
            point: dict[str, float] = {
                "step": float(step + 1),
                "epoch": round((step + 1) * config.batch_size / n, 3),
                "lr": learning_rate(step, total, config),
                "train_loss": running / seen,
                "seconds": round(time.perf_counter() - started, 1),
            }
            if val_images is not None and val_labels is not None:
                scores = evaluate(model, val_images, val_labels)
                point.update(
                    val_loss=scores["loss"],
                    val_accuracy=scores["accuracy"],
                    val_macro_f1=scores["macro_f1"],
                )
            record.curves.append(point)
            if progress is not None:
                progress(point)
            running, seen = 0.0, 0
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    record.seconds = round(time.perf_counter() - started, 1)
    if val is not None:
        record.final["val"] = evaluate(model, val[0], val[1])
    return model, record


def grey_crops(paths: Sequence[Path], size: int = 48) -> npt.NDArray[np.uint8]:
    """(n, size, size) grey crops read from image files (resized straight to ``size``)."""
    import cv2

    out = np.zeros((len(paths), size, size), np.uint8)
    for i, path in enumerate(paths):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise FileNotFoundError(f"cannot read image {path}")
        if grey.shape != (size, size):
            grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = grey
    return out
