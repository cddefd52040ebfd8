"""Plot conv-cut training curves (validation accuracy and losses per epoch) from records.

Each record is the JSON that ``scripts/fit_expression.py`` writes next to the weights.

    python scripts/plot_expression_curves.py out/expr/convcut.json out/expr/abl_*.json \\
        --out docs/expressions_wild_curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("out/expressions_wild_curves.png"))
    args = parser.parse_args()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for path in args.records:
        record = json.loads(path.read_text(encoding="utf-8"))["training"]
        curves = record["curves"]
        label = f"{record['config']['ablation']}, {record['config']['epochs']:g} epochs"
        epochs = [p["epoch"] for p in curves]
        acc_ax.plot(epochs, [p["val_accuracy"] for p in curves], marker="o", label=label)
        loss_ax.plot(epochs, [p["train_loss"] for p in curves], label=f"train, {label}")
        loss_ax.plot(epochs, [p["val_loss"] for p in curves], ls="--", label=f"val, {label}")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (2,872 FER2013 images)")
    loss_ax.set(xlabel="epoch", ylabel="loss (train: weighted, smoothed; val: plain CE)")
    acc_ax.grid(alpha=0.3)
    loss_ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8)
    loss_ax.legend(fontsize=7)
    fig.suptitle("conv-cut on FER2013 (scripts/fit_expression.py)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
