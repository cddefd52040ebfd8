"""Dataset folder -> trained weights file (what ``facescope micro train`` runs)."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facescope.micro.recognize.datasets import load_dataset
from facescope.micro.recognize.evaluate import LosoReport, loso
from facescope.micro.recognize.network import NetConfig, _torch, save_weights
from facescope.micro.recognize.preprocess import InputConfig
from facescope.micro.recognize.train import (
    TrainConfig,
    TrainReport,
    prepare_training_set,
    train_network,
)

#: ``progress(stage, done, total)``: stages ``prepare``, ``loso``, ``train``.
Stages = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MicroTrainingRun:
    """A finished ``micro train``: where the weights went, the data, training and LOSO."""

    weights: Path
    dataset: dict[str, Any]
    report: TrainReport
    loso: LosoReport | None
    skipped: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        report = self.report.to_dict()
        report.pop("history", None)
        return {
            "weights": str(self.weights),
            "dataset": self.dataset,
            "training": report,
            "loso": self.loso.to_dict() if self.loso else None,
            "skipped": [{"clip": c, "reason": r} for c, r in self.skipped],
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
    dataset: str,
    out: str | os.PathLike[str],
    *,
    scheme: str = "3",
    annotations: str | os.PathLike[str] | None = None,
    input: InputConfig | None = None,
    flow: str | None = "tvl1",
    landmarks: bool = True,
    width: int = 32,
    blocks: int = 1,
    neighbours: int = 4,
    config: TrainConfig | None = None,
    evaluate: bool = False,
    command: str = "",
    progress: Stages | None = None,
) -> MicroTrainingRun:
    """Load a CASME II/SAMM/SMIC folder, prepare its clips, optionally run LOSO, train on
    every clip and write the weights (``.npz``, JSON meta with the provenance) to `out`."""
    torch = _torch()
    cfg = config or TrainConfig()
    pipeline = input or InputConfig()
    data_set = load_dataset(root, dataset, scheme=scheme, annotations=annotations)

    def stage(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    data = prepare_training_set(data_set, pipeline, flow=flow, landmarks=landmarks,
                                progress=stage("prepare"))  # fmt: skip
    arch = NetConfig(classes=data.classes, input=pipeline, width=width, blocks=blocks,
                     neighbours=neighbours)  # fmt: skip
    report_loso = loso(data, cfg, net=arch, progress=stage("loso")) if evaluate else None
    train_stage = stage("train")
    model, arch, report = train_network(
        data, cfg, net=arch,
        progress=None if train_stage is None else lambda k, n, _r: train_stage(k, n),
    )  # fmt: skip
    summary = data_set.to_dict()
    summary["prepared"] = len(data.clips)
    meta = {
        "classes": list(data.classes),
        "scheme": scheme,
        "training": {
            "command": command,
            "dataset": summary,
            "flow_target": flow,
            "landmark_targets": landmarks,
            "config": cfg.to_dict(),
            "train_accuracy": report.train_accuracy,
            "seconds": round(report.seconds, 1),
            "history": _thinned(report.history),
            "loso": report_loso.to_dict() if report_loso else None,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "torch": str(torch.__version__),
            "facescope": _version(),
            "python": platform.python_version(),
        },
    }
    path = save_weights(model, arch, out, meta)
    return MicroTrainingRun(path, summary, report, report_loso, data.skipped)


__all__ = ["MicroTrainingRun", "train_from_folder"]
