"""Train SFace's front end to see through weather (:mod:`facescope.embed.sface_weather`).

A distillation on synthetic weather, the recogniser-side alternative to restoring pixels:
the *teacher* is the pinned SFace (frozen) reading a clean aligned crop; the *student*
is the same network whose first blocks (``conv_1`` .. ``conv_7``) are trainable, reading
that crop degraded (:func:`facescope.weather.degrade`, one or two kinds at severity
1-5, a share left clean; optionally a share of rain, snow and haze drawn from the wider
family of :func:`facescope.weather.variety.vary`). The loss is ``1 - cosine`` between
the student's features of the degraded crop and the teacher's of the clean one, so the
student's features stay in SFace's space (a gallery embedded by the shipped SFace still
matches, at the shipped thresholds) while the weather's effect on them shrinks.
BatchNorm keeps SFace's running statistics (eval mode); its scale and shift are trained
with the convolutions.

The teacher's features of every clean crop (and its mirror image) are computed once.
Adam with a cosine-decayed learning rate; gradients clipped to norm 1. Deterministic for
a seed and a thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import WeatherError

Progress = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class AdaptConfig:
    """Hyper-parameters of :func:`train_adapted_sface` (recorded in the weights' meta)."""

    steps: int = 3000
    batch: int = 16
    lr: float = 2e-4
    clean_share: float = 0.15
    kinds: tuple[str, ...] = ("rain", "snow", "haze", "low_light", "motion_blur", "noise")
    #: drawn uniformly, so a repeated severity is drawn more often
    severities: tuple[int, ...] = (1, 2, 3, 3, 4, 5)
    seed: int = 0
    #: share of rain, snow and haze drawn from the wider family of
    #: :func:`facescope.weather.variety.vary` instead of :func:`~facescope.weather.degrade`
    variety: float = 0.0


def _features(model: Any, torch: Any, crops: npt.NDArray[np.uint8]) -> Any:
    """Unit-length features of uint8 (n, 112, 112, 3) crops, no gradients."""
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), 64):
            x = torch.from_numpy(crops[start : start + 64].astype(np.float32))
            out.append(model(x.permute(0, 3, 1, 2)))
    feats = torch.cat(out)
    return feats / feats.norm(dim=1, keepdim=True)


def validation_cosine(
    model: Any, clean: npt.NDArray[np.uint8], degraded: npt.NDArray[np.uint8], teacher: Any = None
) -> float:
    """Mean cosine between `model`'s features of `degraded` and the teacher's of `clean`."""
    import torch

    from facescope.embed.sface_torch import load_sface_torch

    teacher = teacher if teacher is not None else load_sface_torch()
    target = _features(teacher, torch, clean)
    got = _features(model, torch, degraded)
    return float((target * got).sum(1).mean())


def train_adapted_sface(
    crops: npt.NDArray[np.uint8],
    config: AdaptConfig = AdaptConfig(),
    *,
    init: Any = None,
    progress: Progress | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(student SFaceTorch, training record) from clean aligned (n, 112, 112, 3) crops.

    `init`: the student to start from, trained in place (e.g.
    :func:`facescope.embed.sface_weather.load_adapted` of earlier weights); None starts
    from the pinned SFace.
    """
    from facescope.embed.sface_torch import load_sface_torch
    from facescope.embed.sface_weather import ADAPTED_BLOCKS
    from facescope.weather.train import degraded_batch, training_crops

    data = training_crops(crops, config.batch)
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    teacher = load_sface_torch()
    targets = (_features(teacher, torch, data),
               _features(teacher, torch, np.ascontiguousarray(data[:, :, ::-1])))  # fmt: skip
    student = load_sface_torch() if init is None else init  # both in eval mode
    trainable = student.features[:ADAPTED_BLOCKS]
    trainable.requires_grad_(True)
    params = [p for p in trainable.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for step in range(config.steps):
        pick, mirrored, _, degraded = degraded_batch(
            data, rng, batch=config.batch, clean_share=config.clean_share,
            kinds=config.kinds, severities=config.severities, variety=config.variety,
        )  # fmt: skip
        target = targets[int(mirrored)][torch.from_numpy(pick)]
        x = torch.from_numpy(degraded.astype(np.float32)).permute(0, 3, 1, 2)
        got = student(x)
        loss = 1.0 - (got / got.norm(dim=1, keepdim=True) * target).sum(1).mean()
        if not torch.isfinite(loss):
            raise WeatherError(f"training diverged at step {step + 1} (loss {loss.item()})")
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call, unused-ignore]
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        record = {"step": float(step + 1), "loss": loss.item()}
        if (step + 1) % 25 == 0 or step + 1 == config.steps:
            history.append(record)
        if progress is not None:
            progress(step + 1, config.steps, record)
    student.eval()
    student.requires_grad_(False)
    info = {
        "config": config.__dict__ | {"kinds": list(config.kinds),
                                     "severities": list(config.severities)},
        "crops": len(data),
        "seconds": time.perf_counter() - start,
        "history": history[-20:],
    }  # fmt: skip
    return student, info


def as_config(**values: Any) -> AdaptConfig:
    """An :class:`AdaptConfig` with `values` (kinds checked against the synthesiser's)."""
    from facescope.weather.synth import KINDS

    kinds: Sequence[str] = values.get("kinds") or AdaptConfig().kinds
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise WeatherError(f"unknown weather kind(s) {unknown}; known: {', '.join(KINDS)}")
    variety = values.get("variety", 0.0)
    if not (isinstance(variety, int | float) and 0.0 <= variety <= 1.0):
        raise WeatherError(f"variety must be a share in [0, 1], got {variety!r}")
    return AdaptConfig(**(values | {"kinds": tuple(kinds)}))


__all__ = ["AdaptConfig", "as_config", "train_adapted_sface", "validation_cosine"]
