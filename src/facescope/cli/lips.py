"""``facescope lips VIDEO``: mouth crops, lip landmarks and who speaks when, per tracked face.

``lips`` is a group whose default command is ``extract``, so ``facescope lips
VIDEO`` runs ``lips extract VIDEO``; the lip-reading commands (``lips train``,
``lips predict``) are added to :data:`lips_app` by their own module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape

from facescope.cli._common import DefaultCommandGroup, JsonOption, counter, friendly, note, warn
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.lips.extract import LipsResult


class _ExtractByDefault(DefaultCommandGroup):
    """`facescope lips VIDEO` runs `lips extract VIDEO`; other sub-commands stay commands."""

    default_command = "extract"


lips_app = typer.Typer(
    cls=_ExtractByDefault,
    help="Visual speech: `facescope lips VIDEO [--out DIR]` writes mouth crops and lip "
    "landmarks per face and says who speaks when.",
    no_args_is_help=True,
)


def _rendered(result: LipsResult) -> Iterator[RenderableType]:
    yield f"{escape(result.source)}: {result.frames} frames, {len(result.tracks)} face track(s)"
    for track in result.tracks:
        spans = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in track.segments()) or "none"
        yield (
            f"track {track.track}: {len(track.time)} frames, speaking "
            f"{100 * track.speaking_fraction:.0f}% (speech: {spans})"
        )


@lips_app.command("extract")
@friendly
def lips_extract(
    video: Annotated[str, typer.Argument(help="Video file (or stream URL, camera index).")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for track_<id>.npz: crops, time, lips, speaking per face."),
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    max_faces: Annotated[
        int | None, typer.Option(help="Follow at most N faces per frame (the largest).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Mouth activity (mm/s) at which a frame counts as speaking."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Mouth crops (88x88 grey), pose-normalised lip/jaw points and voice activity per face."""
    from facescope.lips.extract import extract_lips
    from facescope.lips.vad import VadOptions

    vad = VadOptions() if threshold is None else VadOptions(threshold=threshold)
    with counter("reading lips") as progress:
        result = extract_lips(
            video, out=out, max_frames=max_frames, max_faces=max_faces, vad=vad,
            progress=progress,
        )  # fmt: skip
    if result.ended_early:
        warn(result.ended_early)
    for path in result.files:
        note(f"wrote {path}")
    emit(result, as_json=as_json, render=_rendered)


def register(app: typer.Typer) -> None:
    """Add ``facescope lips`` (extract by default; the lip reader's train and predict)."""
    from facescope.cli import lips_read

    lips_read.register(lips_app)
    app.add_typer(lips_app, name="lips")
