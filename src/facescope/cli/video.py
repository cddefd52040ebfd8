"""``facescope video``: track faces through a video, one identity per track."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, RestoreOption, counter, friendly, note, warn
from facescope.cli.output import emit, print_json_line, write_document
from facescope.gallery.gallery import DEFAULT_FPIR
from facescope.video.pipeline import DEFAULT_STRIDE, VideoRun


def _tracks(run: VideoRun) -> Iterator[RenderableType]:
    table = Table(title=f"{run.frames} frames, {len(run.tracks)} track(s)")
    for column in ("track", "from", "to", "detections", "identity", "score"):
        table.add_column(column)
    for r in run.tracks:
        table.add_row(
            str(r.track_id),
            f"{r.start:.2f} s",
            f"{r.end:.2f} s",
            str(r.detections),
            escape(r.identity) if r.identity else "[dim]unknown[/]",
            "" if r.score is None else f"{r.score:.3f}",
        )
    yield table


def _outputs(out: list[Path]) -> tuple[Path | None, Path | None]:
    """The annotated video and the tracks file among the ``--out`` paths."""
    documents = [p for p in out if p.suffix.lower() == ".json"]
    videos = [p for p in out if p.suffix.lower() != ".json"]
    if len(documents) > 1 or len(videos) > 1:
        raise ValueError("--out takes at most one video file and one .json file")
    return (videos[0] if videos else None), (documents[0] if documents else None)


@friendly
def video(
    source: Annotated[
        str, typer.Argument(help="Video file, rtsp:// or http(s):// URL, or camera index.")
    ],
    gallery: Annotated[
        Path | None, typer.Option("--gallery", "-g", help="Gallery to identify tracks against.")
    ] = None,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            help="Write the annotated video (.mp4, .webm, .avi) or the tracks (.json); "
            "repeat for both."
        ),
    ] = None,
    as_json: JsonOption = False,
    restore: RestoreOption = "none",
    jsonl: Annotated[
        bool, typer.Option(help="Print each track as a JSON line when it ends.")
    ] = False,
    stride: Annotated[
        int, typer.Option(help="Detect every N-th frame (others are tracked).")
    ] = DEFAULT_STRIDE,
    fpir: Annotated[float, typer.Option(help="False-positive identification rate.")] = DEFAULT_FPIR,
    thumbs: Annotated[
        Path | None, typer.Option(help="Folder for each track's best thumbnail.")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many frames.")] = None,
) -> None:
    """Track faces through a video; one identity per person (track), not per frame."""
    from facescope.video.pipeline import process_video

    if as_json and jsonl:
        raise ValueError(
            "--json prints one document at the end, --jsonl a line per track: pick one"
        )
    annotated, document = _outputs(out or [])
    with counter("tracking frames") as progress:
        run = process_video(
            source,
            gallery=gallery,
            annotated=annotated,
            stride=stride,
            fpir=fpir,
            thumbs=thumbs,
            max_frames=max_frames,
            on_track=print_json_line if jsonl else None,
            progress=progress,
            restore=restore,
        )
    if document is not None:
        write_document(document, run)
        note(f"wrote {document}")
    if run.ended_early:
        warn(f"{run.ended_early}; kept the frames before it")
    if not jsonl:
        emit(run, as_json=as_json, render=_tracks)


def register(app: typer.Typer) -> None:
    """Add ``facescope video`` to `app`."""
    app.command()(video)
