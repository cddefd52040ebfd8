"""Incremental density clustering of face embeddings, and clustering quality metrics.

The algorithm is Immich-style incremental DBSCAN over cosine distance, with one
rule above all: **faces that already have a cluster keep it**. Only unassigned
faces are processed, in three steps:

1. *Grow existing clusters.* An unassigned **core** face (at least ``min_faces``
   faces, itself included, within ``eps``) that has clustered faces within
   ``eps`` joins the cluster holding most of them (ties: the most similar
   neighbour's cluster). Repeated until nothing changes, so a chain of new
   core faces grows out from a cluster. A core face whose neighbours lie in
   two or more clusters joins one and records a **merge suggestion** for the
   others: clusters are never merged silently.
2. *New clusters.* The remaining core faces have no clustered neighbour; their
   connected components (core faces within ``eps`` of each other) become new
   clusters, numbered in the order of their oldest face.
3. *Border faces.* A non-core face joins the cluster of its clustered
   neighbours within ``eps`` (same vote); it never links clusters. Faces left
   over are noise and are reconsidered on the next run, when more faces may
   have arrived.

Everything here is pure numpy on arrays, so the library, the tests and the
benchmark share one implementation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: Cosine distance (1 - cosine similarity) within which two faces are neighbours:
#: similarity >= 0.55, a margin over the lowest similarity at which clusters of
#: aligned_celebrities stay pure (benchmarks/bench_cluster.py; README, clustering).
#: It is stricter than SFace's 1:1 threshold at FMR 1e-4 because density links
#: chain: one false link between two core faces would join two people.
DEFAULT_EPS = 0.45
#: Faces (the face itself included) that must lie within eps of a face for it to
#: be a core face that can found or grow a cluster.
DEFAULT_MIN_FACES = 3

_CHUNK = 512


@dataclass
class Assignment:
    """What one incremental run decided.

    Attributes:
        labels: (n,) cluster id per face, -1 for unassigned (input labels kept).
        joined: faces that joined clusters existing before the run.
        new_clusters: ids of the clusters created, ascending.
        new_faces: faces that went into the new clusters.
        noise: unassigned eligible faces left over.
        suggestions: ``(a, b) -> faces`` (a < b): how many core faces lie within
            eps of both clusters; each pair is a merge the user may want.
    """

    labels: npt.NDArray[np.int64]
    joined: int = 0
    new_clusters: list[int] = field(default_factory=list)
    new_faces: int = 0
    noise: int = 0
    suggestions: dict[tuple[int, int], int] = field(default_factory=dict)


def assign_incremental(
    vectors: npt.NDArray[np.float32],
    labels: npt.NDArray[np.integer],
    *,
    eps: float = DEFAULT_EPS,
    min_faces: int = DEFAULT_MIN_FACES,
    eligible: npt.NDArray[np.bool_] | None = None,
    next_id: int | None = None,
) -> Assignment:
    """Cluster the unassigned faces (``labels == -1``) without changing any other label.

    Args:
        vectors: (n, d) L2-normalised embeddings.
        labels: (n,) current cluster id per face, -1 for unassigned.
        eps: cosine distance within which faces are neighbours, in (0, 2).
        min_faces: faces within eps (itself included) that make a core face, >= 1.
        eligible: (n,) faces that take part at all (default: all); others are
            neither clustered nor counted as anyone's neighbour.
        next_id: the first id to give a new cluster (default: max label + 1).
    """
    if not 0.0 < eps < 2.0:
        raise ValueError(f"eps must be a cosine distance in (0, 2), got {eps}")
    if min_faces < 1:
        raise ValueError(f"min_faces must be >= 1, got {min_faces}")
    vectors = np.asarray(vectors, np.float32)
    out = np.asarray(labels, np.int64).copy()
    n = len(out)
    if vectors.shape[0] != n:
        raise ValueError(f"{vectors.shape[0]} vectors for {n} labels")
    mask = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
    if next_id is None:
        next_id = int(out.max()) + 1 if n and out.max() >= 0 else 1
    result = Assignment(out)
    pool = np.flatnonzero(mask)
    todo = pool[out[pool] < 0]
    if len(todo) == 0:
        return result
    neighbours = _neighbours(vectors, todo, pool, 1.0 - eps)
    core = {int(u): len(neighbours[int(u)][0]) >= min_faces for u in todo}

    # 1. grow existing clusters from core faces, to a fixed point
    pending = [int(u) for u in todo if core[int(u)]]
    while pending:
        updates: dict[int, int] = {}
        for face in pending:
            choice = _vote(face, neighbours[face], out, result.suggestions)
            if choice is not None:
                updates[face] = choice
        if not updates:
            break
        for face, cluster in updates.items():
            out[face] = cluster
        result.joined += len(updates)
        pending = [f for f in pending if f not in updates]

    # 2. connected components of the remaining core faces become new clusters
    remaining = [f for f in pending if out[f] < 0]
    parent = {f: f for f in remaining}

    def find(face: int) -> int:
        while parent[face] != face:
            parent[face] = parent[parent[face]]
            face = parent[face]
        return face

    for face in remaining:
        for other in neighbours[face][0].tolist():
            if other in parent and other != face:
                a, b = find(face), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    components: dict[int, list[int]] = {}
    for face in remaining:
        components.setdefault(find(face), []).append(face)
    for root in sorted(components):
        cluster = next_id
        next_id += 1
        result.new_clusters.append(cluster)
        for face in components[root]:
            out[face] = cluster
        result.new_faces += len(components[root])

    # 3. border faces join a neighbouring cluster; they never link clusters
    border: dict[int, int] = {}
    for face in todo.tolist():
        if out[face] < 0 and not core[face]:
            choice = _vote(face, neighbours[face], out, None)
            if choice is not None:
                border[face] = choice
    new = set(result.new_clusters)
    for face, cluster in border.items():
        out[face] = cluster
        if cluster in new:
            result.new_faces += 1
        else:
            result.joined += 1
    result.noise = int((out[todo] < 0).sum())
    return result


def _neighbours(
    vectors: npt.NDArray[np.float32],
    todo: npt.NDArray[np.intp],
    pool: npt.NDArray[np.intp],
    min_similarity: float,
) -> dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]]:
    """Per face in `todo`: the pool faces within the similarity bound (itself included)."""
    found: dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = {}
    candidates = vectors[pool]
    for start in range(0, len(todo), _CHUNK):
        part = todo[start : start + _CHUNK]
        scores = vectors[part] @ candidates.T
        own = np.searchsorted(pool, part)  # pool is sorted and holds every face of todo
        for row, face in enumerate(part.tolist()):
            hit = scores[row] >= min_similarity
            hit[own[row]] = True  # a face is always its own neighbour
            found[face] = (pool[hit], scores[row][hit])
    return found


def _vote(
    face: int,
    near: tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]],
    labels: npt.NDArray[np.int64],
    suggestions: dict[tuple[int, int], int] | None,
) -> int | None:
    """The cluster holding most of `face`'s clustered neighbours (ties: the most similar)."""
    ids, scores = near
    clusters = labels[ids]
    keep = (clusters >= 0) & (ids != face)
    if not keep.any():
        return None
    counts = Counter(clusters[keep].tolist())
    best_score: dict[int, float] = {}
    for cluster, score in zip(clusters[keep].tolist(), scores[keep].tolist(), strict=True):
        best_score[cluster] = max(best_score.get(cluster, -1.0), score)
    winner = max(counts, key=lambda c: (counts[c], best_score[c], -c))
    if suggestions is not None:
        for other in counts:
            if other != winner:
                pair = (min(winner, other), max(winner, other))
                suggestions[pair] = suggestions.get(pair, 0) + 1
    return int(winner)


# ---- quality of a clustering against known identities ------------------------------


@dataclass(frozen=True)
class ClusterMetrics:
    """How well clusters match the true identities.

    Attributes:
        purity: over clustered faces, the share that belong to their cluster's
            majority identity.
        precision: of the face pairs put in one cluster, the share of the same person.
        recall: of the same-person pairs (among all faces, noise included), the
            share put in one cluster.
        noise: share of faces left unclustered.
        clusters: number of clusters.
        identities: number of true identities.
    """

    purity: float
    precision: float
    recall: float
    noise: float
    clusters: int
    identities: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain-Python view, for JSON output."""
        return {
            "purity": round(self.purity, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "noise": round(self.noise, 4),
            "clusters": self.clusters,
            "identities": self.identities,
        }


def cluster_metrics(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> ClusterMetrics:
    """Purity and pairwise precision/recall; ``predicted`` -1 marks noise."""
    pred = np.asarray(predicted, np.int64)
    true = np.asarray(truth)
    if pred.shape != true.shape:
        raise ValueError(f"{pred.shape} predictions for {true.shape} labels")
    _, true_ids = np.unique(true, return_inverse=True)
    clustered = pred >= 0
    pure = 0
    together = 0
    together_same = 0
    for cluster in np.unique(pred[clustered]):
        members = true_ids[pred == cluster]
        counts = np.bincount(members)
        pure += int(counts.max())
        together += len(members) * (len(members) - 1) // 2
        together_same += int((counts * (counts - 1) // 2).sum())
    same_counts = np.bincount(true_ids) if len(true_ids) else np.zeros(0, np.int64)
    same = int((same_counts * (same_counts - 1) // 2).sum())
    n_clustered = int(clustered.sum())
    return ClusterMetrics(
        purity=pure / n_clustered if n_clustered else 0.0,
        precision=together_same / together if together else 1.0,
        recall=together_same / same if same else 1.0,
        noise=1.0 - n_clustered / len(pred) if len(pred) else 0.0,
        clusters=len(np.unique(pred[clustered])),
        identities=len(same_counts),
    )
