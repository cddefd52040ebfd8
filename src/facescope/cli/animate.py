"""``facescope animate VIDEO_OR_IMAGE [--rig RIG.json] --out DIR``: a face drives a character."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape

from facescope.cli._common import JsonOption, counter, friendly, note
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.animate.performance import AnimationResult


def _rendered(result: AnimationResult) -> Iterator[RenderableType]:
    perf = result.performance
    yield (
        f"{escape(result.source)}: {len(perf.frames)} frame(s) with a face of {perf.frames_read}, "
        f"rig {escape(perf.rig.name)} ({len(perf.rig.controls)} controls), "
        f"neutral: {perf.neutral.source}"
    )
    if perf.expression:
        yield (
            f"expression: {perf.expression['label']} (intensity {perf.expression['intensity']:.2f})"
        )
    mean = perf.weights.mean(0)
    from facescope.animate.shapes import SHAPES

    top = sorted(zip(SHAPES, mean, strict=True), key=lambda item: -item[1])[:5]
    yield "most active: " + ", ".join(f"{name} {value:.2f}" for name, value in top)


def animate_command(
    source: Annotated[Path, typer.Argument(help="A video, or one photo (emotion transfer).")],
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for blendshapes.csv, livelink.csv, frames.json, performance.glb "
            "and preview.gif."
        ),
    ],
    rig: Annotated[
        str | None,
        typer.Option(
            help="Rig JSON file, or a built-in rig: toon, mascot (default: the built-in head)."
        ),
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    preview: Annotated[
        bool, typer.Option("--preview/--no-preview", help="Write preview.gif.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Drive a stylized character from a face: 52 ARKit blendshapes, retargeted, exported."""
    from facescope.animate.performance import animate
    from facescope.animate.rig import Rig

    chosen = Rig.load(rig)
    with counter("animating") as progress:
        result = animate(
            source, rig=chosen, out=out, max_frames=max_frames, preview=preview, progress=progress
        )
    for path in result.files:
        note(f"wrote {path}")
    emit(result, as_json=as_json, render=_rendered)


def register(app: typer.Typer) -> None:
    """Add ``facescope animate``."""
    app.command("animate")(friendly(animate_command))
