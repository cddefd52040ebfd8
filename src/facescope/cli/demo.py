"""``facescope demo``: enrol known people and identify the faces in a group photo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, friendly
from facescope.cli.output import emit
from facescope.demo import DEFAULT_OUT, DemoResult


def _demo(result: DemoResult) -> Iterator[RenderableType]:
    yield f"enrolled {len(result.enrolled)} people from {escape(result.source)}"
    table = Table(title=f"Who is in the photo (model: {result.model})")
    for column in ("face", "box", "identity", "score", "threshold"):
        table.add_column(column)
    for index, face in enumerate(result.faces):
        table.add_row(
            str(index),
            str([round(v) for v in face.box]),
            escape(face.identity or "unknown"),
            f"{face.score:.3f}",
            f"{face.threshold:.3f}",
        )
    yield table
    rules = {f.decision_rule.describe() for f in result.faces if f.decision_rule is not None}
    for rule in sorted(rules):
        yield f"rule: {escape(rule)}"
    yield f"annotated image: {escape(str(result.annotated))}"


@friendly
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the annotated result.")] = DEFAULT_OUT,
    as_json: JsonOption = False,
) -> None:
    """Enrol known people and identify the faces in a photo (the `make demo` job)."""
    from facescope.demo import run_demo

    emit(run_demo(out), as_json=as_json, render=_demo)


def register(app: typer.Typer) -> None:
    """Add ``facescope demo`` to `app`."""
    app.command()(demo)
