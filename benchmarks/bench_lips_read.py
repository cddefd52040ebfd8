"""Lip reading: speed of training and inference on this CPU, and synthetic sanity checks.

No lip-reading dataset can be shipped or downloaded here (LRW and GRID are licensed per
user) and no pretrained weights exist offline, so accuracy on real data is for users
to measure with ``facescope lips train DIR --format lrw|grid``. This benchmark reports:

* one training step (batch 8 and 16) and one inference (batch 1) at the documented
  default architecture (29 frames of 88x88 crops, 20 landmarks, width 16, BiGRU 128),
  and with the TCN back-end, single-threaded;
* the training loop on the synthetic words (:mod:`facescope.lips.read.synth`): loss and
  accuracy at the start and the end, training accuracy, and top-1 on held-out
  *speakers* (a sanity check of the whole path, not a real-data figure);
* with ``--video``, the mouth extraction of a real video (``facescope.lips``) and one
  prediction from its track.

    FACESCOPE_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_lips_read.py \
        [--steps 150] [--json out/bench_lips_read.json] [--video VIDEO]
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

from facescope.lips.read import (
    NetConfig,
    TrainConfig,
    accuracy,
    build_network,
    load_dataset,
    prepare_training_set,
    split_dataset,
    train_network,
)
from facescope.lips.read.network import parameter_count, template_of, to_tensors
from facescope.lips.read.synth import WORDS, synthetic_word, write_npz_dataset
from facescope.lips.read.train import TrainConfig as _Config
from facescope.lips.read.train import losses


def _timed(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _template() -> tuple[tuple[float, float], ...]:
    lips = synthetic_word("ba", np.random.default_rng(0)).lips
    from facescope.lips.read.preprocess import normalise_lips

    return template_of(normalise_lips(lips)[None])


def _train_step(model: Any, optimiser: Any, crops: Any, lips: Any, labels: Any) -> None:
    model.train()
    out = model(*to_tensors(crops, lips))
    loss = losses(out, labels, _Config())["total"]
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


def _infer(model: Any, crops: Any, lips: Any) -> None:
    with torch.inference_mode():
        model(*to_tensors(crops, lips))


def speed() -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for backend in ("gru", "tcn"):
        config = NetConfig(WORDS, _template(), backend=backend)
        torch.manual_seed(0)
        model = build_network(config)
        optimiser = torch.optim.AdamW(model.parameters(), 1e-3)
        row: dict[str, Any] = {"backend": backend, "parameters": parameter_count(model)}
        for batch in (8, 16):
            crops = rng.integers(0, 255, (batch, 29, 88, 88), dtype=np.uint8)
            lips = rng.normal(size=(batch, 29, 20, 2)).astype(np.float32)
            labels = torch.from_numpy(rng.integers(0, len(WORDS), batch))
            seconds = _timed(lambda m=model, o=optimiser, c=crops, p=lips, y=labels:
                             _train_step(m, o, c, p, y), 2)  # fmt: skip
            row[f"train step, batch {batch} (s)"] = round(seconds, 3)
            row[f"train samples/s, batch {batch}"] = round(batch / seconds, 1)
        model.eval()
        one = rng.integers(0, 255, (1, 29, 88, 88), dtype=np.uint8)
        points = rng.normal(size=(1, 29, 20, 2)).astype(np.float32)
        row["inference, 1 sample (ms)"] = round(
            1000 * _timed(lambda m=model, c=one, p=points: _infer(m, c, p), 5), 1)  # fmt: skip
        rows.append(row)
    return rows


def synthetic(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_npz_dataset(Path(tmp), words=WORDS, speakers=5, per_speaker=3)
        data = load_dataset(root, "npz")
        split = split_dataset(data)
        everything = prepare_training_set(data.samples, data.vocabulary, frames=16, size=48)
    held = np.asarray([s == split.test[0].speaker for s in everything.speakers])
    train = everything.subset(~held)
    out: dict[str, Any] = {"words": len(data.vocabulary), "train samples": len(train.labels),
                           "held-out speaker samples": int(held.sum())}  # fmt: skip
    for augment in (False, True):
        arch = NetConfig(train.vocabulary, template_of(train.lips), frames=16, size=48,
                         width=8, hidden=32)  # fmt: skip
        config = TrainConfig(steps=steps, batch=8, lr=3e-3, augment=augment)
        model, _, report = train_network(train, config, net=arch)
        h = report.history
        k = max(1, min(10, len(h) // 5))
        tag = "augmented" if augment else "plain"
        out[tag] = {
            "seconds": round(report.seconds, 1),
            "loss first/last": [round(float(np.mean([r["loss"] for r in h[:k]])), 3),
                                round(float(np.mean([r["loss"] for r in h[-k:]])), 3)],
            "batch accuracy first/last": [
                round(float(np.mean([r["accuracy"] for r in h[:k]])), 3),
                round(float(np.mean([r["accuracy"] for r in h[-k:]])), 3)],
            "train accuracy": round(report.train_accuracy, 3),
            "held-out speaker top-1": round(accuracy(model, everything.subset(held)).top1, 3),
        }  # fmt: skip
    return out


def video(path: Path) -> dict[str, Any]:
    from facescope.lips.read.datasets import extract_track

    start = time.perf_counter()
    track = extract_track(path)
    seconds = time.perf_counter() - start
    config = NetConfig(WORDS, template_of(track.lips[None, :, :, :2]),
                       mesh_points=track.mesh_points)  # fmt: skip
    from facescope.lips.read import LipReader

    reader = LipReader(build_network(config).eval(), config, {}, path)
    predict = _timed(lambda: reader.probabilities(track.crops[:29], track.lips[:29]), 3)
    return {"frames": len(track.crops), "landmarks": track.lips.shape[1],
            "extraction (s)": round(seconds, 2),
            "extraction per frame (ms)": round(1000 * seconds / max(1, len(track.crops)), 1),
            "predict 29 frames, untrained net (ms)": round(1000 * predict, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--video", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, Any] = {"torch": torch.__version__, "threads": 1}
    results["speed"] = speed()
    results["synthetic"] = synthetic(args.steps)
    if args.video:
        results["video"] = video(args.video)
    console = Console()
    table = Table("backend", *[k for k in results["speed"][0] if k != "backend"])
    for row in results["speed"]:
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    console.print_json(json.dumps({k: v for k, v in results.items() if k != "speed"}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
