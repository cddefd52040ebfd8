"""``facescope micro spot VIDEO``: short, subtle facial movements (micro-expressions) per face."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, counter, friendly, note, warn
from facescope.cli.output import emit
from facescope.micro.result import SpotResult

micro_app = typer.Typer(
    help="Micro-expressions: `facescope micro spot VIDEO [--json|--csv] [--plot DIR]` finds "
    "short (1/25-1/2 s), subtle facial movements per tracked face; `micro train` / "
    "`micro predict` train and run a recogniser on your own dataset (torch extra).",
    no_args_is_help=True,
)

#: Columns of ``--csv``, one row per interval.
CSV_COLUMNS = ("track", "onset", "apex", "offset", "start", "end", "regions", "intensity", "score")


def _rendered(result: SpotResult) -> Iterator[RenderableType]:
    name = escape(result.source or "frames")
    yield (
        f"{name}: {result.frames} frames, {len(result.tracks)} track(s), "
        f"{len(result.intervals)} micro-movement(s) spotted "
        f"({result.macro} macro movement(s) left out)"
    )
    if not result.intervals:
        return
    table = Table("track", "frames (onset/apex/offset)", "seconds", "regions", "intensity px",
                  "score")  # fmt: skip
    for i in result.intervals:
        table.add_row(
            str(i.track),
            f"{i.onset} / {i.apex} / {i.offset}",
            f"{i.start:.2f}-{i.end:.2f}",
            escape(", ".join(i.regions)),
            f"{i.intensity:.2f}",
            f"{i.score:.1f}",
        )
    yield table


@micro_app.command("spot")
@friendly
def spot(
    video: Annotated[str, typer.Argument(help="Video file, stream URL or camera index.")],
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per spotted interval.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="Folder for a picture of each region's score over time per track."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Robust z-score a movement needs (default: the tuned one)."),
    ] = None,
    max_duration: Annotated[
        float, typer.Option(help="Longer movements (seconds) are macro, not micro.")
    ] = 0.5,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Spot on at most N faces.")] = None,
) -> None:
    """Spot micro-movements: onset, apex, offset, regions and intensity per tracked face.

    --json: {"intervals": [{"track", "onset", "apex", "offset", "start",
    "end", "regions", "intensity", "score"}], ...}; onset, apex, offset
    are frame indices, start and end seconds, intensity pixels.

    Exit 2 on a bad video or option, 3 when no frame has a face.
    """
    from facescope.analysis.media import is_video
    from facescope.micro.spot import SpotOptions, spot_video

    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv: pick one")
    if not is_video(video) and not Path(video).exists():
        raise FileNotFoundError(f"{video}: no such file")
    options = SpotOptions(max_duration_s=max_duration, max_faces=max_faces)
    if threshold is not None:
        options = options.with_(threshold=threshold)
    source: str | int = int(video) if video.isdigit() else video
    with counter("spotting: frames") as progress:
        result = spot_video(source, options, max_frames=max_frames, progress=progress)
    if result.ended_early:
        warn(result.ended_early)
    if plot is not None:
        from facescope.micro.plot import plot_spotting

        stem = Path(str(video)).stem or "camera"
        picture = plot_spotting(result, plot / f"{stem}_micro.png", options)
        note(f"wrote {picture}")
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_COLUMNS)
        for i in result.intervals:
            row = i.to_dict()
            row["regions"] = ";".join(i.regions)
            writer.writerow([row[c] for c in CSV_COLUMNS])
        return
    emit(result, as_json=as_json, render=_rendered)


def register(app: typer.Typer) -> None:
    """Add ``facescope micro`` (spot, and the recogniser's train and predict) to `app`."""
    from facescope.cli import micro_recognize

    micro_recognize.register(micro_app)
    app.add_typer(micro_app, name="micro")
