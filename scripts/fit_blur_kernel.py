"""Train the learned blur-kernel estimator (``restoration/blur_kernel.npz``).

Data: the crops the other learned weather parts train on (the fit half of
aligned_celebrities and extended_yaleb_dev, all of ORL and NUAA's live photos; the
evaluation half of ``benchmarks/bench_weather.py`` is never read), one person in
`--hold-every` held out for validation. Each sample is a crop (mirrored half the time)
blurred by a known kernel: no blur (10%), else a length uniform in 1-16 px and any
direction, as our synthesiser's path (half of them bent) or as a straight rasterised
line (40%), with sensor noise on 30%. Loss: squared error on ``(L / 16, cos 2a, sin 2a)``
with the length weighted 4x; Adam, one-cycle learning rate. Prints the validation's
median length and angle errors by blur length and writes the weights with provenance.

    python scripts/fit_blur_kernel.py [--samples 80000] [--steps 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from facescope.heads import provenance
from facescope.restoration.blur_kernel import (
    MAX_LENGTH,
    build_network,
    save_estimator,
    spectrum,
    targets,
)
from facescope.restoration.classical import motion_kernel
from facescope.weather.synth import motion_blur_along

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person split are the benchmark's)

#: Validation buckets of the true blur length (px); (0, 0) is no blur.
BUCKETS = ((0.0, 0.0), (1.0, 3.0), (3.0, 6.0), (6.0, 8.0), (8.0, 11.0), (11.0, 16.0))


def sample(crop: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """(spectrum, target, true length) of one randomly blurred crop."""
    import cv2

    if rng.random() < 0.5:
        crop = np.ascontiguousarray(crop[:, ::-1])
    length = 0.0 if rng.random() < 0.1 else float(rng.uniform(1.0, MAX_LENGTH))
    angle = float(rng.uniform(0.0, 180.0))
    if length == 0.0:
        blurred = crop
    elif rng.random() < 0.6:
        bend = float(rng.uniform(0.0, 0.12)) if rng.random() < 0.5 else 0.0
        blurred = motion_blur_along(crop, length, angle, curvature=bend)
    else:
        kernel = motion_kernel(length, angle).astype(np.float32)
        blurred = cv2.filter2D(crop, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if rng.random() < 0.3:
        noisy = blurred + rng.normal(0.0, rng.uniform(1.0, 4.0), blurred.shape)
        blurred = np.clip(noisy, 0, 255).astype(np.uint8)
    return spectrum(blurred), targets(length, angle), length


def make(crops: np.ndarray, n: int, seed: int, what: str) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    rows = [sample(crops[rng.integers(len(crops))], rng) for _ in track(range(n), what)]
    x, y, length = zip(*rows, strict=True)
    return np.stack(x)[:, None], np.stack(y), np.asarray(length)


def errors(net: object, x: np.ndarray, y: np.ndarray, length: np.ndarray) -> dict[str, dict]:
    """Median length (px) and angle (degrees) errors per bucket of true length."""
    import torch

    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()  # type: ignore[operator]
    got = np.clip(out[:, 0] * MAX_LENGTH, 0.0, MAX_LENGTH)
    turn = np.arctan2(out[:, 2], out[:, 1]) / 2 - np.arctan2(y[:, 2], y[:, 1]) / 2
    angle = np.degrees(np.abs((turn + math.pi / 2) % math.pi - math.pi / 2))
    result = {}
    for low, high in BUCKETS:
        keep = length == 0 if high == 0 else (length >= low) & (length < high)
        result[f"{low:g}-{high:g} px"] = {
            "n": int(keep.sum()),
            "length_error_px": round(float(np.median(np.abs(got[keep] - length[keep]))), 3),
            "angle_error_deg": round(float(np.median(angle[keep])), 2) if high else None,
            "length_p90_px": round(float(np.quantile(np.abs(got[keep] - length[keep]), 0.9)), 3),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=80000)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hold-every", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src/facescope/restoration/blur_kernel.npz"
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    console = Console()
    found = bench_weather.fit_crops(["orl", "nuaa"])
    if isinstance(found, str):
        console.print(found)
        return 1
    crops, ids = found
    held = bench_weather.held_out(ids, args.hold_every)
    x, y, _ = make(crops[~held], args.samples, args.seed, "blurring training crops")
    vx, vy, vlength = make(crops[held], 2000, args.seed + 1, "blurring validation crops")
    net = build_network()
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr / 2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.steps)
    weight = torch.tensor([4.0, 1.0, 1.0])
    generator = torch.Generator().manual_seed(args.seed)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    for step in track(range(args.steps), "training"):
        pick = torch.randint(0, len(tx), (args.batch,), generator=generator)
        loss = (((net(tx[pick]) - ty[pick]) ** 2) * weight).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % 1000 == 0:
            console.log(f"step {step + 1}: loss {loss.item():.4f}")
    net.eval()
    validation = errors(net, vx, vy, vlength)
    for bucket, row in validation.items():
        console.print(f"{bucket}: {row}")
    meta = provenance(
        script="python scripts/fit_blur_kernel.py " + " ".join(sys.argv[1:]),
        data=f"fit half of aligned_celebrities and extended_yaleb_dev, all of orl and nuaa "
        f"live ({len(set(ids[~held].tolist()))} people, {int((~held).sum())} crops), "
        f"{args.samples} blurred samples (facescope.weather.synth.motion_blur_along and "
        "straight rasterised lines)",
        split=f"people alternate by sorted name (the evaluation half is never used); "
        f"{len(set(ids[held].tolist()))} people held out for validation (1 in {args.hold_every})",
        seed=args.seed,
        metrics={"validation": validation},
        training={
            "steps": args.steps,
            "batch": args.batch,
            "lr": args.lr,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    console.print(f"wrote {save_estimator(net, args.out, meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
