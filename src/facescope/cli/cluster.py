"""``facescope cluster`` and ``facescope people``: discover, name, merge, split and promote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import (
    ForceOption,
    JsonOption,
    LibraryOption,
    counter,
    friendly,
    skipped,
)
from facescope.cli.output import emit
from facescope.cluster.discover import Discovery
from facescope.cluster.incremental import DEFAULT_EPS, DEFAULT_MIN_FACES
from facescope.cluster.library import DEFAULT_LIBRARY, ClusterInfo, FaceInfo
from facescope.gallery import DEFAULT_GALLERY


def _discovered(found: Discovery) -> Iterator[RenderableType]:
    added, report, clusters = found.added, found.report, found.clusters
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
    yield table
    for s in report.suggestions:
        yield (
            f"[yellow]suggestion:[/] clusters {s.a} and {s.b} may be one person "
            f"({s.faces} face(s) close to both); merge them if so"
        )


@friendly
def cluster(
    inputs: Annotated[list[Path], typer.Argument(help="Photo folders, photos or videos.")],
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    gallery: Annotated[
        Path | None,
        typer.Option(
            "--gallery", "-g", help="Label faces the gallery knows instead of clustering."
        ),
    ] = None,
    eps: Annotated[
        float,
        typer.Option(
            help=f"Cosine distance of neighbours ({DEFAULT_EPS:g} = similarity "
            f"{1 - DEFAULT_EPS:g})."
        ),
    ] = DEFAULT_EPS,
    min_faces: Annotated[
        int, typer.Option(help="Faces needed to start a cluster.")
    ] = DEFAULT_MIN_FACES,
    as_json: JsonOption = False,
) -> None:
    """Group the faces of unknown people across photos and videos (stable cluster ids)."""
    from facescope.cluster.discover import discover_people

    with counter("adding") as progress:
        found = discover_people(
            inputs, library=library, gallery=gallery, eps=eps, min_faces=min_faces,
            progress=progress,
        )  # fmt: skip
    for path, reason in found.added.failed.items():
        skipped(f"{path}: {reason}")
    emit(found, as_json=as_json, render=_discovered)


people_app = typer.Typer(
    help="Rename, merge, split and promote face clusters.", no_args_is_help=True
)


#: Face ids `people list` shows per cluster before "…".
LIST_FACE_IDS = 8


def _face_ids(ids: list[int]) -> str:
    shown = " ".join(str(i) for i in ids[:LIST_FACE_IDS])
    return shown + (f" … (+{len(ids) - LIST_FACE_IDS})" if len(ids) > LIST_FACE_IDS else "")


def _people(clusters: list[ClusterInfo]) -> Iterator[RenderableType]:
    table = Table("cluster", "name", "faces", "face ids", "gallery subject")
    for c in clusters:
        table.add_row(
            str(c.id),
            escape(c.name or ""),
            str(c.size),
            _face_ids(c.face_ids),
            escape(c.subject or ""),
        )
    yield table
    if clusters:
        yield (
            "[dim]each face's file and box: facescope people show CLUSTER; "
            "move faces to a new cluster: facescope people split CLUSTER FACE_ID...[/]"
        )


@people_app.command("list")
@friendly
def people_list(
    library: LibraryOption = Path(DEFAULT_LIBRARY), as_json: JsonOption = False
) -> None:
    """Clusters, largest first, with their names and sizes."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        clusters = faces.clusters()
    emit(clusters, as_json=as_json, render=_people)


def _where(face: FaceInfo) -> str:
    """Where in its file a face is: the box in a photo, the track start in a video."""
    if face.box is not None:
        return ",".join(f"{v:.0f}" for v in face.box)
    if face.frame is not None:
        return f"frame {face.frame}" + (f" ({face.time:.2f} s)" if face.time is not None else "")
    return ""


def _face_dict(face: FaceInfo) -> dict[str, Any]:
    return {
        "id": face.id,
        "source": face.source,
        "face_index": face.face_index,
        "box": None if face.box is None else [round(v, 1) for v in face.box],
        "frame": face.frame,
        "time": face.time,
        "quality": round(face.quality, 4),
    }


def _shown(result: dict[str, Any]) -> Iterator[RenderableType]:
    name = escape(repr(result["name"])) if result["name"] else "[dim]unnamed[/]"
    subject = result["subject"]
    yield (
        f"cluster {result['id']}: {name}, {result['size']} face(s)"
        + (f", gallery subject {escape(repr(subject))}" if subject else "")
    )
    table = Table("face")
    table.add_column("file", overflow="fold")  # a path is wrapped, never cut short
    table.add_column("box / frame", no_wrap=True)
    table.add_column("quality")
    for face in result["faces"]:
        table.add_row(
            str(face["id"]), escape(face["source"]), escape(face["where"]), f"{face['quality']:.2f}"
        )
    yield table
    if result["size"] > 1:
        yield (
            f"[dim]move faces to a new cluster: facescope people split {result['id']} FACE_ID...[/]"
        )


@people_app.command("show")
@friendly
def people_show(
    cluster_id: Annotated[int, typer.Argument(help="The cluster (from `people list`).")],
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    as_json: JsonOption = False,
) -> None:
    """One cluster's faces: face id, source file and box (what `people split` takes)."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        info = faces.cluster_info(cluster_id)
        members = faces.faces(cluster_id)
    document = {**info.to_dict(), "faces": [_face_dict(f) for f in members]}
    if as_json:
        emit(document, as_json=True)
        return
    for face, shown in zip(members, document["faces"], strict=True):
        shown["where"] = _where(face)
    emit(document, as_json=False, render=_shown)


@people_app.command("rename")
@friendly
def people_rename(
    cluster_id: int,
    name: str,
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    as_json: JsonOption = False,
) -> None:
    """Name a cluster."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        faces.rename(cluster_id, name)
    emit(
        {"cluster": cluster_id, "name": name},
        as_json=as_json,
        render=lambda r: [f"cluster {cluster_id} is now {escape(repr(name))}"],
    )


@people_app.command("merge")
@friendly
def people_merge(
    keep: int,
    other: int,
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    as_json: JsonOption = False,
) -> None:
    """Merge cluster OTHER into KEEP (KEEP keeps its id)."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        faces.merge(keep, other)
    emit(
        {"cluster": keep, "merged": other},
        as_json=as_json,
        render=lambda r: [f"merged cluster {other} into {keep}"],
    )


@people_app.command("split")
@friendly
def people_split(
    cluster_id: int,
    face_ids: Annotated[list[int], typer.Argument(help="Faces to move to a new cluster.")],
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    as_json: JsonOption = False,
) -> None:
    """Move some faces of a cluster into a new cluster."""
    from facescope.cluster import FaceLibrary

    with FaceLibrary.open(library) as faces:
        new_id = faces.split(cluster_id, face_ids)
    emit(
        {"cluster": cluster_id, "new_cluster": new_id, "face_ids": list(face_ids)},
        as_json=as_json,
        render=lambda r: [f"moved {len(face_ids)} face(s) to new cluster {new_id}"],
    )


def _promoted(result: dict[str, Any]) -> Iterator[RenderableType]:
    yield f"enrolled {result['added']} face(s) as {escape(repr(result['subject']))}"


@people_app.command("promote")
@friendly
def people_promote(
    cluster_id: int,
    name: Annotated[
        str | None, typer.Argument(help="Subject name (default: the cluster's).")
    ] = None,
    library: LibraryOption = Path(DEFAULT_LIBRARY),
    gallery: Annotated[Path, typer.Option("--gallery", "-g", help="Gallery to enrol into.")] = Path(
        DEFAULT_GALLERY
    ),
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Enrol a cluster's faces into the gallery as one subject."""
    from facescope.cluster import FaceLibrary
    from facescope.gallery import Gallery

    with FaceLibrary.open(library) as faces, Gallery.open(gallery) as target:
        result = faces.promote(cluster_id, target, name, allow_similar=force)
    emit(
        {
            "cluster": cluster_id,
            "subject": result.subject,
            "added": result.added,
            "template_ids": list(result.template_ids),
            "gallery": str(gallery),
        },
        as_json=as_json,
        render=_promoted,
    )


def register(app: typer.Typer) -> None:
    """Add ``facescope cluster`` and ``facescope people`` to `app`."""
    app.command()(cluster)
    app.add_typer(people_app, name="people")
