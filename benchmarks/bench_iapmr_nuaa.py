"""IAPMR on real print attacks (NUAA), without and with PAD, for three PAD models (issue 21).

Gallery: the NUAA training split's live webcam frames (``../shared/testdata/antispoof/
nuaa_train``, read in place): per person, up to `--enrol` frames of their first session
are enrolled and up to `--probes` frames of their other session are the bona fide probes.
Attacks: up to `--attacks` printed-photo frames per person (real prints of that person),
plus the synthetic print and replay of every probe that ``facescope audit pad`` always
adds. The recogniser is SFace at its shipped FMR 1e-3 threshold.

PAD models compared, on the same presentations:

* ``before``: the model shipped before issue 21 (synthetic attacks only,
  ``tests/data/pad_model_before_issue21.json``);
* ``held-out``: the shipped recipe fitted *without* the audited people
  (``python scripts/fit_pad.py --exclude-subjects 0006 0007 0008 0009 --out
  out/pad/pad_model_without_0006-0009.json``); the honest figure;
* ``shipped``: the shipped model, which was fitted on all nine people (in-sample:
  optimistic, shown for completeness).

An ``uncertain`` PAD answer does not pass an attack, and costs a bona fide user a retry
(it counts in "FNMR with PAD").

    python benchmarks/bench_iapmr_nuaa.py [--people 0006 0007 0008 0009] [--json out/x.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from rich.console import Console

from facescope.pad.model import load_model
from facescope.pad.vulnerability import audit_pad

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
NUAA = TESTDATA / "antispoof/nuaa_train"
WORK = ROOT / "out/iapmr_nuaa"
HELD_OUT_MODEL = ROOT / "out/pad/pad_model_without_0006-0009.json"


def write_csvs(people: list[str], enrol: int, probes: int, attacks: int) -> tuple[Path, Path]:
    """The gallery CSV (enrolment frames first, probes last, per person) and the attacks CSV."""
    with open(NUAA / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["subject_id"] in people]
    WORK.mkdir(parents=True, exist_ok=True)
    gallery, attack_rows = [], []
    for person in people:
        live = sorted((r for r in rows if r["subject_id"] == person and r["label"] == "live"),
                      key=lambda r: (r["session"], r["path"]))  # fmt: skip
        sessions = sorted({r["session"] for r in live})
        first = [r for r in live if r["session"] == sessions[0]]
        later = [r for r in live if r["session"] != sessions[0]]
        if not later:  # one session only: enrol from its first half, probe its second
            first, later = first[: len(first) // 2], first[len(first) // 2 :]
        step = max(1, len(first) // enrol)
        chosen = first[::step][:enrol] + later[:: max(1, len(later) // probes)][:probes]
        gallery += [(str(NUAA / r["path"]), person) for r in chosen]
        prints = [r for r in rows if r["subject_id"] == person and r["label"] == "spoof"]
        step = max(1, len(prints) // attacks)
        attack_rows += [(str(NUAA / r["path"]), person, "print (real, NUAA)")
                        for r in prints[::step][:attacks]]  # fmt: skip
    gallery_csv, attacks_csv = WORK / "gallery.csv", WORK / "attacks.csv"
    with open(gallery_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "identity"])
        writer.writerows(gallery)
    with open(attacks_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "identity", "species"])
        writer.writerows(attack_rows)
    return gallery_csv, attacks_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", nargs="*", default=["0006", "0007", "0008", "0009"])
    parser.add_argument("--enrol", type=int, default=6)
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--attacks", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    if not (NUAA / "labels.csv").is_file():
        console.print(f"[yellow]{NUAA} not found: skipped[/]")
        return
    gallery, attacks = write_csvs(args.people, args.enrol, args.probes, args.attacks)
    models = {"before": load_model(ROOT / "tests/data/pad_model_before_issue21.json")}
    if HELD_OUT_MODEL.is_file():
        models["held-out"] = load_model(HELD_OUT_MODEL)
    else:
        console.print(f"[yellow]{HELD_OUT_MODEL} missing: run scripts/fit_pad.py "
                      "--exclude-subjects 0006 0007 0008 0009 --out it[/]")  # fmt: skip
    models["shipped (in-sample)"] = load_model()
    result: dict = {"people": args.people}
    lines = ["| PAD model | species | n | IAPMR verification | with PAD | IAPMR identification "
             "| with PAD | APCER |", "|" + " --- |" * 8]  # fmt: skip
    bona_lines = []
    for name, pad in models.items():
        audit = audit_pad(gallery, probes=args.probes, attacks=attacks, pad_model=pad)
        m = audit.metrics()
        result[name] = m
        for kind, v in m["species"].items():
            lines.append(
                f"| {name} | {kind} | {v['n']} | {100 * v['iapmr_verification']:.1f}% | "
                f"{100 * v['iapmr_verification_with_pad']:.1f}% | "
                f"{100 * v['iapmr_identification']:.1f}% | "
                f"{100 * v['iapmr_identification_with_pad']:.1f}% | {100 * v['apcer']:.1f}% |"
            )
        b = m["bona_fide"]
        bona_lines.append(
            f"- {name}: {b['n']} bona fide probes, FNMR {100 * b['fnmr']:.1f}% without PAD, "
            f"{100 * b['fnmr_with_pad']:.1f}% with PAD (BPCER {100 * b['bpcer']:.1f}%)"
        )
    console.print("\n".join(lines))
    console.print("\n".join(bona_lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
