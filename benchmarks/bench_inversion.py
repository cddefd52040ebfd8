"""Model-inversion audit on ``../shared/testdata/faces/aligned_celebrities``.

The first `--per-identity` photos of each of the first `--identities` people are
attacked through `--target` (black-box CMA-ES from a pre-scored DCGAN pool);
their other photos plus the ORL faces (distractor identities) form the gallery
in which the true identity is ranked, and `--transfer` judges the
reconstructions independently. Scenarios for protected templates:

* ``raw``: the stored templates are the model's embeddings;
* ``protected-key-unknown``: the stored templates are keyed rotations
  (:class:`~facescope.privacy.CancelableTransform`) and the attacker, not
  knowing the key, inverts them as if they were raw embeddings;
* ``protected-key-known``: the stored templates are 512-bit keyed codes and the
  attacker, holding the key, inverts through model + transform (threshold:
  the codes' own at FMR 1e-3 on the calibration set).

Writes ``metrics.json``, ``audit.pkl`` and the HTML report into `--out`.

    python benchmarks/bench_inversion.py --target sface --transfer dlib --budget 1000 \\
        --out out/audit/sface
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from facescope.evaluate.cache import EmbeddingCache, embed_dataset
from facescope.evaluate.datasets import generate_pairs, load_dataset
from facescope.privacy import CancelableTransform
from facescope.privacy.audit import AUDIT_FMR, AuditTargets, audit_inversion, targets_from_folder
from facescope.privacy.targets import CallableTarget

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
KEY = "bench-inversion-deployment-secret"
BITS = 512


def _subset(targets: AuditTargets, identities: int) -> AuditTargets:
    keep_ids = list(dict.fromkeys(targets.identities))[:identities]
    rows = [i for i, who in enumerate(targets.identities) if who in keep_ids]
    return AuditTargets(
        vectors={m: v[rows] for m, v in targets.vectors.items()},
        identities=[targets.identities[i] for i in rows],
        sources=[targets.sources[i] for i in rows],
        photos=[targets.photos[i] for i in rows] if targets.photos is not None else None,
        gallery=targets.gallery,
    )


def _code_threshold(transform: CancelableTransform, cache: EmbeddingCache) -> float:
    """The 512-bit codes' threshold at FMR 1e-3 on the calibration set's impostors."""
    dataset = load_dataset(TESTDATA / "faces/aligned_celebrities")
    embedded = embed_dataset(dataset, ["sface"], cache=cache)
    pairs = generate_pairs(dataset, max_impostor=40_000, seed=0)
    codes = 2.0 * transform.protect(embedded.vectors["sface"]) - 1.0
    scores = np.sum(codes[pairs.a] * codes[pairs.b], axis=1) / BITS
    impostor = np.sort(scores[~pairs.same])
    return float(impostor[int(np.ceil((1 - AUDIT_FMR) * len(impostor)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="sface", choices=["sface", "dlib"])
    parser.add_argument("--transfer", default="dlib", choices=["sface", "dlib"])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--per-identity", type=int, default=5)
    parser.add_argument("--identities", type=int, default=12)
    parser.add_argument(
        "--scenario", default="raw", choices=["raw", "protected-key-unknown", "protected-key-known"]
    )
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "out/audit/sface")
    args = parser.parse_args()
    console = Console()
    source = TESTDATA / "faces/aligned_celebrities"
    if not (source / "labels.csv").is_file():
        console.print(f"[yellow]{source} not found: skipped[/]")
        return
    cache = EmbeddingCache()
    models = sorted({args.target, args.transfer})
    targets = targets_from_folder(
        source,
        models,
        per_identity=args.per_identity,
        distractors=TESTDATA / "faces/orl",
        cache=cache,
    )
    targets = _subset(targets, args.identities)
    target: object = args.target
    target_name, threshold = args.target, None
    if args.scenario != "raw":
        if args.target != "sface":
            parser.error("the protected scenarios attack sface templates")
        raw = targets.vectors["sface"]
        if args.scenario == "protected-key-unknown":
            stored = CancelableTransform(KEY, model="sface").protect(raw)
        else:
            from facescope.embed.recognizers import sface_recognizer

            transform = CancelableTransform(KEY, model="sface", binary=True, bits=BITS)

            def through_key(crops: np.ndarray) -> np.ndarray:
                features = sface_recognizer().features_from_crops(crops)
                return 2.0 * transform.protect(features) - 1.0

            stored = 2.0 * transform.protect(raw) - 1.0
            target = CallableTarget(through_key, name="sface+512-bit code")
            target_name = "protected"
            threshold = _code_threshold(transform, cache)
        targets.vectors["protected" if target_name == "protected" else "sface"] = np.asarray(
            stored / np.linalg.norm(stored, axis=1, keepdims=True), np.float32
        )
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress("[progress.description]{task.description}", *columns, console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        audit = audit_inversion(
            targets,
            target,  # type: ignore[arg-type]
            target_name=target_name,
            transfer=[args.transfer],
            threshold=threshold,
            budget=args.budget,
            pool_size=args.pool,
            pipeline=not args.no_pipeline,
            progress=progress,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = audit.metrics() | {"scenario": args.scenario}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(args.out / "audit.pkl", "wb") as handle:
        pickle.dump(audit, handle)
    try:
        from facescope.privacy.audit_report import write_audit_report
    except ImportError:
        pass
    else:
        write_audit_report(audit, args.out)
    console.print_json(data={k: v for k, v in metrics.items() if k != "curve"})


if __name__ == "__main__":
    main()
