"""The landmark graphs of the spatio-temporal multi-graph network (numpy, no torch).

Three spatial graphs over the K landmarks of a mouth (or face), made from a *template*
(the mean pose-normalised shape of the training data, stored in the weights):

* **anatomical**: the contours of the layout: for MediaPipe mesh points (what
  ``facescope lips`` writes: its 40 lip points and 17 jaw points, named by their mesh
  indices), the outer and inner lip contours and the jaw line; for the iBUG layouts
  (20 mouth points: outer lip ring 48-59 and inner ring 60-67, with spokes between
  them; or all 68 face points); points on no contour, and any other layout, are
  joined to their 3 nearest neighbours in the template;
* **symmetry**: each point joined to its left-right mirror image (the template point
  nearest to its reflection about the vertical axis through the centroid);
* **learned**: a free K x K adjacency trained with the network (in the network, not here).

Temporal edges (each point to itself in the neighbouring frames) are the temporal
convolutions of the network.
"""

from __future__ import annotations

import itertools
from typing import Final

import numpy as np
import numpy.typing as npt

#: iBUG 68-point contours (index ranges; ``True``: closed ring).
_FACE_CONTOURS: Final[tuple[tuple[int, int, bool], ...]] = (
    (0, 17, False),  # jaw
    (17, 22, False),  # right brow
    (22, 27, False),  # left brow
    (27, 31, False),  # nose bridge
    (31, 36, False),  # nostrils
    (36, 42, True),  # right eye
    (42, 48, True),  # left eye
    (48, 60, True),  # outer lip
    (60, 68, True),  # inner lip
)
#: Outer-lip to inner-lip spokes (iBUG indices).
_LIP_SPOKES: Final[tuple[tuple[int, int], ...]] = (
    (48, 60), (49, 61), (50, 61), (51, 62), (52, 63), (53, 63), (54, 64),
    (55, 65), (56, 65), (57, 66), (58, 67), (59, 67),
)  # fmt: skip


#: MediaPipe face-mesh contours: outer upper/lower lip, inner upper/lower lip, jaw line.
MESH_CHAINS: Final[tuple[tuple[int, ...], ...]] = (
    (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
    (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
    (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361),
    (61, 78),
    (291, 308),
    (0, 13),
    (17, 14),  # corners and centres: outer to inner
)


def _edges_mesh(mesh_points: tuple[int, ...]) -> list[tuple[int, int]]:
    where = {m: i for i, m in enumerate(mesh_points)}
    edges: list[tuple[int, int]] = []
    for chain in MESH_CHAINS:
        present = [where[m] for m in chain if m in where]
        edges += list(itertools.pairwise(present))
    return edges


def _edges_ibug(offset: int, contours: tuple[tuple[int, int, bool], ...]) -> list[tuple[int, int]]:
    edges: list[tuple[int, int]] = []
    for start, stop, ring in contours:
        idx = list(range(start - offset, stop - offset))
        edges += list(itertools.pairwise(idx))
        if ring:
            edges.append((idx[-1], idx[0]))
    edges += [(a - offset, b - offset) for a, b in _LIP_SPOKES]
    return edges


def layout_name(k: int) -> str:
    """``ibug-mouth-20``, ``ibug-68`` or ``knn`` (any other number of points)."""
    return {20: "ibug-mouth-20", 68: "ibug-68"}.get(k, "knn")


def _normalised(adjacency: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Symmetric normalisation with self-loops: D^-1/2 (A + I) D^-1/2."""
    a = adjacency + np.eye(len(adjacency))
    d = 1.0 / np.sqrt(a.sum(1))
    out: npt.NDArray[np.float32] = (a * d[:, None] * d[None, :]).astype(np.float32)
    return out


def anatomical(
    template: npt.NDArray[np.floating], mesh_points: tuple[int, ...] | None = None
) -> npt.NDArray[np.float32]:
    """(K, K) normalised adjacency of the layout's contours (k-NN where none is known).

    `mesh_points`: the MediaPipe mesh index of each point (the ``points`` array of a
    ``facescope lips`` track file), when the landmarks are mesh points.
    """
    points = np.asarray(template, np.float64)[:, :2]
    k = len(points)
    a = np.zeros((k, k))
    if mesh_points is not None:
        if len(mesh_points) != k:
            raise ValueError(f"{len(mesh_points)} mesh indices for {k} points")
        edges = _edges_mesh(tuple(mesh_points))
    elif layout_name(k) == "ibug-mouth-20":
        edges = _edges_ibug(48, _FACE_CONTOURS[-2:])
    elif layout_name(k) == "ibug-68":
        edges = _edges_ibug(0, _FACE_CONTOURS)
    else:
        edges = []
    for i, j in edges:
        a[i, j] = a[j, i] = 1.0
    lonely = np.flatnonzero(a.sum(1) == 0)
    if len(lonely):
        distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
        np.fill_diagonal(distance, np.inf)
        for p in lonely:
            for q in np.argsort(distance[p])[: min(3, k - 1)]:
                a[p, q] = a[q, p] = 1.0
    return _normalised(a)


def mirror(template: npt.NDArray[np.floating]) -> npt.NDArray[np.int64]:
    """(K,) index of each point's left-right mirror partner in the template."""
    points = np.asarray(template, np.float64)[:, :2]
    reflected = points.copy()
    reflected[:, 0] = 2 * points[:, 0].mean() - points[:, 0]
    distance = np.linalg.norm(reflected[:, None] - points[None], axis=-1)
    out: npt.NDArray[np.int64] = np.argmin(distance, 1).astype(np.int64)
    return out


def symmetry(template: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """(K, K) normalised adjacency joining mirror partners."""
    partner = mirror(template)
    k = len(partner)
    a = np.zeros((k, k))
    for i, j in enumerate(partner):
        if i != j:
            a[i, j] = a[j, i] = 1.0
    return _normalised(a)


__all__ = ["MESH_CHAINS", "anatomical", "layout_name", "mirror", "symmetry"]
