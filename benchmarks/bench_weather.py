"""Recognition in synthetic weather, with and without restoration (issue 22).

Data (``../shared/testdata``, read in place): the aligned celebrity crops, Extended
Yale B dev and the public-domain portraits (detected with RetinaFace, aligned to the
ArcFace 112 template; the portraits' two people are only ever measured on). Identities
are split in two halves by sorted name (:func:`split`): the *fit* half trains the
degradation detectors (``scripts/fit_weather_detectors.py``, and later the learned
restorer); this benchmark measures on the *evaluation* half only. `--per-identity`
crops per person (default 20) are used.

Protocol: every evaluation crop is degraded (:func:`facescope.weather.degrade`, seeded
by its index) and compared with every *clean* crop of the set (probe in weather, clean
enrolment): genuine pairs are the same person's other crops, impostor pairs everyone
else's. For each kind and severity, for the probes as degraded, as restored by the kind's
classical remedy, and as restored by ``auto`` (restore only what the detectors find):
TAR at FMR 1e-3 (threshold from that condition's impostor scores) and EER; the
false-match rate at the shipped SFace threshold; the cosine between a probe's restored
and clean embeddings; PSNR and SSIM to the clean crop, for reference; the detectors'
hit rate; time per face. "clean" is the same with undegraded probes, and ``auto`` on
clean probes measures what gating costs there.

    python benchmarks/bench_weather.py [--per-identity 20] [--severities 1 3 5] \
        [--kinds rain snow ...] [--json out/bench_weather.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import Progress, TaskID, track

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
CACHE = ROOT / "out/weather"


@dataclass(frozen=True)
class CropSet:
    """Aligned 112x112 RGB crops of one dataset and each crop's identity."""

    name: str
    crops: np.ndarray
    identity: np.ndarray


#: Labelled face sets (labels.csv under the test data): name -> labels file.
SETS = {
    "celebrities": "faces/aligned_celebrities/labels.csv",
    "yale": "faces/extended_yaleb_dev/labels.csv",
    "portraits": "faces/public_portraits/labels.csv",
    # clean training faces of the learned restorer only (never measured on)
    "orl": "faces/orl/labels.csv",
    "nuaa": "antispoof/nuaa_train/labels.csv",
}
#: Sets nothing is fitted on (too few people to halve): measured whole, never in --half fit.
EVALUATION_ONLY = ("portraits",)


def load_crops(name: str) -> CropSet | None:
    """The aligned crops of a set of :data:`SETS`, cached in out/weather; None if absent."""
    from facescope.align.template import warp_to_template
    from facescope.errors import InvalidImageError
    from facescope.io import load_image
    from facescope.pipeline import find_faces, largest

    labels = TESTDATA / SETS[name]
    if not labels.is_file():
        return None
    cache = CACHE / f"crops_{name}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return CropSet(name, data["crops"], data["identity"])
    with open(labels, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if name == "nuaa":  # the live photos only; the subject is the identity
        rows = [{"path": r["path"], "identity": r["subject_id"]} for r in rows
                if r["label"] == "live"]  # fmt: skip
    if name == "portraits":  # one face per photo
        rows = [r for r in rows if "|" not in r["identity"]]
    crops, ids = [], []
    for row in track(rows, description=f"aligning {name}"):
        try:
            rgb = load_image(labels.parent / row["path"])
        except InvalidImageError:
            continue
        if name == "celebrities":
            crops.append(cv2.resize(rgb, (112, 112)) if rgb.shape[:2] != (112, 112) else rgb)
            ids.append(row["identity"])
            continue
        face = largest(find_faces(rgb, assume_aligned=False))
        if len(face) == 0:
            continue  # a failure to acquire in clean conditions: not a weather effect
        crops.append(warp_to_template(rgb, face.landmarks5[0]))
        ids.append(row["identity"])
    out = CropSet(name, np.asarray(crops, np.uint8), np.asarray(ids))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, crops=out.crops, identity=out.identity)
    return out


def split(identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fit, evaluation) masks: alternate identities of the sorted names."""
    names = sorted(set(identity.tolist()))
    fit_names = set(names[0::2])
    fit = np.array([i in fit_names for i in identity.tolist()])
    return fit, ~fit


def held_out(ids: np.ndarray, every: int) -> np.ndarray:
    """Mask of the people the learned parts hold out for validation: one in `every` of the
    sorted names, the last of each run of `every`."""
    names = sorted(set(ids.tolist()))
    held_names = set(names[every - 1 :: every])
    return np.array([i in held_names for i in ids.tolist()])


def fit_crops(extra: list[str]) -> tuple[np.ndarray, np.ndarray] | str:
    """(crops, "set:identity" labels) that the learned parts train on, or why not.

    The fit half of the measured sets' people, and every person of the `extra` sets
    (never measured on); the evaluation half is never included.
    """
    crops, ids = [], []
    for name in ("celebrities", "yale", *extra):
        if name in EVALUATION_ONLY or (name in ("celebrities", "yale") and name in extra):
            return f"{name} is measured on: it cannot be an extra training set"
        data = load_crops(name)
        if data is None:
            return f"{name} not found under {TESTDATA}"
        keep = split(data.identity)[0] if name in ("celebrities", "yale") else slice(None)
        crops.append(data.crops[keep])
        ids.append(np.char.add(f"{name}:", data.identity[keep].astype(str)))
    return np.concatenate(crops), np.concatenate(ids)


def fit_half_crops(name: str, per_identity: int) -> tuple[np.ndarray, np.ndarray]:
    """(crops, identities) of the fit half of set `name`, `per_identity` crops a person;
    exits with a message when the set is not there (for the choice scripts)."""
    data = load_crops(name)
    if data is None:
        raise SystemExit(f"{name} not found under {TESTDATA}")
    pick = subsample(split(data.identity)[0], data.identity, per_identity)
    return data.crops[pick], data.identity[pick]


def subsample(mask: np.ndarray, identity: np.ndarray, per_identity: int) -> np.ndarray:
    """Indices of the first `per_identity` crops of each identity within `mask`."""
    keep: list[int] = []
    for name in sorted(set(identity[mask].tolist())):
        keep += np.flatnonzero(mask & (identity == name))[:per_identity].tolist()
    return np.asarray(keep, np.int64)


#: Issue 22's acceptance baseline (another synthesiser, other people): SFace TAR clean and
#: at that synthesiser's severity 3. Its losses are matched on our severities by --matched.
ACCEPTANCE_TAR = {"clean": 0.908, "haze": 0.863, "rain": 0.746, "snow": 0.721,
                  "low_light": 0.492, "motion_blur": 0.669}  # fmt: skip


def embeddings_path(path: Path, name: str) -> Path:
    """Where the embeddings behind set `name` of the --json `path` are saved."""
    return path.with_name(f"{path.stem}.{name}.npz")


def matched(path: Path, draws: int = 1000) -> str:
    """Markdown: auto's recovery where our weather costs what the acceptance data's does,
    with a person-level bootstrap interval where the embeddings were saved next to it."""
    from facescope.weather.evaluate import bootstrap_recovered, recovered_at_loss

    result = json.loads(path.read_text())
    lines = ["| set | kind | loss to match | between our severities | recovered by auto "
             f"| 90% interval (people resampled, {draws} draws) |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, done in result["sets"].items():
        saved = embeddings_path(path, name)
        arrays = dict(np.load(saved, allow_pickle=False)) if saved.is_file() else None
        for kind, tar in ACCEPTANCE_TAR.items():
            if kind == "clean":
                continue
            loss = ACCEPTANCE_TAR["clean"] - tar
            got = recovered_at_loss(done["rows"], kind, loss)
            if got is None:
                lines.append(f"| {name} | {kind} | {loss:.3f} | beyond what was measured | | |")
                continue
            spread = None if arrays is None else bootstrap_recovered(arrays, kind, loss,
                                                                     draws=draws)  # fmt: skip
            interval = "" if spread is None else (
                f"{spread['low']:.0%} to {spread['high']:.0%}"
                + (f" ({spread['defined']:.0%} of draws)" if spread["defined"] < 0.995 else "")
            )  # fmt: skip
            lines.append(
                f"| {name} | {kind} | {loss:.3f} | {got['from_severity']}-{got['to_severity']} "
                f"| {got['recovered']:.0%} | {interval} |"
            )
    return "\n".join(lines)


def main() -> None:
    from facescope.weather import KINDS
    from facescope.weather.evaluate import evaluate_weather

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-identity", type=int, default=20)
    parser.add_argument("--severities", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--sets", nargs="*", default=["celebrities", "yale", "portraits"])
    parser.add_argument(
        "--half",
        choices=["evaluation", "fit"],
        default="evaluation",
        help="which half of the people to measure on (choices are made on fit)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="HTML reports, one per set")
    parser.add_argument(
        "--matched",
        type=Path,
        metavar="JSON",
        help="only print, from an earlier --json, auto's recovery where our weather costs "
        "the TAR the acceptance baseline's severity 3 costs (ACCEPTANCE_TAR)",
    )
    args = parser.parse_args()
    if args.matched:
        print(matched(args.matched))
        return
    console = Console(stderr=True)
    result: dict = {"half": args.half, "sets": {}}
    for name in args.sets:
        data = load_crops(name)
        if data is None:
            console.print(f"[yellow]{name}: not found under {TESTDATA}: skipped[/]")
            continue
        fit, evaluation = split(data.identity)
        if name in EVALUATION_ONLY:  # nothing is fitted on them: all of it is evaluation
            if args.half == "fit":
                continue
            fit, evaluation = np.zeros_like(fit), np.ones_like(fit)
        half = evaluation if args.half == "evaluation" else fit
        pick = subsample(half, data.identity, args.per_identity)
        with Progress(console=console) as bar:
            task = bar.add_task(f"{name} ({args.half} half)", total=None)

            def step(k: int, n: int, task: TaskID = task) -> None:
                bar.update(task, completed=k, total=n)

            done = evaluate_weather(
                data.crops[pick], data.identity[pick], kinds=args.kinds,
                severities=args.severities, name=f"{name}, {args.half} half", progress=step,
            )  # fmt: skip
        result["sets"][name] = done.to_dict()
        if args.json:
            done.save_embeddings(embeddings_path(args.json, name))
        print("\n### " + done.markdown() + "\n", flush=True)
        if args.report:
            from facescope.weather.evaluate import write_weather_report

            console.print(f"wrote {write_weather_report(done, args.report / name)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
