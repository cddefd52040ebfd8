"""Clustering unknown people: purity, pairwise precision/recall, noise and stability.

Embeds ``aligned_celebrities`` (600 aligned crops, 12 identities) with SFace and
clusters them with facescope's incremental DBSCAN at several cosine thresholds,
next to a one-shot peer (scipy average-linkage hierarchical clustering cut at
the same distance; clusters smaller than min_faces count as noise for both).
Stability: cluster a random half, add the other half and cluster incrementally;
report how many first-half faces changed cluster (must be 0) and the final
quality against clustering everything at once.

    .venv/bin/python benchmarks/bench_cluster.py [--json] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

from facescope.cluster import (
    DEFAULT_EPS,
    DEFAULT_MIN_FACES,
    assign_incremental,
    cluster_metrics,
)
from facescope.pipeline import embed_largest_faces

DATA = Path(__file__).parents[1] / "../shared/testdata/faces/aligned_celebrities"
EPS_GRID = (0.52, 0.50, 0.48, 0.47, 0.45, 0.43, 0.40)


def peer(vectors: npt.NDArray[np.float32], eps: float, min_faces: int) -> npt.NDArray[np.int64]:
    """scipy average linkage cut at cosine distance eps; small clusters become noise."""
    tree = linkage(pdist(vectors.astype(np.float64), "cosine"), method="average")
    labels = fcluster(tree, t=eps, criterion="distance").astype(np.int64)
    sizes = np.bincount(labels)
    labels[sizes[labels] < min_faces] = -1
    return labels


def stability(
    vectors: npt.NDArray[np.float32], eps: float, min_faces: int, seed: int = 0
) -> dict[str, Any]:
    n = len(vectors)
    first = np.zeros(n, bool)
    first[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    half = assign_incremental(vectors, np.full(n, -1), eps=eps, min_faces=min_faces, eligible=first)
    full = assign_incremental(vectors, half.labels, eps=eps, min_faces=min_faces)
    kept = half.labels >= 0
    return {
        "labels": full.labels,
        "first_half_clustered": int(kept.sum()),
        "first_half_changed": int((full.labels[kept] != half.labels[kept]).sum()),
        "merge_suggestions": len(full.suggestions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--min-faces", type=int, default=DEFAULT_MIN_FACES)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    rows = list(csv.DictReader((args.data / "labels.csv").open()))
    started = time.perf_counter()
    batch = embed_largest_faces([args.data / r["path"] for r in rows], ["sface"])
    embed_s = time.perf_counter() - started
    truth = np.array([r["identity"] for r, ok in zip(rows, batch.found, strict=True) if ok])
    vectors = batch.embeddings["sface"].vectors
    results: list[dict[str, Any]] = []
    for eps in EPS_GRID:
        started = time.perf_counter()
        once = assign_incremental(
            vectors, np.full(len(vectors), -1), eps=eps, min_faces=args.min_faces
        )
        once_s = time.perf_counter() - started
        stable = stability(vectors, eps, args.min_faces)
        results.append(
            {
                "eps": eps,
                "similarity": round(1 - eps, 3),
                "default": eps == DEFAULT_EPS,
                "facescope": {
                    **cluster_metrics(once.labels, truth).to_dict(),
                    "s": round(once_s, 3),
                },
                "incremental": {
                    **cluster_metrics(stable["labels"], truth).to_dict(),
                    "first_half_clustered": stable["first_half_clustered"],
                    "first_half_changed": stable["first_half_changed"],
                    "merge_suggestions": stable["merge_suggestions"],
                },
                "scipy_average": cluster_metrics(
                    peer(vectors, eps, args.min_faces), truth
                ).to_dict(),
            }
        )
    document = {
        "data": str(args.data),
        "faces": len(vectors),
        "failed": int((~batch.found).sum()),
        "identities": len(set(truth.tolist())),
        "min_faces": args.min_faces,
        "embed_s": round(embed_s, 2),
        "results": results,
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return
    print(
        f"{document['faces']} faces, {document['identities']} identities, "
        f"min_faces={args.min_faces} (embedding {embed_s:.1f} s); '*' = default eps"
    )
    header = (
        f"{'eps':>6} {'sim':>5} | {'method':<13} {'purity':>6} {'prec':>6} {'recall':>6} "
        f"{'noise':>6} {'clust':>5} | stability"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        mark = "*" if r["default"] else " "
        for method in ("facescope", "incremental", "scipy_average"):
            m = r[method]
            note = ""
            if method == "incremental":
                note = (
                    f"{m['first_half_changed']}/{m['first_half_clustered']} first-half faces "
                    f"changed, {m['merge_suggestions']} merge suggestion(s)"
                )
            print(
                f"{r['eps']:>5}{mark} {r['similarity']:>5} | {method:<13} {m['purity']:>6.3f} "
                f"{m['precision']:>6.3f} {m['recall']:>6.3f} {m['noise']:>6.3f} "
                f"{m['clusters']:>5} | {note}"
            )


if __name__ == "__main__":
    main()
