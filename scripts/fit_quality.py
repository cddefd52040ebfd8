"""Fit the shipped face-quality score (``src/facescope/quality/quality_model.json``).

The probes, their quality components and their genuine-comparison success rates
are those of ``benchmarks/bench_quality.py`` (the 600 aligned calibration crops
and seeded synthetic degradations of each; cached in ``out/quality_cache``).
The score is a binary :class:`~facescope.heads.LogisticHead` of the components
on each probe's success rate (a fractional target: every probe counts as a
success with weight ``rate`` and a failure with weight ``1 - rate``), L2 1.0,
each coefficient held to its sign (:data:`facescope.quality.assess.SIGNS`),
fitted on half the identities (seeded subject split); the error-versus-discard
figures of the other half go into its provenance.

Deterministic for a seed: with the defaults it reproduces the shipped file
(Newton's method; the coefficients fitted before the shared head, to 1e-14).
About 2 minutes on 2 cores when the probes are measured, seconds when cached.

    python scripts/fit_quality.py [--variants 6] [--seed 0] [--clean-weight 0.3]
        [--out src/facescope/quality/quality_model.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

from facescope._json import write_json
from facescope.heads import LogisticHead, provenance
from facescope.quality.assess import CLASSES, DEFAULT_MIN_QUALITY, FEATURES, SIGNS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_quality  # noqa: E402  (the probes and curves are the benchmark's)

L2 = 1.0


def fit_score(
    features: np.ndarray, success: np.ndarray, weight: np.ndarray, l2: float = L2
) -> LogisticHead:
    """The score head on fractional targets (each row a weighted success and failure)."""
    rows = np.vstack([features, features])
    labels = [CLASSES[1]] * len(features) + [CLASSES[0]] * len(features)
    weights = np.concatenate([weight * success, weight * (1.0 - success)])
    head = LogisticHead(
        l2=l2,
        coef_sign=[SIGNS[name] for name in FEATURES],
        class_names=CLASSES,
        feature_names=FEATURES,
    )
    return head.fit(rows, labels, weights)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=6, help="degraded copies per crop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clean-weight",
        type=float,
        default=0.3,
        help="weight of the clean probes relative to all the degraded ones together",
    )
    parser.add_argument("--l2", type=float, default=L2)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src/facescope/quality/quality_model.json"
    )
    args = parser.parse_args()
    console = Console()
    probes = bench_quality.load_probes(args.variants, args.seed)
    if probes is None:
        console.print(f"{bench_quality.DATA} is absent: the calibration set is needed")
        return 1
    rng = np.random.default_rng(args.seed)
    fit_ids, test_ids = bench_quality.split_identities(probes.names, rng)
    data, found = probes.data, probes.found
    in_fit = np.isin(probes.identity[data["source"]], sorted(fit_ids))
    train = found & in_fit
    features = probes.features()
    # Clean probes weigh as much in all as the degraded ones, so that the score
    # also ranks the in-the-wild variation of untouched photos.
    weight = np.where(data["kind"] == 0, args.clean_weight * args.variants, 1.0)
    head = fit_score(features[train], probes.success[train], weight[train], args.l2)
    quality = np.zeros(len(found))
    quality[found] = head.predict_proba(features[found])[:, 1]
    report = bench_quality.evaluate(probes, quality, fit_ids, rng)
    fit_names = [probes.names[i] for i in sorted(fit_ids)]
    test_names = [probes.names[i] for i in sorted(test_ids)]
    head.set_provenance(
        **provenance(
            script="python scripts/fit_quality.py "
            f"--variants {args.variants} --seed {args.seed} --clean-weight {args.clean_weight:g}",
            data="aligned_celebrities (600 crops, 12 identities) + "
            f"{args.variants} synthetic degradations each",
            split=f"identities: fit {fit_names}; held out {test_names}",
            seed=args.seed,
            metrics=bench_quality.held_out_summary(report),
            target="share of the face's genuine comparisons with cosine >= the SFace "
            f"threshold at FMR {bench_quality.FMR:g} ({probes.threshold:.4f}), against the "
            "identity's other clean crops",
            fit_identities=fit_names,
            test_identities=test_names,
            fit_probes=int(train.sum()),
            default_min_quality=DEFAULT_MIN_QUALITY,
        )
    )
    write_json(args.out, head.to_json(), indent=2)
    report["coefficients"] = dict(zip(FEATURES, np.round(head.coef_[0], 4).tolist(), strict=True))
    bench_quality.show(report)
    console.print(f"wrote {args.out} ({head.n_iter_} Newton iterations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
