"""Cold start of `facescope verify` on two photos: converting SFace at start vs loading it.

Each timed run is a new process, `facescope verify PHOTO_A PHOTO_B`, timed wall clock from
spawn to exit. Three set-ups, interleaved run by run so that drift hits them alike:

* ``convert-at-start``: the converted-model cache cannot be written (its folder lies under a
  regular file), so every process imports onnx and converts SFace in memory: the work every
  start did before conversion moved to build time;
* ``empty-cache``: a new empty cache folder per run: the process converts SFace and stores
  it (a first start when `facescope models` was never run);
* ``cached``: the cache that `facescope models` filled (built once, before timing): the
  process only loads the converted graph after checking its SHA-256.

The median of the runs is reported for each (5 by default), with the ratio to ``cached``.

Run: python benchmarks/bench_cold_start.py [--runs 5] [--precision fp32]
     [--photos A B] [--json out/bench_cold_start.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from facescope.models import converted

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
MODES = ("convert-at-start", "empty-cache", "cached")


def facescope_command() -> list[str]:
    """The installed `facescope` script next to this interpreter, else `python -m facescope`."""
    script = Path(sys.executable).parent / "facescope"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "facescope"]


def run_once(command: list[str], environment: dict[str, str]) -> float:
    """Wall time of one process, spawn to exit; raises if it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per set-up")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    parser.add_argument(
        "--photos", nargs=2, type=Path, default=[DATA / "obama_1.jpg", DATA / "obama_2.jpg"]
    )
    parser.add_argument("--json", type=Path, help="write the timings as JSON here")
    args = parser.parse_args()
    console = Console()
    command = [*facescope_command(), "verify", *(str(photo) for photo in args.photos)]

    with tempfile.TemporaryDirectory(prefix="bench_cold_start_") as tmp:
        root = Path(tmp)
        blocker = root / "not-a-folder"
        blocker.write_text("the cache cannot be created under a regular file\n")
        cached = root / "cached"
        base = {**os.environ, "FACESCOPE_SFACE_PRECISION": args.precision}

        # `facescope models`, once, for the cached set-up (its own time is not a start)
        os.environ[converted.CACHE_ENV] = str(cached)
        started = time.perf_counter()
        status = converted.ensure_built(f"sface_{args.precision}")
        build_seconds = time.perf_counter() - started
        if status.status != "ok":
            console.print(f"[red]cannot build the converted graph:[/] {status.detail}")
            return 1

        def environment(mode: str, run: int) -> dict[str, str]:
            folder = {
                "convert-at-start": blocker / "cache",
                "empty-cache": root / f"empty-{run}",
                "cached": cached,
            }[mode]
            return {**base, converted.CACHE_ENV: str(folder)}

        for mode in MODES:  # warm the page cache and the interpreter's bytecode
            run_once(command, environment(mode, -1))
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for run in range(args.runs):
            for mode in MODES:
                times[mode].append(run_once(command, environment(mode, run)))

    medians = {mode: statistics.median(values) for mode, values in times.items()}
    table = Table(
        title=f"cold start: {' '.join(Path(part).name for part in command)} "
        f"({args.precision}, median of {args.runs})"
    )
    for column in ("set-up", "median s", "runs s", "vs cached"):
        table.add_column(column)
    for mode in MODES:
        table.add_row(
            mode,
            f"{medians[mode]:.3f}",
            " ".join(f"{value:.3f}" for value in times[mode]),
            f"{medians[mode] / medians['cached']:.2f}x",
        )
    console.print(table)
    console.print(
        f"building the converted graph once (`facescope models`): {build_seconds:.2f} s; "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "precision": args.precision,
            "runs": args.runs,
            "seconds": times,
            "median_seconds": medians,
            "speed_up_vs_convert_at_start": medians["convert-at-start"] / medians["cached"],
            "build_seconds": build_seconds,
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        console.print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
