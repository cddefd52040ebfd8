"""Calibrate the shipped recognition thresholds (``src/facescope/match/thresholds.json``).

Embeds the 600 aligned celebrity crops (``../shared/testdata/faces/
aligned_celebrities``, one folder per identity) with SFace and dlib, scores every
genuine and impostor pair, and sets each model's threshold (and the fusion's,
weights chosen on the same pairs) at FMR 1e-2, 1e-3 and 1e-4
(:func:`facescope.match.calibrate.calibrate`, as ``facescope calibrate`` does for
a user's own folder). The figures are calibration figures, not a held-out test.

It reproduces the shipped file: dlib's thresholds bit for bit, SFace's to 1e-7 (its
ONNX embeddings here differ in the 8th digit from those the file was made with), every
FNMR, EER and count exactly. About 3 minutes on 2 cores.

    python scripts/fit_thresholds.py [--out src/facescope/match/thresholds.json]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from facescope.match.calibrate import DEFAULT_FMR_TARGETS, calibrate

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=TESTDATA / "faces/aligned_celebrities")
    parser.add_argument("--fmr", type=float, nargs="+", default=list(DEFAULT_FMR_TARGETS))
    parser.add_argument("--out", type=Path, default=ROOT / "src/facescope/match/thresholds.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"{args.data} is absent: the calibration set is needed", file=sys.stderr)
        return 1
    run = calibrate(args.data, fmr_targets=args.fmr)
    if run.failures:
        print(f"no usable face in {len(run.failures)} images: {run.failures}", file=sys.stderr)
    script = "python scripts/fit_thresholds.py"
    if tuple(args.fmr) != DEFAULT_FMR_TARGETS:
        script += f" --fmr {' '.join(f'{t:g}' for t in args.fmr)}"
    record = {**run.calibration.provenance, "script": script}
    saved = replace(run.calibration, provenance=record).save(args.out)
    for name, entry in run.calibration.models.items():
        shown = ", ".join(f"FMR {f:g}: {t:.4f}" for f, t in entry.thresholds.items())
        print(f"{name}: {shown} (EER {entry.eer:.4f})")
    print(f"wrote {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
