"""Add photos and videos to a face library and cluster them: ``facescope cluster``.

:func:`discover_people` is one run of the "People" workflow: add the inputs (files
already in the library are skipped), place the new faces (labelling those a gallery
knows), and return what happened with the clusters as they now stand.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facescope.cluster.incremental import DEFAULT_EPS, DEFAULT_MIN_FACES
from facescope.cluster.library import (
    DEFAULT_LIBRARY,
    AddReport,
    ClusterInfo,
    ClusterReport,
    FaceLibrary,
    Progress,
)
from facescope.gallery import Gallery


@dataclass(frozen=True)
class Discovery:
    """What one :func:`discover_people` run added and clustered, and the clusters now."""

    added: AddReport
    report: ClusterReport
    clusters: list[ClusterInfo]

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope cluster --json`` document."""
        return {
            "add": self.added.to_dict(),
            "cluster": self.report.to_dict(),
            "clusters": [c.to_dict() for c in self.clusters],
        }


def discover_people(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    library: str | os.PathLike[str] = DEFAULT_LIBRARY,
    gallery: str | os.PathLike[str] | None = None,
    eps: float = DEFAULT_EPS,
    min_faces: int = DEFAULT_MIN_FACES,
    progress: Progress | None = None,
) -> Discovery:
    """Add `inputs` (folders, photos, videos) to the library at `library` and cluster.

    With a `gallery`, faces it identifies are labelled instead of clustered as unknown.
    `progress` is called as ``progress(done, total, path)`` after each file.
    """
    opened_gallery = Gallery.open(gallery) if gallery is not None else None
    try:
        with FaceLibrary.open(library) as faces:
            added = faces.add(inputs, progress)
            report = faces.cluster(eps, min_faces, gallery=opened_gallery)
            return Discovery(added, report, faces.clusters())
    finally:
        if opened_gallery is not None:
            opened_gallery.close()
