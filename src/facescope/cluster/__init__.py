"""Discovering unknown people: a photo library's faces, grouped into stable clusters.

``FaceLibrary.open(folder)`` keeps the faces; ``add`` photos and videos,
``cluster`` the new faces (existing faces keep their cluster ids), then
``rename``, ``merge``, ``split`` and ``promote`` clusters into a gallery.
"""

from facescope.cluster.incremental import (
    DEFAULT_EPS,
    DEFAULT_MIN_FACES,
    Assignment,
    ClusterMetrics,
    assign_incremental,
    cluster_metrics,
)
from facescope.cluster.library import (
    DEFAULT_LIBRARY,
    AddReport,
    ClusterError,
    ClusterInfo,
    ClusterReport,
    FaceInfo,
    FaceLibrary,
    MergeSuggestion,
    UnknownClusterError,
)

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_LIBRARY",
    "DEFAULT_MIN_FACES",
    "AddReport",
    "Assignment",
    "ClusterError",
    "ClusterInfo",
    "ClusterMetrics",
    "ClusterReport",
    "FaceInfo",
    "FaceLibrary",
    "MergeSuggestion",
    "UnknownClusterError",
    "assign_incremental",
    "cluster_metrics",
]
