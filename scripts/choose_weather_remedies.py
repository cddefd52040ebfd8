"""Choose what ``restore="auto"`` applies per detected kind, from the fit half only.

Reads the JSON of ``python benchmarks/bench_weather.py --half fit --json FILE`` (people of
the fit half, never the evaluation half) and, for each kind, averages SFace's TAR at FMR
1e-3 over the sets and the given severities for the probes as degraded, as restored by
the kind's classical method, as restored by the learned restorer, and as embedded by the
weather-adapted SFace (on the degraded crop, and on the classically restored one). A
method earns its place only where it raises TAR over doing nothing by at least
`--margin`; a more elaborate one replaces a simpler one only where it beats it by that
margin too. Prints the table and the resulting ``REMEDY`` / ``LEARNED_FOR`` /
``ADAPTED_FOR`` / ``ADAPTED_WITH_REMEDY`` of :mod:`facescope.restoration.auto` (which are
set by hand from this output).

    python scripts/choose_weather_remedies.py out/bench_weather_fit.json [--severities 3 5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

CONDITIONS = ("degraded", "classical", "learned", "adapted", "classical_adapted")


def choose(result: dict, severities: list[int], margin: float) -> dict[str, dict]:
    """Per kind: the mean TAR of each condition and what ``auto`` does.

    ``classical``: the classical method raised TAR by `margin` (it is then the remedy,
    and the fallback without torch); ``learned``: the learned restorer beat doing nothing
    and the classical method by `margin`; ``adapted``: the weather-adapted SFace (on the
    degraded crop, or on the classically restored one: ``with_remedy``) beat all of those
    by `margin`.
    """
    # benchmark JSON: each set's rows under "rows" (older files: the rows themselves)
    sets = {name: data.get("rows", data) for name, data in result["sets"].items()}
    kinds = sorted({key.split("/")[0] for rows in sets.values() for key in rows if "/" in key})
    out: dict[str, dict] = {}
    for kind in kinds:
        tar: dict[str, list[float]] = {c: [] for c in CONDITIONS}
        for rows in sets.values():
            for severity in severities:
                row = rows.get(f"{kind}/{severity}")
                if row is None:
                    continue
                for condition, values in tar.items():
                    if condition in row:
                        values.append(row[condition]["tar"])
        mean = {c: float(np.mean(v)) if v else float("nan") for c, v in tar.items()}
        classical = mean["classical"] >= mean["degraded"] + margin
        pixel_best = max(mean["degraded"], mean["classical"] if classical else 0.0)
        learned = mean["learned"] >= pixel_best + margin
        pixel_best = max(pixel_best, mean["learned"] if learned else 0.0)
        with_remedy = classical and mean["classical_adapted"] >= mean["adapted"] + margin
        network = mean["classical_adapted"] if with_remedy else mean["adapted"]
        adapted = network >= pixel_best + margin
        choice = ("adapted" if adapted else "learned" if learned
                  else "classical" if classical else None)  # fmt: skip
        method = next((rows[k].get("classical_method") for rows in sets.values()
                       for k in rows if k.startswith(f"{kind}/")), None)  # fmt: skip
        out[kind] = {"tar": mean, "choice": choice, "classical": classical, "learned": learned,
                     "adapted": adapted, "with_remedy": adapted and with_remedy,
                     "classical_method": method}  # fmt: skip
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
    for column in ("kind", *CONDITIONS, "choice"):
        table.add_column(column.replace("_", " + "))
    for kind, c in chosen.items():
        label = {"classical": c["classical_method"], "learned": "learned", None: "nothing",
                 "adapted": "adapted" + (f" after {c['classical_method']}"
                                         if c["with_remedy"] else "")}  # fmt: skip
        table.add_row(kind, *(f"{c['tar'][k]:.3f}" for k in CONDITIONS), label[c["choice"]])
    console = Console()
    console.print(table)
    remedy = {k: c["classical_method"] for k, c in chosen.items() if c["classical"]}
    console.print(f"REMEDY (classical; the fallback without torch) = {remedy}")
    console.print(f"LEARNED_FOR = {sorted(k for k, c in chosen.items() if c['learned'])}")
    console.print(f"ADAPTED_FOR = {sorted(k for k, c in chosen.items() if c['adapted'])}")
    kept = sorted(k for k, c in chosen.items() if c["with_remedy"])
    console.print(f"ADAPTED_WITH_REMEDY = {kept}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
