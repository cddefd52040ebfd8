"""``facescope gallery``: list, show, remove, export and import subjects of the gallery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import GalleryOption, JsonOption, friendly
from facescope.cli.output import emit
from facescope.gallery import DEFAULT_GALLERY, Gallery

gallery_app = typer.Typer(help="Inspect and manage the gallery.", no_args_is_help=True)


def _subject(name: str, templates: int, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "templates": templates, "metadata": metadata}


def _listed(subjects: list[dict[str, Any]], gallery: str) -> Iterator[RenderableType]:
    table = Table(title=f"gallery {escape(gallery)}")
    for column in ("subject", "templates"):
        table.add_column(column)
    for s in subjects:
        table.add_row(escape(s["name"]), str(s["templates"]))
    yield table


@gallery_app.command("list")
@friendly
def gallery_list(gallery: GalleryOption = DEFAULT_GALLERY, as_json: JsonOption = False) -> None:
    """List subjects and their template counts."""
    with Gallery.open(gallery, create=False) as opened:
        subjects = [_subject(s.name, s.n_templates, s.metadata) for s in opened.list()]
    emit(subjects, as_json=as_json, render=lambda found: _listed(found, gallery))


def _shown(subject: dict[str, Any]) -> Iterator[RenderableType]:
    yield f"[bold]{escape(subject['name'])}[/]: {subject['templates']} template(s)"
    for key, value in subject["metadata"].items():
        yield f"  {escape(str(key))}: {escape(json.dumps(value))}"


@gallery_app.command("show")
@friendly
def gallery_show(
    name: str, gallery: GalleryOption = DEFAULT_GALLERY, as_json: JsonOption = False
) -> None:
    """Show one subject: its template count and metadata."""
    with Gallery.open(gallery, create=False) as opened:
        info = opened.show(name)
    emit(_subject(info.name, info.n_templates, info.metadata), as_json=as_json, render=_shown)


@gallery_app.command("remove")
@friendly
def gallery_remove(
    name: str, gallery: GalleryOption = DEFAULT_GALLERY, as_json: JsonOption = False
) -> None:
    """Erase a subject and every template of it."""
    with Gallery.open(gallery, create=False) as opened:
        removed = opened.remove(name)
    emit(
        {"name": name, "removed_templates": removed},
        as_json=as_json,
        render=lambda r: [f"removed {escape(repr(name))} and {removed} template(s)"],
    )


@gallery_app.command("export")
@friendly
def gallery_export(
    out: Path, gallery: GalleryOption = DEFAULT_GALLERY, as_json: JsonOption = False
) -> None:
    """Write all subjects and templates to a facescope-gallery/1 JSON file."""
    with Gallery.open(gallery, create=False) as opened:
        count = opened.export(out)
    emit(
        {"out": str(out), "templates": count},
        as_json=as_json,
        render=lambda r: [f"exported {count} template(s) to {escape(str(out))}"],
    )


@gallery_app.command("import")
@friendly
def gallery_import(
    file: Path,
    gallery: GalleryOption = DEFAULT_GALLERY,
    no_face_check: Annotated[
        bool,
        typer.Option("--no-face-check", help="Import templates even if not made from a face."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add subjects and templates from an export of the same model.

    Templates whose recorded raw norm says they were not made from a face are
    refused (nothing is imported) unless --no-face-check is given.
    """
    from facescope.privacy.ood import import_face_check

    with Gallery.open(gallery) as opened:
        added = opened.import_file(file, face_check=None if no_face_check else import_face_check)
    emit(
        {"file": str(file), "imported": added},
        as_json=as_json,
        render=lambda r: [f"imported {added} template(s) from {escape(str(file))}"],
    )


def register(app: typer.Typer) -> None:
    """Add ``facescope gallery`` to `app`."""
    app.add_typer(gallery_app, name="gallery")
