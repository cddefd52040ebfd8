"""The work behind ``facescope cluster``: add photos/videos, cluster, print the people."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from facescope.cluster.incremental import DEFAULT_EPS, DEFAULT_MIN_FACES
from facescope.cluster.library import ClusterReport, FaceLibrary
from facescope.gallery import Gallery

DEFAULT_LIBRARY = "./facescope-library"


def run_cluster_cli(
    inputs: Sequence[Path],
    *,
    library: Path = Path(DEFAULT_LIBRARY),
    gallery: Path | None = None,
    eps: float = DEFAULT_EPS,
    min_faces: int = DEFAULT_MIN_FACES,
    fpir: float = 0.01,
    json_out: bool = False,
    console: Console,
    errors: Console,
    progress: Callable[[], Progress],
) -> ClusterReport:
    """Add `inputs` (folders, photos, videos) to the library, cluster, report the people."""
    opened_gallery = Gallery.open(gallery) if gallery is not None else None
    try:
        with FaceLibrary.open(library) as faces:
            with progress() as bar:
                task = bar.add_task("adding", total=None)

                def advance(done: int, total: int, path: str) -> None:
                    bar.update(task, completed=done, total=total, description=escape(path))

                added = faces.add(inputs, advance)
            for path, reason in added.failed.items():
                errors.print(f"[yellow]skipped[/] {escape(path)}: {escape(reason)}")
            report = faces.cluster(eps, min_faces, gallery=opened_gallery, fpir=fpir)
            clusters = faces.clusters()
            if json_out:
                document = {
                    "add": added.to_dict(),
                    "cluster": report.to_dict(),
                    "clusters": [c.to_dict() for c in clusters],
                }
                print(json.dumps(document, indent=2))
                return report
            table = Table(
                title=f"{len(clusters)} people; {len(added.added)} file(s) added, "
                f"{len(added.skipped)} already known, {report.noise} face(s) unclustered"
            )
            for column in ("cluster", "name", "faces", "new"):
                table.add_column(column)
            new = set(report.new_clusters)
            for c in clusters:
                table.add_row(
                    str(c.id),
                    escape(c.name) if c.name else "[dim]unnamed[/]",
                    str(c.size),
                    "new" if c.id in new else "",
                )
            console.print(table)
            for s in report.suggestions:
                console.print(
                    f"[yellow]suggestion:[/] clusters {s.a} and {s.b} may be one person "
                    f"({s.faces} face(s) close to both); merge them if so"
                )
            return report
    finally:
        if opened_gallery is not None:
            opened_gallery.close()
