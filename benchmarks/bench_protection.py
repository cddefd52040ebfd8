"""Cost and unlinkability of cancelable templates on the calibration set.

For sface and dlib embeddings of ``../shared/testdata/faces/aligned_celebrities``
(from the evaluation cache), compares raw templates with protected ones: the
keyed rotation, and random-hyperplane codes of 128/256/512 bits. Cost: TAR at
FMR 1e-3 and EER (thresholds set on each scheme's own impostors). Unlinkability:
the same faces protected under two different keys are compared across keys; the
genuine and impostor cross-key scores should be indistinguishable (EER near 50%).

Benefit: the model-inversion audits that ``benchmarks/bench_inversion.py`` wrote
under `--audits` (``sface`` = raw templates, ``protected-key-unknown``,
``protected-key-known``) join the cost in one HTML report in `--report`.

    python benchmarks/bench_protection.py [--json out/bench_protection.json] \
        [--audits out/audit] [--report out/protection]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.evaluate.cache import EmbeddingCache, embed_dataset
from facescope.evaluate.datasets import generate_pairs, load_dataset
from facescope.evaluate.metrics import verification_metrics
from facescope.privacy import CancelableTransform
from facescope.privacy.protection_report import SchemeCost, write_protection_report

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
#: Audit folder under --audits for each inversion scenario, and the command that fills it.
AUDITS = {
    "raw": ("sface", "python benchmarks/bench_inversion.py --out out/audit/sface"),
    "protected-key-unknown": (
        "protected-key-unknown",
        "python benchmarks/bench_inversion.py --per-identity 2 --scenario protected-key-unknown "
        "--no-pipeline --out out/audit/protected-key-unknown",
    ),
    "protected-key-known": (
        "protected-key-known",
        "python benchmarks/bench_inversion.py --per-identity 2 --scenario protected-key-known "
        "--no-pipeline --out out/audit/protected-key-known",
    ),
}
KEY_A, KEY_B = "deployment-A-secret-0123456789", "deployment-B-secret-9876543210"


def _metrics(t_a: np.ndarray, t_b: np.ndarray, sim, pairs) -> tuple[float, float]:
    scores = np.array(
        [sim(t_a[i : i + 1], t_b[j : j + 1])[0, 0] for i, j in zip(pairs.a, pairs.b, strict=True)]
    )
    m = verification_metrics(scores[pairs.same], scores[~pairs.same], fmr_targets=(1e-3,))
    return m.tar_at_far[1e-3], m.eer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=ROOT / "out/eval_cache.sqlite3")
    parser.add_argument("--audits", type=Path, default=ROOT / "out/audit")
    parser.add_argument("--report", type=Path, default=ROOT / "out/protection")
    args = parser.parse_args()
    console = Console()
    source = TESTDATA / "faces/aligned_celebrities"
    if not (source / "labels.csv").is_file():
        console.print(f"[yellow]{source} not found: skipped[/]")
        return
    dataset = load_dataset(source)
    embedded = embed_dataset(dataset, ["sface", "dlib"], cache=EmbeddingCache(args.cache))
    pairs = generate_pairs(dataset, max_impostor=40_000, seed=0)
    table = Table(title="cancelable templates on aligned_celebrities (TAR @ FMR 1e-3, EER)")
    for column in ("model", "scheme", "TAR @ 1e-3", "EER", "cross-key EER (unlinkability)"):
        table.add_column(column)
    report = []
    for model in ("sface", "dlib"):
        x = embedded.vectors[model][embedded.found]
        schemes: list[tuple[str, CancelableTransform | None, CancelableTransform | None]] = [
            ("raw", None, None),
            ("rotation", CancelableTransform(KEY_A, model), CancelableTransform(KEY_B, model)),
        ]
        for bits in (128, 256, 512):
            schemes.append(
                (
                    f"{bits}-bit codes",
                    CancelableTransform(KEY_A, model, binary=True, bits=bits),
                    CancelableTransform(KEY_B, model, binary=True, bits=bits),
                )
            )
        for name, ta, tb in schemes:
            if ta is None or tb is None:
                tar, eer = _metrics(x, x, lambda a, b: a @ b.T, pairs)
                cross = float("nan")
            else:
                pa, pb = ta.protect(x), tb.protect(x)
                tar, eer = _metrics(pa, pa, ta.similarity, pairs)
                _, cross = _metrics(pa, pb, ta.similarity, pairs)
            report.append(
                {"model": model, "scheme": name, "tar": tar, "eer": eer, "cross_eer": cross}
            )
            table.add_row(
                model, name, f"{100 * tar:.2f}%", f"{100 * eer:.2f}%",
                "" if np.isnan(cross) else f"{100 * cross:.1f}%",
            )  # fmt: skip
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    audits, missing = {}, {}
    for scenario, (folder, command) in AUDITS.items():
        path = args.audits / folder / "metrics.json"
        if path.is_file():
            audits[scenario] = json.loads(path.read_text())
        else:
            missing[scenario] = command
    costs = [
        SchemeCost(r["model"], r["scheme"], r["tar"], r["eer"],
                   None if np.isnan(r["cross_eer"]) else r["cross_eer"])
        for r in report
    ]  # fmt: skip
    page = write_protection_report(costs, audits, args.report, missing=missing)
    console.print(f"cost and benefit report: {page}")


if __name__ == "__main__":
    main()
