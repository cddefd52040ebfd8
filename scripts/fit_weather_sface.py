"""Train the shipped weather-adapted SFace front end (``src/facescope/embed/sface_weather.npz``).

Data: what the learned restorer trains on (``bench_weather.fit_crops``: the fit half of
the people of the aligned celebrities and Extended Yale B dev, and every person of ORL and
NUAA's live photos); the evaluation half is never seen. One person in `--hold-every` of
these is held out of training for validation: for each kind at severities 3 and 5, the
mean cosine between SFace's features of the clean crop and those of the degraded crop,
by the pinned SFace and by the adapted one.
Training: :func:`facescope.weather.adapt.train_adapted_sface` (distillation; see there).
Deterministic for a seed and a thread count.

    python scripts/fit_weather_sface.py [--steps 3000] [--batch 16] [--seed 0] \
        [--threads 2] [--kinds rain ...] [--clean-share 0.15] [--init WEIGHTS.npz] \
        [--variety 0.5] [--out src/facescope/embed/sface_weather.npz]

``--init`` goes on from earlier adapted weights (e.g. the shipped ones); the validation
always covers all six kinds, whatever ``--kinds`` trains on, and rain, snow and haze
drawn by :func:`facescope.weather.variety.vary` (``--variety`` trains on that share of
them drawn so).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.progress import Progress

from facescope.embed.sface_weather import load_adapted, save_adapted
from facescope.heads import provenance
from facescope.weather.adapt import (
    AdaptConfig,
    as_config,
    train_adapted_sface,
    validation_cosine,
)
from facescope.weather.variety import VARIED, vary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)


def validation_set(
    crops: np.ndarray, ids: np.ndarray, held: np.ndarray, kinds: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """kind/severity -> (clean, degraded) of up to 4 crops per held-out person."""
    from facescope.weather.synth import degrade

    pick = bench_weather.subsample(held, ids, 4)
    clean = crops[pick]
    out = {}
    for kind in kinds:
        for severity in (3, 5):
            degraded = np.stack([degrade(c, kind, severity, seed=1000 + i)
                                 for i, c in enumerate(clean)])  # fmt: skip
            out[f"{kind}/{severity}"] = (clean, degraded)
    for kind in VARIED:  # the wider family of rain, snow and haze (weather.variety)
        for severity in (3, 5):
            degraded = np.stack([vary(c, kind, severity, np.random.default_rng(1000 + i))
                                 for i, c in enumerate(clean)])  # fmt: skip
            out[f"{kind}~varied/{severity}"] = (clean, degraded)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=AdaptConfig().steps)
    parser.add_argument("--batch", type=int, default=AdaptConfig().batch)
    parser.add_argument("--lr", type=float, default=AdaptConfig().lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (part of the seed)")
    parser.add_argument("--hold-every", type=int, default=8, help="hold out 1 person in N")
    parser.add_argument("--kinds", nargs="+", help="weather kinds to train on (default: all six)")
    parser.add_argument("--clean-share", type=float, default=AdaptConfig().clean_share)
    parser.add_argument(
        "--variety", type=float, default=0.0,
        help="share of rain, snow and haze drawn from weather.variety's wider family",
    )  # fmt: skip
    parser.add_argument(
        "--init", type=Path, help="adapted weights to start from (default: the pinned SFace)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "src/facescope/embed/sface_weather.npz")
    args = parser.parse_args()
    import torch

    from facescope.embed.sface_torch import load_sface_torch

    torch.set_num_threads(args.threads)
    found = bench_weather.fit_crops(["orl", "nuaa"])
    if isinstance(found, str):
        print(found)
        return 1
    crops, ids = found
    held = bench_weather.held_out(ids, args.hold_every)
    config = as_config(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                       clean_share=args.clean_share, kinds=args.kinds,
                       variety=args.variety)  # fmt: skip
    checks = validation_set(crops, ids, held, AdaptConfig().kinds)
    init = load_adapted(args.init)[0] if args.init else None
    with Progress() as bar:
        task = bar.add_task("training", total=config.steps)

        def step(done: int, total: int, record: dict[str, float]) -> None:
            bar.update(task, completed=done, description=f"training (loss {record['loss']:.4f})")
            if done % 100 == 0:
                bar.console.log(f"step {done}: loss {record['loss']:.4f}")

        model, info = train_adapted_sface(crops[~held], config, init=init, progress=step)
    teacher = load_sface_torch()
    validation = {
        key: {"sface": round(validation_cosine(teacher, clean, bad, teacher), 4),
              "adapted": round(validation_cosine(model, clean, bad, teacher), 4)}
        for key, (clean, bad) in checks.items()
    }  # fmt: skip
    clean_all = np.concatenate([c for c, _ in list(checks.values())[:1]])
    validation["clean"] = {"sface": 1.0,
                           "adapted": round(validation_cosine(model, clean_all, clean_all,
                                                              teacher), 4)}  # fmt: skip
    print(json.dumps(validation, indent=1))
    train_people = len(set(ids[~held].tolist()))
    meta = provenance(
        script="python scripts/fit_weather_sface.py " + " ".join(sys.argv[1:]),
        data=f"fit half of aligned_celebrities and extended_yaleb_dev, all of orl and nuaa "
        f"live ({train_people} people, {int((~held).sum())} crops), degraded on the fly by "
        "facescope.weather.degrade"
        + (f" ({args.variety:.0%} of rain, snow, haze by weather.variety)" * bool(args.variety)),
        split=f"people alternate by sorted name (the evaluation half is never used); "
        f"{len(set(ids[held].tolist()))} people held out for validation (1 in {args.hold_every})",
        seed=args.seed,
        metrics={"validation_cosine_to_clean": validation, "last_losses": info["history"][-1]},
        training=info,
    )
    print(f"wrote {save_adapted(model, args.out, meta)} in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
