"""Train the learned restorer (:mod:`facescope.restoration.learned`) on synthetic weather.

Pairs are made on the fly from clean aligned crops: each step degrades a batch
(:func:`facescope.weather.degrade`, one or two kinds at severity 2-5, seeded) and keeps a
share of the batch clean (the restorer must give clean faces back unchanged). The loss,
for identity rather than PSNR:

* ``l1``: mean absolute error to the clean crop;
* ``identity``: 1 - cosine between SFace's features of the restored and the clean crop
  (SFace in PyTorch, :mod:`facescope.embed.sface_torch`, frozen);
* ``dafe``: squared distance between the encoder's 28 px features of the degraded and of
  the clean crop (the clean side detached), relative to the clean features' energy:
  degradation-agnostic features;
* ``gan``: a small spectrally normalised patch discriminator, non-saturating loss,
  started after a warm-up; the restorer's gradients are clipped to norm 1.

The region map of the SFFT layers is the 478-point mesh's regions (canonical face of
:mod:`facescope.analysis.geometry`) projected onto the ArcFace 112 template. Deterministic
for a seed on one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

#: Mesh landmarks standing for the five ArcFace template points.
_FIVE = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477), (1,), (61,), (291,))
#: Region label of each mesh region (see :data:`facescope.restoration.learned.REGIONS`).
_LABELS = {"face_oval": 1, "left_brow": 2, "right_brow": 2, "left_eye": 3, "right_eye": 3,
           "left_iris": 3, "right_iris": 3, "nose": 4, "lips": 5}  # fmt: skip
Progress = Callable[[int, int, dict[str, float]], None]


def region_map() -> npt.NDArray[np.uint8]:
    """(112, 112) labels: the mesh's regions on the ArcFace template (0 = background)."""
    from facescope.align.template import ARCFACE_TEMPLATE_112
    from facescope.analysis.geometry import REGIONS, face_geometry

    canonical = face_geometry().canonical[:, :2]
    five = np.array([canonical[list(idx)].mean(axis=0) for idx in _FIVE])
    matrix, _ = cv2.estimateAffinePartial2D(five.astype(np.float32),
                                            ARCFACE_TEMPLATE_112.astype(np.float32))  # fmt: skip
    points = canonical @ matrix[:, :2].T + matrix[:, 2]
    labels = np.zeros((112, 112), np.uint8)
    for name in ("face_oval", "left_brow", "right_brow", "nose", "left_eye", "right_eye",
                 "left_iris", "right_iris", "lips"):  # fmt: skip
        hull = cv2.convexHull(points[list(REGIONS[name])].astype(np.float32)).astype(np.int32)
        cv2.fillConvexPoly(labels, hull, _LABELS[name])
    # eyes and brows are thin: grow them a little so the pooled masks keep them
    for label in (2, 3):
        grown = cv2.dilate((labels == label).astype(np.uint8), np.ones((5, 5), np.uint8))
        labels[(grown > 0) & (labels <= 1)] = label
    return labels


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_restorer` (all recorded in the weights' meta)."""

    steps: int = 1500
    batch: int = 12
    lr: float = 1e-3
    d_lr: float = 2e-4
    clean_share: float = 0.15
    kinds: tuple[str, ...] = ("rain", "snow", "haze", "low_light", "motion_blur", "noise")
    #: drawn uniformly, so a repeated severity is drawn more often
    severities: tuple[int, ...] = (2, 3, 3, 4, 5)
    w_l1: float = 1.0
    w_identity: float = 1.0
    w_dafe: float = 0.1
    w_gan: float = 0.01
    gan_after: int = 300
    seed: int = 0


def degraded_batch(
    crops: npt.NDArray[np.uint8],
    rng: np.random.Generator,
    *,
    batch: int,
    clean_share: float,
    kinds: Sequence[str],
    severities: Sequence[int],
    variety: float = 0.0,
) -> tuple[npt.NDArray[np.int64], bool, npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """(picked indices, mirrored, clean, degraded): a training batch of synthetic weather.

    Each crop gets one kind (70%) or two, at a severity drawn from `severities`; a
    `clean_share` of the batch is left clean; the whole batch is mirrored half the time
    (faces are near-symmetric, weather is not). With `variety` > 0, each chosen kind of
    :data:`facescope.weather.variety.VARIED` is drawn that often from the wider family of
    :func:`facescope.weather.variety.vary` instead of :func:`degrade` (``variety=0``
    draws exactly what it drew before the option existed).
    """
    from facescope.weather.synth import ORDER, degrade
    from facescope.weather.variety import VARIED, vary

    pick = rng.integers(0, len(crops), size=batch)
    clean = crops[pick]
    degraded = clean.copy()
    for i in range(batch):
        if rng.random() < clean_share:
            continue
        count = 1 if rng.random() < 0.7 or len(kinds) == 1 else 2
        chosen = list(rng.choice(list(kinds), size=count, replace=False))
        severity = int(rng.choice(list(severities)))
        seed = int(rng.integers(1 << 30))
        varied = [k for k in chosen if variety > 0 and k in VARIED and rng.random() < variety]
        if not varied:
            degraded[i] = degrade(clean[i], chosen, severity, seed=seed)
            continue
        stream = np.random.default_rng(seed)
        image = clean[i]
        for k in (k for k in ORDER if k in chosen):  # in physical order, one call each
            if k in varied:
                image = vary(image, k, severity, stream)
            else:
                image = degrade(image, k, severity, seed=int(stream.integers(1 << 30)))
        degraded[i] = image
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        clean, degraded = clean[:, :, ::-1].copy(), degraded[:, :, ::-1].copy()
    return pick, mirrored, clean, degraded


def training_crops(crops: npt.ArrayLike, batch: int) -> npt.NDArray[np.uint8]:
    """`crops` as (n, 112, 112, 3) uint8 with at least `batch` of them, else WeatherError."""
    data = np.asarray(crops)
    if data.ndim != 4 or data.shape[1:] != (112, 112, 3) or data.dtype != np.uint8:
        raise WeatherError(f"training needs (n, 112, 112, 3) uint8 crops, got {data.shape}")
    if len(data) < batch:
        raise WeatherError(f"training needs at least {batch} crops, got {len(data)}")
    return data


def _degraded_batch(
    crops: npt.NDArray[np.uint8], rng: np.random.Generator, config: TrainConfig
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    _, _, clean, degraded = degraded_batch(
        crops, rng, batch=config.batch, clean_share=config.clean_share,
        kinds=config.kinds, severities=config.severities,
    )  # fmt: skip
    return clean, degraded


def _discriminator(torch: Any) -> Any:
    """A small patch discriminator, spectrally normalised (keeps the GAN term bounded)."""
    nn = torch.nn
    sn = torch.nn.utils.spectral_norm
    return nn.Sequential(
        sn(nn.Conv2d(3, 16, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
        sn(nn.Conv2d(16, 32, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
        sn(nn.Conv2d(32, 64, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
        sn(nn.Conv2d(64, 1, 3, padding=1)),
    )  # fmt: skip


def train_restorer(
    crops: npt.NDArray[np.uint8],
    config: TrainConfig = TrainConfig(),
    *,
    progress: Progress | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(trained restorer, training record) from clean aligned (n, 112, 112, 3) crops."""
    from facescope.embed.sface_torch import load_sface_torch
    from facescope.restoration.learned import build_restorer

    data = training_crops(crops, config.batch)
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_restorer(region_map())
    critic = load_sface_torch()
    disc = _discriminator(torch)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.5, 0.99))
    d_optimiser = torch.optim.Adam(disc.parameters(), lr=config.d_lr, betas=(0.5, 0.99))
    softplus = torch.nn.functional.softplus
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    history: list[dict[str, float]] = []
    start = time.perf_counter()

    def tensor(a: npt.NDArray[np.uint8]) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a).astype(np.float32) / 255.0).permute(
            0, 3, 1, 2
        )

    for step in range(config.steps):
        clean_np, degraded_np = _degraded_batch(data, rng, config)
        clean, degraded = tensor(clean_np), tensor(degraded_np)
        restored = model(degraded)
        l1 = (restored - clean).abs().mean()
        with torch.no_grad():
            target = critic(clean * 255.0)
            target = target / target.norm(dim=1, keepdim=True)
            clean_feat = model.encode(clean)[2]
        got = critic(restored * 255.0)
        identity = 1.0 - (got / got.norm(dim=1, keepdim=True) * target).sum(1).mean()
        # relative to the clean features' energy: shrinking the features cannot cheat it
        dafe = ((model.encode(degraded)[2] - clean_feat) ** 2).mean() / (
            (clean_feat**2).mean() + 1e-3
        )
        loss = config.w_l1 * l1 + config.w_identity * identity + config.w_dafe * dafe
        gan = torch.zeros(())
        if step >= config.gan_after:
            gan = softplus(-disc(restored)).mean()  # non-saturating
            loss = loss + config.w_gan * gan
        optimiser.zero_grad()
        if not torch.isfinite(loss):
            raise WeatherError(f"training diverged at step {step + 1} (loss {loss.item()})")
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if step >= config.gan_after - 50:  # the discriminator warms up before it is used
            d_loss = (softplus(-disc(clean)).mean()
                      + softplus(disc(restored.detach())).mean())  # fmt: skip
            d_optimiser.zero_grad()
            d_loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
            d_optimiser.step()
        record = {"step": float(step + 1), "loss": loss.item(), "l1": l1.item(),
                  "identity": identity.item(), "dafe": dafe.item(), "gan": gan.item()}  # fmt: skip
        if (step + 1) % 25 == 0 or step + 1 == config.steps:
            history.append(record)
        if progress is not None:
            progress(step + 1, config.steps, record)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    info = {"config": config.__dict__ | {"kinds": list(config.kinds),
                                         "severities": list(config.severities)},
            "crops": len(data), "seconds": time.perf_counter() - start,
            "history": history[-20:]}  # fmt: skip
    return model, info


def as_kinds(values: Sequence[str] | None) -> tuple[str, ...]:
    """Weather kinds for training, checked (default: all but JPEG)."""
    from facescope.weather.synth import KINDS

    chosen = tuple(values) if values else TrainConfig().kinds
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise WeatherError(f"unknown weather kind(s) {unknown}; known: {', '.join(KINDS)}")
    return chosen


__all__ = [
    "TrainConfig",
    "as_kinds",
    "degraded_batch",
    "region_map",
    "train_restorer",
    "training_crops",
]
