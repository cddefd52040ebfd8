"""Micro-expression recognition: speed of each stage, and LOSO on synthetic data.

No public micro-expression dataset can be shipped or downloaded here (CASME II, SAMM
and SMIC are licensed per user), so accuracy on them is for users to measure with
``facescope micro train DIR --format ... --loso``. This benchmark reports:

* preprocessing per clip on a real talking head (``../shared/testdata/video``):
  decode + detect + align, 68 landmarks, and the TV-L1 / DIS flow targets;
* one training step and one inference at the documented default architecture
  (64 px grey, 8 frames, width 32, 1 F5C block; batch 8), single-threaded;
* leave-one-subject-out UF1 / UAR / accuracy on the synthetic CASME II-style set of
  the tests (:mod:`facescope.micro.recognize.synth`), a sanity check of the whole
  path (a subtle, class-dependent movement on unseen subjects), not a real-data figure.

    FACESCOPE_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_micro_recognize.py \
        [--steps 150] [--json out/bench_micro_recognize.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from facescope.micro.recognize import (
    InputConfig,
    NetConfig,
    TrainConfig,
    build_network,
    load_dataset,
    loso,
    prepare_training_set,
)
from facescope.micro.recognize.network import parameter_count, to_tensor
from facescope.micro.recognize.preprocess import crop_clip, flow_targets, read_clip
from facescope.micro.recognize.synth import write_casme2
from facescope.micro.recognize.train import joint_losses

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "../shared/testdata/video/talking_head_1.mp4"


def _timed(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def preprocessing() -> dict[str, float]:
    if not VIDEO.is_file():
        return {}
    config = InputConfig()
    frames, _, _ = read_clip(VIDEO, config.frames, end=40)
    seconds: dict[str, float] = {}
    seconds["decode 41 frames, sample 8"], _ = _timed(lambda: read_clip(VIDEO, 8, end=40), 1)
    seconds["detect + align 8 frames"], (crops, _, _) = _timed(lambda: crop_clip(frames, config))
    with_points, _ = _timed(lambda: crop_clip(frames, config, landmarks=True))
    seconds["+ 68 landmarks"] = with_points - seconds["detect + align 8 frames"]
    seconds["TV-L1 flow, 7 pairs"], _ = _timed(lambda: flow_targets(crops, "tvl1"))
    seconds["DIS flow, 7 pairs"], _ = _timed(lambda: flow_targets(crops, "dis"))
    return seconds


def network() -> dict[str, Any]:
    config = NetConfig(("negative", "positive", "surprise"))
    torch.manual_seed(0)
    model = build_network(config)
    optimiser = torch.optim.AdamW(model.parameters(), 1e-3)
    rng = np.random.default_rng(0)
    x = to_tensor(rng.integers(0, 255, (8, 8, 64, 64, 1), dtype=np.uint8))
    labels = torch.zeros(8, dtype=torch.long)
    flows = torch.zeros(8, 7, 2, 32, 32)
    points = torch.full((8, 8, 68, 2), 0.5)

    def step() -> None:
        losses = joint_losses(model(x), labels, flows, points, TrainConfig())
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()

    model.train()
    train_s, _ = _timed(step)
    model.eval()
    with torch.inference_mode():
        infer_s, _ = _timed(lambda: model(x[:1]))
    return {"parameters": parameter_count(model), "train step (batch 8)": train_s,
            "inference (1 clip)": infer_s}  # fmt: skip


def synthetic_loso(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_casme2(tmp, subjects=6, per_class=4, size=64, frames=12, seed=0)
        pipeline = InputConfig(size=48, frames=8, crop="none")
        data = prepare_training_set(load_dataset(root, "casme2"), pipeline, flow="dis",
                                    landmarks=False)  # fmt: skip
        start = time.perf_counter()
        report = loso(data, TrainConfig(steps=steps, batch=8, lr=3e-3),
                      net=NetConfig(data.classes, pipeline, width=16))  # fmt: skip
        seconds = time.perf_counter() - start
    s = report.scores
    return {"clips": len(data.clips), "subjects": len(report.folds), "steps": steps,
            "uf1": s.uf1, "uar": s.uar, "accuracy": s.accuracy, "seconds": seconds}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"preprocessing_s": preprocessing(), "network": network(),
               "synthetic_loso": synthetic_loso(args.steps)}  # fmt: skip
    console = Console()
    table = Table("stage", "value")
    for group, values in results.items():
        for name, value in values.items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            table.add_row(f"{group}: {name}", shown)
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
