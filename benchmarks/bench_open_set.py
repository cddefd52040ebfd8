"""Open-set identification with the gallery on the aligned-celebrities set.

Protocol: 12 identities x 50 aligned crops. Two identities (chosen with a fixed
seed) are held out as people who were never enrolled; each of the other ten is
enrolled from its first 3 photos. Every other photo is a probe: mated probes (an
enrolled person) and non-mated probes (a held-out person). For each model this
measures rank-1 accuracy of mated probes, FNIR (a mated probe not given its right
identity at the threshold), and FPIR (a non-mated probe given any identity), at
the gallery's size-aware open-set threshold and, for comparison, at the plain
1:1 threshold (FMR 1e-3).

Run: python benchmarks/bench_open_set.py [--models sface dlib] [--fpir 0.01]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.gallery import Gallery
from facescope.match.calibrate import folder_per_identity

ENROLLED_PHOTOS = 3
HELD_OUT = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sface", "dlib"])
    parser.add_argument("--fpir", type=float, default=0.01)
    args = parser.parse_args()
    root = Path(os.environ.get("FACESCOPE_TESTDATA", "../shared/testdata"))
    folder = root / "faces" / "aligned_celebrities"
    console = Console()
    if not folder.is_dir():
        console.print(f"[yellow]skipped:[/] {folder} not found")
        return 0
    data = folder_per_identity(folder)
    people = sorted(set(data.identities))
    held_out = set(random.Random(7).sample(people, HELD_OUT))
    photos: dict[str, list[Path]] = {}
    for path, person in zip(data.paths, data.identities, strict=True):
        photos.setdefault(person, []).append(path)
    table = Table(
        title=f"Open-set identification: {len(people) - HELD_OUT} enrolled "
        f"(3 photos each), {HELD_OUT} never enrolled ({', '.join(sorted(held_out))})"
    )
    for column in ("model", "threshold", "value", "rank-1", "FNIR", "FPIR", "mated", "non-mated"):
        table.add_column(column)
    for model in args.models:
        with tempfile.TemporaryDirectory() as tmp, Gallery.open(tmp, model=model) as gallery:
            for person in people:
                if person not in held_out:
                    gallery.enroll(person, photos[person][:ENROLLED_PHOTOS])
            probes = [
                (path, person)
                for person in people
                for path in (
                    photos[person] if person in held_out else photos[person][ENROLLED_PHOTOS:]
                )
            ]
            best: list[tuple[str, float, str]] = []
            for path, person in track(probes, description=f"{model} probes", console=console):
                face = gallery.identify(path, top_k=1)[0]
                best.append((person, face.score, face.candidates[0].identity))
            open_set = gallery.open_set_threshold(args.fpir)
            one_to_one = gallery._calibration.for_model(model).threshold(1e-3)
            for label, threshold in (
                (f"open-set @ FPIR {args.fpir:g}", open_set),
                ("1:1 @ FMR 1e-3", one_to_one),
            ):
                mated = [(p, s, c) for p, s, c in best if p not in held_out]
                strangers = [(p, s, c) for p, s, c in best if p in held_out]
                rank1 = sum(c == p for p, _, c in mated) / len(mated)
                fnir = sum(not (c == p and s >= threshold) for p, s, c in mated) / len(mated)
                fpir = sum(s >= threshold for _, s, _ in strangers) / len(strangers)
                table.add_row(
                    model,
                    label,
                    f"{threshold:.4f}",
                    f"{rank1:.2%}",
                    f"{fnir:.2%}",
                    f"{fpir:.2%}",
                    str(len(mated)),
                    str(len(strangers)),
                )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
