"""Train conv-cut (the in-the-wild expression network) on FER2013; write weights + a record.

Seeded and deterministic for a seed and a thread count. The validation split is a fixed,
seeded, stratified 10 % of fer2013_train (FER2013 has no person ids, so it is not
person-disjoint); CK+ (all 927 crops, and its ``test`` subjects) is scored at the end as
a second, posed, other-people set. The weights' meta holds the configuration, the split,
the curves and the final scores; the same record is written as JSON.

    python scripts/fit_expression.py [--ablation convnext|+deb|+attention]
        [--epochs 20 | --steps N] [--seed 0] [--threads 2] [--out out/convcut.npz]
        [--ship]

``--ship`` (full variant only) copies the weights into the package as
``src/facescope/analysis/expression/convcut.npz`` and pins its SHA-256 in
``convcut.json``. The full run of docs/expressions-wild.md is

    FACESCOPE_THREADS=2 OMP_NUM_THREADS=2 python scripts/fit_expression.py \\
        --epochs 20 --threads 2 --out out/convcut.npz --ship
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facescope._json import write_json
from facescope.analysis.expression.ckplus import DEFAULT_ROOT, load_ckplus
from facescope.analysis.expression.convcut import (
    ABLATIONS,
    ConvCutConfig,
    load_convcut,
    predict_logits,
    save_convcut,
    ship_weights,
)
from facescope.analysis.expression.convcut_train import (
    SPLIT_SEED,
    VAL_FRACTION,
    TrainConfig,
    evaluate,
    grey_crops,
    load_fer2013,
    stratified_split,
    train_convcut,
)
from facescope.analysis.expression.ensemble import label_indices, score_predictions

DEFAULT_DATA = Path("../shared/testdata/expression/fer2013_train.npz")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ckplus", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--ablation", choices=ABLATIONS, default="+attention")
    parser.add_argument("--epochs", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=None, help="overrides --epochs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--class-weight-power", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FACESCOPE_THREADS", 1)))
    parser.add_argument("--eval-every", type=int, default=0, help="steps; 0 = once an epoch")
    parser.add_argument("--eval-limit", type=int, default=None, help="score only N val images")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    parser.add_argument("--no-augment", action="store_true", help="train on the plain crops")
    parser.add_argument("--out", type=Path, default=None, help="default out/convcut<ablation>.npz")
    parser.add_argument("--record", type=Path, default=None, help="default: --out with .json")
    parser.add_argument("--ship", action="store_true", help="copy into the package, pin SHA-256")
    return parser.parse_args()


def ckplus_scores(model: Any, root: Path) -> dict[str, Any] | None:
    """Scores on all CK+ crops and on its ``test`` subjects (None when CK+ is absent)."""
    try:
        samples = load_ckplus(root)
    except FileNotFoundError:
        return None
    crops = grey_crops([s.path for s in samples])
    labels = label_indices([s.label for s in samples])
    logits = predict_logits(model, crops)
    classes = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    test = np.array([s.split == "test" for s in samples])
    return {
        "all": score_predictions(logits, labels, classes).to_dict(),
        "test": score_predictions(logits[test], labels[test], classes).to_dict(),
    }


def main() -> int:
    args = arguments()
    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    if args.ship and args.ablation != "+attention":
        print("--ship is for the full variant (+attention) only", file=sys.stderr)
        return 2
    if not args.data.is_file():
        print(f"FER2013 not found at {args.data}", file=sys.stderr)
        return 1
    images, labels = load_fer2013(args.data)
    train_idx, val_idx = stratified_split(labels, args.val_fraction, SPLIT_SEED)
    config = TrainConfig(
        ablation=args.ablation,
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        class_weight_power=args.class_weight_power,
        seed=args.seed,
        eval_every=args.eval_every,
        eval_limit=args.eval_limit,
        augment=not args.no_augment,
    )
    total = config.total_steps(len(train_idx))
    print(
        f"conv-cut {args.ablation}: {len(train_idx)} train / {len(val_idx)} val, "
        f"{total} steps of {args.batch_size}, {args.threads} thread(s), seed {args.seed}"
    )

    def show(point: dict[str, float]) -> None:
        extra = ""
        if "val_accuracy" in point:
            extra = (
                f"  val loss {point['val_loss']:.3f} acc {point['val_accuracy']:.3f} "
                f"macro-F1 {point['val_macro_f1']:.3f}"
            )
        print(
            f"step {int(point['step']):6d} ep {point['epoch']:6.2f} lr {point['lr']:.2e} "
            f"train loss {point['train_loss']:.3f}{extra}  [{point['seconds']:.0f}s]",
            flush=True,
        )

    model, record = train_convcut(
        images[train_idx],
        labels[train_idx],
        config,
        val=(images[val_idx], labels[val_idx]),
        model_config=ConvCutConfig.for_ablation(args.ablation),
        progress=show,
    )
    record.final["ckplus"] = ckplus_scores(model, args.ckplus)
    probe = images[val_idx[:256]]
    torch.set_num_threads(1)
    predict_logits(model, probe[:16])
    started = time.perf_counter()
    predict_logits(model, probe)
    batched = (time.perf_counter() - started) / len(probe) * 1000
    started = time.perf_counter()
    for i in range(64):
        predict_logits(model, probe[i : i + 1])
    single = (time.perf_counter() - started) / 64 * 1000
    record.final["ms_per_face_one_thread"] = {
        "batched": round(batched, 2),
        "single": round(single, 2),
    }
    meta = {
        "training": record.to_dict(),
        "data": {
            "train": str(args.data.name),
            "split": f"stratified {args.val_fraction:.0%} per class, seed {SPLIT_SEED} "
            "(FER2013 has no person ids: not person-disjoint)",
            "n_train": len(train_idx),
            "n_val": len(val_idx),
        },
        "threads": args.threads,
        "torch": torch.__version__,
        "date": dt.date.today().isoformat(),
        "command": "python " + " ".join(sys.argv),
    }
    suffix = {"convnext": "_convnext", "+deb": "_deb", "+attention": ""}[args.ablation]
    out = args.out or Path(f"out/convcut{suffix}.npz")
    save_convcut(model, out, meta)
    loaded, _ = load_convcut(out)
    reloaded = evaluate(loaded, images[val_idx], labels[val_idx])
    record.final["val_float16"] = {k: reloaded[k] for k in ("loss", "accuracy", "macro_f1")}
    write_json(args.record or out.with_suffix(".json"), {**meta, "training": record.to_dict()})
    val = record.final["val"]
    print(
        f"final val acc {val['accuracy']:.4f} macro-F1 {val['macro_f1']:.4f} "
        f"(float16 weights: {reloaded['accuracy']:.4f}); "
        f"{batched:.2f} ms/face batched, {single:.2f} ms single, one thread; wrote {out}"
    )
    ck = record.final["ckplus"]
    if ck is not None:
        print(f"CK+ all acc {ck['all']['accuracy']:.4f}, test acc {ck['test']['accuracy']:.4f}")
    if args.ship:
        info = ship_weights(out)
        print(f"shipped as {info['file']} sha256 {info['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
