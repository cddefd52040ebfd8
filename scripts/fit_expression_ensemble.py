"""Re-weight the expression ensemble for the wild: weights chosen on FER2013 *and* CK+.

The shipped ``weights.json`` was chosen on posed CK+ only. This search scores every
weight vector on the simplex grid (members fer, facex, what-the-face and conv-cut, rules
mean/log) by ``mix * macro-F1(FER2013 fit) + (1 - mix) * macro-F1(CK+ fit)`` and reports
the winner on the held-out halves:

* **CK+**: the ``fit`` / ``test`` subject split of :mod:`~facescope.analysis.expression.ckplus`
  (person-disjoint).
* **FER2013**: only the validation split of ``scripts/fit_expression.py`` is used (conv-cut
  never trained on it), cut into ``fit`` / ``test`` halves by a seeded stratified split.
  FER2013 has no person ids, so this cannot be person-disjoint: the same person may appear
  in both halves (and in conv-cut's training set).

Every member sees the whole 48x48 crop. The AU head is left out (it needs a face mesh,
which 48x48 crops rarely give); with ``--write`` its old weight is dropped too.

    python scripts/fit_expression_ensemble.py --convcut out/convcut.npz [--mix 0.5]
        [--step 0.05] [--limit N] [--json out/expression_ensemble_wild.json] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import numpy as np

from facescope._json import write_json
from facescope.analysis.expression.ckplus import DEFAULT_ROOT, load_ckplus
from facescope.analysis.expression.convcut import ConvCutModel
from facescope.analysis.expression.convcut_train import (
    SPLIT_SEED,
    VAL_FRACTION,
    grey_crops,
    load_fer2013,
    stratified_split,
)
from facescope.analysis.expression.ensemble import (
    RULES,
    WEIGHTS_PATH,
    combine,
    label_indices,
    load_weights,
    score_predictions,
    simplex_grid,
)
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import MODEL_NAMES, ExpressionModel, make_model

CK_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/testdata/expression/fer2013_train.npz")
    )
    parser.add_argument("--ckplus", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--convcut", type=Path, default=None, help="weights (default: shipped)")
    parser.add_argument("--mix", type=float, default=0.5, help="weight of FER2013 in the score")
    parser.add_argument("--step", type=float, default=0.05)
    parser.add_argument("--flip", action="store_true", help="average each member with its mirror")
    parser.add_argument("--limit", type=int, default=None, help="first N FER2013 val images")
    parser.add_argument("--json", type=Path, default=Path("out/expression_ensemble_wild.json"))
    parser.add_argument("--write", action="store_true", help="rewrite weights.json")
    return parser.parse_args()


def member_probs(
    models: dict[str, ExpressionModel], crops: np.ndarray, flip: bool
) -> dict[str, np.ndarray]:
    return {name: m.predict_crops(list(crops), flip=flip) for name, m in models.items()}


def search(
    fer: tuple[dict[str, np.ndarray], np.ndarray],
    ck: tuple[dict[str, np.ndarray], np.ndarray],
    mix: float,
    step: float,
) -> list[tuple[float, str, dict[str, float]]]:
    """(score, rule, weights) for every grid point, best first."""
    names = list(fer[0])
    results: list[tuple[float, str, dict[str, float]]] = []
    for rule in RULES:
        for vector in simplex_grid(len(names), step):
            weights = dict(zip(names, vector, strict=True))
            f1_fer = score_predictions(combine(fer[0], weights, rule), fer[1], EXPRESSIONS)
            f1_ck = score_predictions(combine(ck[0], weights, rule), ck[1], CK_CLASSES)
            value = mix * f1_fer.macro_f1 + (1.0 - mix) * f1_ck.macro_f1
            results.append((round(value, 9), rule, weights))
    results.sort(key=lambda item: item[0], reverse=True)
    return results


def subset(probs: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: p[mask] for name, p in probs.items()}


def main() -> int:
    args = arguments()
    models: dict[str, ExpressionModel] = {name: make_model(name) for name in MODEL_NAMES}
    models["convcut"] = ConvCutModel(path=args.convcut)
    missing = [name for name, m in models.items() if not m.is_available()]
    if missing:
        print(f"members unavailable here: {missing}", file=sys.stderr)
        return 1
    images, labels = load_fer2013(args.data)
    _, val = stratified_split(labels, VAL_FRACTION, SPLIT_SEED)
    if args.limit:
        val = val[: args.limit]
    fer_fit_pos, _ = stratified_split(labels[val], 0.5, SPLIT_SEED + 1)
    fer_fit = np.zeros(len(val), bool)
    fer_fit[fer_fit_pos] = True
    samples = load_ckplus(args.ckplus)
    ck_crops = grey_crops([s.path for s in samples])
    ck_labels = label_indices([s.label for s in samples])
    ck_fit = np.array([s.split == "fit" for s in samples])

    fer_probs = member_probs(models, images[val], args.flip)
    ck_probs = member_probs(models, ck_crops, args.flip)
    ranking = search(
        (subset(fer_probs, fer_fit), labels[val][fer_fit]),
        (subset(ck_probs, ck_fit), ck_labels[ck_fit]),
        args.mix,
        args.step,
    )
    score, rule, weights = ranking[0]

    def held_out(probs: dict[str, np.ndarray], y: np.ndarray, classes: Any) -> dict[str, Any]:
        return score_predictions(combine(probs, weights, rule), y, classes).to_dict()

    report = {
        "weights": weights,
        "rule": rule,
        "flip": args.flip,
        "fit_score": score,
        "mix": args.mix,
        "fer2013_test": held_out(subset(fer_probs, ~fer_fit), labels[val][~fer_fit], EXPRESSIONS),
        "ckplus_test": held_out(subset(ck_probs, ~ck_fit), ck_labels[~ck_fit], CK_CLASSES),
        "members_test": {
            name: {
                "fer2013": score_predictions(p[~fer_fit], labels[val][~fer_fit]).accuracy,
                "ckplus": score_predictions(ck_probs[name][~ck_fit], ck_labels[~ck_fit]).accuracy,
            }
            for name, p in fer_probs.items()
        },
        "ranking": [{"score": s, "rule": r, "weights": w} for s, r, w in ranking[:10]],
    }
    write_json(args.json, report)
    print(
        f"weights {weights} rule {rule}: FER2013 test acc "
        f"{report['fer2013_test']['accuracy']:.4f}, CK+ test acc "
        f"{report['ckplus_test']['accuracy']:.4f}; wrote {args.json}"
    )
    if args.write:
        config = load_weights(WEIGHTS_PATH)
        config.update(
            members=weights,
            rule=rule,
            flip=args.flip,
            provenance={
                "dataset": "FER2013 validation split (fit half) + CK+ fit subjects",
                "metric": f"{args.mix} * macro-F1 FER2013 + {1 - args.mix:g} * macro-F1 CK+",
                "fer2013_test_accuracy": round(report["fer2013_test"]["accuracy"], 4),
                "ckplus_test_accuracy": round(report["ckplus_test"]["accuracy"], 4),
                "date": dt.date.today().isoformat(),
                "command": "python " + " ".join(sys.argv),
            },
        )
        write_json(WEIGHTS_PATH, config)
        print(f"rewrote {WEIGHTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
