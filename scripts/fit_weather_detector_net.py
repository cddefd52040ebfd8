"""Train the shipped weather detector network (``src/facescope/restoration/detector_net.npz``).

Data: the crops the other weather parts train on (``bench_weather.fit_crops``: the fit
half of the people of the aligned celebrities and Extended Yale B dev, and every person of
ORL and NUAA's live photos); the evaluation half is never seen. One person in
`--hold-every` is held out: the thresholds (about `--clean-fpr` of their clean crops and
mirror images fire each kind) and the validation figures are read on them.

Each training crop is left clean (a quarter of the time) or degraded by one kind (70%) or
two, at severity 1-5, by :func:`facescope.weather.degrade` or, for half of the rain, snow
and haze, by :func:`facescope.weather.variety.vary`; mirrored half the time. Loss: binary
cross-entropy per kind, a kind at severity 1 left out of its own term. AdamW with a
one-cycle learning rate. Deterministic for a seed and a thread count.

    python scripts/fit_weather_detector_net.py [--steps 2500] [--batch 32] [--seed 0] \
        [--threads 2] [--hold-every 4] [--clean-fpr 0.005] [--variety 0.5] \
        [--out src/facescope/restoration/detector_net.npz]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.progress import Progress

from facescope.heads import provenance
from facescope.restoration.detector_net import KINDS, as_input, build_network, save_network
from facescope.weather.synth import ORDER, degrade
from facescope.weather.variety import VARIED, vary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)


def sample(
    crop: np.ndarray, rng: np.random.Generator, variety: float, clean_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, labels, loss mask) of one training example."""
    label = np.zeros(len(KINDS), np.float32)
    mask = np.ones(len(KINDS), np.float32)
    if rng.random() < clean_share:
        return crop, label, mask
    count = 1 if rng.random() < 0.7 else 2
    chosen = [str(k) for k in rng.choice(KINDS, size=count, replace=False)]
    image = crop
    for kind in (k for k in ORDER if k in chosen):
        severity = int(rng.integers(1, 6))
        if kind in VARIED and rng.random() < variety:
            image = vary(image, kind, severity, rng)
        else:
            image = degrade(image, kind, severity, seed=int(rng.integers(1 << 30)))
        index = KINDS.index(kind)
        label[index] = float(severity >= 2)
        mask[index] = float(severity != 1)
    return image, label, mask


def validation(net: object, held: np.ndarray, thresholds: dict[str, float]) -> dict[str, object]:
    """Hit rates on the held-out people: each kind alone at severities 1-5 (ours and, for
    rain, snow and haze, the wide family), and false alarms on their clean crops."""
    from facescope.restoration.detector_net import probabilities

    cut = np.array([thresholds[k] for k in KINDS])

    def rates(images: np.ndarray, kind: str) -> dict[str, float]:
        p = probabilities(images, net)
        i = KINDS.index(kind)
        return {"own": float((p[:, i] >= cut[i]).mean()), "any": float((p >= cut).any(1).mean())}

    out: dict[str, object] = {}
    for kind in KINDS:
        for severity in range(1, 6):
            images = np.stack([degrade(c, kind, severity, seed=7000 + j)
                               for j, c in enumerate(held)])  # fmt: skip
            out[f"{kind}/{severity}"] = rates(images, kind)
            if kind in VARIED and severity >= 2:
                wide = np.random.default_rng(9000 + severity)
                images = np.stack([vary(c, kind, severity, wide) for c in held])
                out[f"{kind}~varied/{severity}"] = rates(images, kind)
    p = probabilities(held, net)
    out["clean_false_alarm"] = {k: float((p[:, i] >= cut[i]).mean()) for i, k in enumerate(KINDS)}
    out["clean_any"] = float((p >= cut).any(1).mean())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (part of the seed)")
    parser.add_argument("--hold-every", type=int, default=4, help="hold out 1 person in N")
    parser.add_argument("--clean-fpr", type=float, default=0.005)
    parser.add_argument("--variety", type=float, default=0.5)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src/facescope/restoration/detector_net.npz"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    found = bench_weather.fit_crops(["orl", "nuaa"])
    if isinstance(found, str):
        print(found)
        return 1
    crops, ids = found
    held = bench_weather.held_out(ids, args.hold_every)
    train = crops[~held]
    net = build_network()
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=args.lr, total_steps=args.steps
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    history = []
    start = time.perf_counter()
    with Progress() as bar:
        task = bar.add_task("training", total=args.steps)
        for step in range(args.steps):
            batch = [sample(train[i], rng, args.variety)
                     for i in rng.integers(0, len(train), args.batch)]  # fmt: skip
            images = np.stack([b[0][:, ::-1] if rng.random() < 0.5 else b[0] for b in batch])
            y = torch.from_numpy(np.stack([b[1] for b in batch]))
            m = torch.from_numpy(np.stack([b[2] for b in batch]))
            net.train()
            logits = net(torch.from_numpy(as_input(images)))
            loss = (loss_fn(logits, y) * m).sum() / m.sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.update(task, completed=step + 1, description=f"training (loss {loss.item():.4f})")
            if (step + 1) % 100 == 0:
                history.append({"step": step + 1, "loss": round(loss.item(), 5)})
    net.eval()
    seconds = time.perf_counter() - start
    from facescope.restoration.detector_net import probabilities

    held_crops = crops[held]
    both = np.concatenate([held_crops, np.ascontiguousarray(held_crops[:, :, ::-1])])
    p = probabilities(both, net)
    thresholds = {k: max(float(np.quantile(p[:, i], 1.0 - args.clean_fpr)), 0.5)
                  for i, k in enumerate(KINDS)}  # fmt: skip
    checks = validation(net, held_crops, thresholds)
    print(json.dumps(checks, indent=1))
    meta = provenance(
        script="python scripts/fit_weather_detector_net.py " + " ".join(sys.argv[1:]),
        data=f"fit half of aligned_celebrities and extended_yaleb_dev, all of orl and nuaa "
        f"live ({len(set(ids[~held].tolist()))} people, {len(train)} crops), degraded on the fly "
        f"by facescope.weather.degrade ({args.variety:.0%} of rain, snow, haze by "
        "weather.variety)",
        split=f"people alternate by sorted name (the evaluation half is never used); "
        f"{len(set(ids[held].tolist()))} people held out for thresholds and validation "
        f"(1 in {args.hold_every})",
        seed=args.seed,
        metrics={"held_out": checks, "last_losses": history[-5:]},
    )
    meta |= {"kinds": list(KINDS), "thresholds": thresholds, "seconds": round(seconds)}
    print(f"wrote {save_network(net, args.out, meta)} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
