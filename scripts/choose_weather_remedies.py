"""Choose what ``restore="auto"`` applies per detected kind, from the fit half only.

Reads the JSON of ``python benchmarks/bench_weather.py --half fit --json FILE`` (people of
the fit half, never the evaluation half) and, for each kind, averages SFace's TAR at FMR
1e-3 over the sets and the given severities for the probes as degraded, as restored by
the kind's classical method, and as restored by the learned restorer. A method earns its
place only where it raises TAR over doing nothing by at least `--margin`; the learned
restorer is chosen over the classical method only where it beats it by that margin too.
Prints the table and the resulting ``REMEDY`` / ``LEARNED_FOR`` of
:mod:`facescope.restoration.auto` (which are set by hand from this output).

    python scripts/choose_weather_remedies.py out/bench_weather_fit.json [--severities 3 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table


def choose(result: dict, severities: list[int], margin: float) -> dict[str, dict]:
    """Per kind: the mean TAR of each condition and the chosen method (or None)."""
    # benchmark JSON: each set's rows under "rows" (older files: the rows themselves)
    sets = {name: data.get("rows", data) for name, data in result["sets"].items()}
    kinds = sorted({key.split("/")[0] for rows in sets.values() for key in rows if "/" in key})
    out: dict[str, dict] = {}
    for kind in kinds:
        tar: dict[str, list[float]] = {"degraded": [], "classical": [], "learned": []}
        for rows in sets.values():
            for severity in severities:
                row = rows.get(f"{kind}/{severity}")
                if row is None:
                    continue
                for condition, values in tar.items():
                    if condition in row:
                        values.append(row[condition]["tar"])
        mean = {c: float(np.mean(v)) if v else float("nan") for c, v in tar.items()}
        method = None
        if mean["classical"] >= mean["degraded"] + margin:
            method = "classical"
        if mean["learned"] >= max(mean["degraded"], mean["classical"]) + margin:
            method = "learned"
        classical = next((rows[k].get("classical_method") for rows in sets.values()
                          for k in rows if k.startswith(f"{kind}/")), None)  # fmt: skip
        out[kind] = {"tar": mean, "choice": method, "classical_method": classical}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path, help="bench_weather.py --half fit --json output")
    parser.add_argument("--severities", type=int, nargs="*", default=[3, 5])
    parser.add_argument("--margin", type=float, default=0.01)
    args = parser.parse_args()
    result = json.loads(args.result.read_text())
    if result.get("half") != "fit":
        Console(stderr=True).print("[red]choices are made on the fit half only[/]")
        return 1
    chosen = choose(result, args.severities, args.margin)
    table = Table(title=f"mean TAR over sets and severities {args.severities}")
    for column in ("kind", "degraded", "classical", "learned", "choice"):
        table.add_column(column)
    for kind, c in chosen.items():
        label = {"classical": c["classical_method"], "learned": "learned", None: "nothing"}
        table.add_row(kind, *(f"{c['tar'][k]:.3f}" for k in ("degraded", "classical", "learned")),
                      label[c["choice"]])  # fmt: skip
    console = Console()
    console.print(table)
    remedy = {k: c["classical_method"] for k, c in chosen.items() if c["choice"] == "classical"}
    learned = sorted(k for k, c in chosen.items() if c["choice"] == "learned")
    console.print(f"REMEDY (classical) = {remedy}")
    console.print(f"LEARNED_FOR = {learned}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
