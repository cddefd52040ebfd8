"""Train the shipped learned restorer (``src/facescope/restoration/restorer.npz``).

Data: the *fit* half of the people (``benchmarks/bench_weather.py``'s split) of the
aligned celebrity crops and Extended Yale B dev, plus every person of the `--extra` sets
(ORL's 40 people and the live photos of NUAA's 9; neither is measured on); the evaluation
half is never seen.
Training: :func:`facescope.weather.train.train_restorer` (pairs synthesised on the fly,
L1 + identity through SFace in torch + DAFE + patch GAN; see its docstring).
Deterministic for a seed and a thread count (``--threads``, default 1).

    python scripts/fit_restorer.py [--steps 1500] [--seed 0] [--extra orl nuaa] \
        [--out src/facescope/restoration/restorer.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import Progress

from facescope.heads import provenance
from facescope.restoration.learned import save_restorer
from facescope.weather.train import TrainConfig, train_restorer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=TrainConfig().steps)
    parser.add_argument("--batch", type=int, default=TrainConfig().batch)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (part of the seed)")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=["orl", "nuaa"],
        help="more clean faces (every person; sets of bench_weather.SETS)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "src/facescope/restoration/restorer.npz")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    found = bench_weather.fit_crops(args.extra)
    if isinstance(found, str):
        print(found)
        return 1
    all_crops, ids = found
    people = len(set(ids.tolist()))
    config = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
    with Progress() as bar:
        task = bar.add_task("training", total=config.steps)

        def step(done: int, total: int, record: dict[str, float]) -> None:
            text = f"training (loss {record['loss']:.3f}, id {record['identity']:.3f})"
            bar.update(task, completed=done, description=text)
            if done % 50 == 0:
                bar.console.log(f"step {done}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in record.items() if k != "step"))  # fmt: skip

        model, info = train_restorer(all_crops, config, progress=step)
    meta = provenance(
        script=f"python scripts/fit_restorer.py --steps {args.steps} --batch {args.batch} "
        f"--seed {args.seed} --threads {args.threads} --extra {' '.join(args.extra)}",
        data=f"fit half of aligned_celebrities and extended_yaleb_dev, and all of "
        f"{', '.join(args.extra) or 'no other set'} ({people} people, {len(all_crops)} "
        "crops), degraded on the fly by facescope.weather.degrade",
        split="people alternate by sorted name; the evaluation half is never used",
        seed=args.seed,
        metrics={"last_losses": info["history"][-1]},
        training=info,
    )
    print(f"wrote {save_restorer(model, args.out, meta)} in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
