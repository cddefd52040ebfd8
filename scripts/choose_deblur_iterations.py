"""Choose Richardson-Lucy's iteration count and colour space for ``restoration.deblur``.

Data: crops the learned weather parts train on (``bench_weather.fit_crops``: the fit half
of aligned_celebrities and extended_yaleb_dev, ORL, NUAA's live photos; the evaluation
half is never read), `--per-identity` crops of each person, `--crops` of them at random.
Each is blurred by our synthesiser's motion blur at severities 1-5 (`--repeats` seeds),
its kernel estimated by the learned estimator (what ``auto`` deblurs with), and
deblurred in linear light and in sRGB with 10 to 160 iterations. Printed: SFace's mean
cosine between the deblurred crop and the clean one, by estimated blur length, for each
iteration count, and for the shipped rule (``classical._default_iterations``).

    python scripts/choose_deblur_iterations.py [--crops 120] [--repeats 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.restoration import classical
from facescope.restoration.blur_kernel import estimate_blur
from facescope.weather.synth import degrade

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)

ITERATIONS = (10, 20, 30, 45, 60, 90, 120, 160)
#: Buckets of the estimated blur length, px.
BUCKETS = ((0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 14), (14, 40))


def deblurred(blurred: np.ndarray, psf: np.ndarray, linear: bool) -> list[np.ndarray]:
    """The crop deblurred with each of ITERATIONS, in linear light or in sRGB."""
    unit = blurred.astype(np.float64) / 255.0
    if linear:
        unit = classical._srgb_to_linear(unit)
    back = classical._linear_to_srgb if linear else (lambda x: x)
    return [
        classical._to_uint8(back(x)) for x in classical.richardson_lucy_steps(unit, psf, ITERATIONS)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", type=int, default=120)
    parser.add_argument("--per-identity", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from facescope.pipeline import embed_aligned_crops

    found = bench_weather.fit_crops(["orl", "nuaa"])
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 1
    crops, ids = found
    crops = crops[bench_weather.subsample(np.ones(len(ids), bool), ids, args.per_identity)]
    rng = np.random.default_rng(args.seed)
    crops = crops[rng.permutation(len(crops))[: args.crops]]
    clean = embed_aligned_crops(crops).vectors
    columns = [f"{space} {n}" for space in ("linear", "sRGB") for n in ITERATIONS]
    lengths, rows = [], []
    jobs = [(s, r) for s in range(1, 6) for r in range(args.repeats)]
    for severity, repeat in track(jobs, description="blurring and deblurring"):
        seed = 1000 * (severity * args.repeats + repeat)
        blurred = np.stack([degrade(c, "motion_blur", severity, seed=seed + i)
                            for i, c in enumerate(crops)])  # fmt: skip
        kernels = estimate_blur(blurred)
        outs: list[list[np.ndarray]] = [[] for _ in range(len(columns) + 2)]
        for image, kernel in zip(blurred, kernels, strict=True):
            psf = classical.motion_kernel(max(kernel.length, 1.0), kernel.angle)
            done = deblurred(image, psf, True) + deblurred(image, psf, False)
            for j, x in enumerate(done):
                outs[j].append(x)
            outs[-2].append(image)
            outs[-1].append(classical.deblur(image, kernel=psf))
        cos = [np.sum(embed_aligned_crops(np.stack(o)).vectors * clean, axis=1) for o in outs]
        rows.append(np.stack(cos, axis=1))
        lengths.append([k.length for k in kernels])
    length, table = np.concatenate(lengths), np.concatenate(rows)
    out = Table(title="SFace cosine to the clean crop after deblurring, by estimated length")
    for name in ("length px", "n", "blurred", "shipped", *columns):
        out.add_column(name)
    for lo, hi in BUCKETS:
        m = (length >= lo) & (length < hi)
        if m.any():
            mean = table[m].mean(axis=0)
            cells = [f"{x:.4f}" for x in (mean[-2], mean[-1], *mean[:-2])]
            out.add_row(f"{lo}-{hi}", str(int(m.sum())), *cells)
    Console(width=400).print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
