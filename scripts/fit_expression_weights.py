"""Choose the expression ensemble's weights (``src/facescope/analysis/expression/weights.json``).

Runs the CK+ search of ``benchmarks/bench_expression.py`` (every member at every
crop margin, flip off/on; weights on a simplex grid and the pooling rule chosen
by macro-F1 on the ``fit`` subjects) and writes the chosen configuration with
its provenance (test figures on the ``test`` subjects). The AU head joins as an
extra member from ``out/au_head_ckplus.npy`` (out-of-fold on ``fit``), written
by ``scripts/fit_au_head.py``; every bundled member must load (what-the-face
needs torch).

    python scripts/fit_expression_weights.py --extra au_head=out/au_head_ckplus.npy
        [--step 0.05] [--cache out/expression_probs.npz] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

from facescope._json import write_json
from facescope.analysis.expression.ensemble import WEIGHTS_PATH

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_expression  # noqa: E402  (the search is the benchmark's)


def main() -> int:
    parser = bench_expression.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    result = bench_expression.run(args)
    if result is None:
        print("CK+ is absent: nothing fitted", file=sys.stderr)
        return 1
    if result["skipped"]:
        print(f"not writing weights: members skipped {sorted(result['skipped'])}", file=sys.stderr)
        return 1
    chosen = result["chosen"]
    test_scores = next(
        r
        for r in result["ensembles"]
        if r["variant"] == chosen["variant"] and r["flip"] == chosen["flip"]
    )["test"]
    command = "python scripts/fit_expression_weights.py" + "".join(
        f" --extra {e}" for e in args.extra
    )
    config = {
        "members": chosen["weights"],
        "rule": chosen["rule"],
        "margin": float(chosen["variant"][1:]),
        "flip": chosen["flip"],
        "provenance": {
            "dataset": "CK+ 48x48 (ckplus.load_ckplus), contempt excluded",
            "split": "fit",
            "n_fit": result["n_fit"],
            "metric": "macro_f1 over the 6 classes present (neutral = error)",
            "fit_macro_f1": round(chosen["fit_macro_f1"], 4),
            "test_macro_f1": round(test_scores["macro_f1"], 4),
            "test_accuracy": round(test_scores["accuracy"], 4),
            "search": f"grid over the simplex, step {args.step}, rules mean/log, "
            f"crops {result['variants']}, flip off/on",
            "date": result["date"],
            "command": command,
        },
    }
    write_json(args.out, config, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
