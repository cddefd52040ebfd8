"""Choose the second views ``auto`` fuses into the weather-adapted SFace (``VIEW_FOR``).

Where ``restore="auto"`` sends a face to the weather-adapted SFace, a crop restored by a
pixel method can also be embedded by SFace and averaged in
(:func:`facescope.embed.sface_weather.fuse_with_view`). This script measures every
candidate (method, weight) per kind against auto without a view, on two groups of people,
neither of them the evaluation half:

* ``held``: the people held out of the adapted network's training (every eighth of
  ``bench_weather.fit_crops``' sorted names, as ``scripts/fit_weather_sface.py`` holds
  them out), `--held-per-identity` crops each; the network never saw them, so they do
  not flatter it. Measured: SFace's mean cosine between the probe's embedding and the
  clean crop's.
* ``fit``: the fit half of aligned_celebrities and extended_yaleb_dev,
  `--per-identity` crops each (``bench_weather.py --half fit``'s people). Measured: TAR
  at FMR 1e-3 against the clean crops.

A candidate is kept for a kind when, over severities 1-5, it raises the held-out mean
cosine by at least `--margin` and lowers it at no severity by more than `--margin`, and
its mean fit-half TAR over severities 3 and 5 and both sets is not lower than auto's by
more than `--margin`. Of those kept, the one with the highest held-out mean cosine wins.
Prints the tables and the resulting ``VIEW_FOR`` of :mod:`facescope.restoration.auto`
(set by hand from this output) and, with `--json`, writes every figure.

    python scripts/choose_weather_views.py [--kinds haze snow rain low_light noise] [--json F]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_weather  # noqa: E402  (the crops and the person splits are the benchmark's)

#: Pixel methods tried as a second view, per kind (those that could restore something).
CANDIDATES = {
    "haze": ("dehaze",),
    "snow": ("dehaze", "learned"),
    "rain": ("learned",),
    "low_light": ("denoise", "learned"),
    "noise": ("denoise", "learned"),
}
WEIGHTS = (0.3, 0.5, 0.7)
SEVERITIES = (1, 2, 3, 4, 5)


def groups(per_identity: int, held_per_identity: int) -> dict[str, list[tuple]]:
    """{"held": [(crops, ids)], "fit": [(crops, ids) per set]}."""
    found = bench_weather.fit_crops(["orl", "nuaa"])
    if isinstance(found, str):
        raise SystemExit(found)
    crops, ids = found
    pick = bench_weather.subsample(bench_weather.held_out(ids, 8), ids, held_per_identity)
    return {
        "held": [(crops[pick], ids[pick])],
        "fit": [bench_weather.fit_half_crops(n, per_identity) for n in ("celebrities", "yale")],
    }


def measure(crops: np.ndarray, ids: np.ndarray, kind: str, severity: int) -> dict[str, dict]:
    """{candidate: {"cosine", "tar"}} for auto without a view and every (method, weight)."""
    from facescope.embed.sface_weather import fuse_with_view
    from facescope.match.metrics import threshold_at_fmr
    from facescope.pipeline import embed_aligned_crops, embed_restored
    from facescope.restoration.auto import restore_image
    from facescope.restoration.detectors import shipped_detectors
    from facescope.weather.evaluate import FMR
    from facescope.weather.synth import degrade

    detectors = shipped_detectors()
    clean = embed_aligned_crops(crops).vectors
    degraded = np.stack([degrade(c, kind, severity, seed=i) for i, c in enumerate(crops)])
    done = [restore_image(c, "auto", detectors=detectors, adapted=True) for c in degraded]
    done = [dataclasses.replace(d, view=None, view_method=None, view_weight=0.0) for d in done]
    auto = embed_restored(done).vectors
    network = np.array([d.adapted for d in done])
    embeddings = {"auto": auto}
    for method in CANDIDATES[kind]:
        views = np.stack([restore_image(d.image, method).image for d in done])
        views = embed_aligned_crops(views).vectors
        for weight in WEIGHTS:
            fused = auto.copy()
            if network.any():
                fused[network] = fuse_with_view(auto[network], views[network], weight)
            embeddings[f"{method} {weight}"] = fused
    same = ids[:, None] == ids[None, :]
    genuine_pairs = same & ~np.eye(len(ids), dtype=bool)  # each probe against the clean crops
    out = {}
    for name, vectors in embeddings.items():
        similarity = vectors @ clean.T
        threshold = threshold_at_fmr(similarity[~same], FMR)
        out[name] = {
            "cosine": float(np.mean(np.sum(vectors * clean, axis=1))),
            "tar": float((similarity[genuine_pairs] >= threshold).mean()),
        }
    return out


def choose(figures: dict, kind: str, margin: float) -> tuple[str | None, list[list[str]]]:
    """(the winning candidate or None, table rows) for one kind."""
    held = figures["held"][kind]
    fit = figures["fit"][kind]
    names = list(held[str(SEVERITIES[0])][0])
    rows, kept = [], {}
    for name in names:
        cos = np.array([held[str(s)][0][name]["cosine"] for s in SEVERITIES])
        base = np.array([held[str(s)][0]["auto"]["cosine"] for s in SEVERITIES])
        tar = np.mean([part[name]["tar"] for s in (3, 5) for part in fit[str(s)]])
        tar_auto = np.mean([part["auto"]["tar"] for s in (3, 5) for part in fit[str(s)]])
        gain = cos - base
        ok = name != "auto" and gain.mean() >= margin and gain.min() >= -margin
        ok = ok and tar >= tar_auto - margin
        if ok:
            kept[name] = float(cos.mean())
        rows.append([name, *(f"{c:.4f}" for c in cos), f"{cos.mean():.4f}", f"{tar:.3f}",
                     "kept" if ok else ""])  # fmt: skip
    best = max(kept, key=lambda k: kept[k]) if kept else None
    return best, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--per-identity", type=int, default=15)
    parser.add_argument("--held-per-identity", type=int, default=12)
    parser.add_argument("--margin", type=float, default=0.005)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from facescope.pipeline import adapted_ok

    console = Console(width=120)
    if not adapted_ok("sface"):
        console.print("[red]the weather-adapted SFace cannot run here (torch extra)[/]")
        return 1
    unknown = [k for k in args.kinds if k not in CANDIDATES]
    if unknown:
        console.print(f"[red]no candidates for {unknown}; known: {', '.join(CANDIDATES)}[/]")
        return 2
    people = groups(args.per_identity, args.held_per_identity)
    figures: dict = {g: {k: {} for k in args.kinds} for g in people}
    jobs = [(g, k, s) for g in people for k in args.kinds for s in SEVERITIES]
    for group, kind, severity in track(jobs, description="degrading, restoring, embedding"):
        figures[group][kind][str(severity)] = [
            measure(crops, ids, kind, severity) for crops, ids in people[group]
        ]
    chosen = {}
    for kind in args.kinds:
        best, rows = choose(figures, kind, args.margin)
        table = Table(title=f"{kind}: held-out cosine by severity; fit-half TAR (3, 5)")
        for column in ("candidate", *map(str, SEVERITIES), "mean", "fit TAR", ""):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if best is not None:
            method, weight = best.split()
            chosen[kind] = (method, float(weight))
    console.print(f"VIEW_FOR = {chosen}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"figures": figures, "view_for": chosen}, indent=1))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
