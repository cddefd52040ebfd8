"""``facescope analyze``: images or videos in; JSON, CSV, tables and pictures out."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.analysis.media import DEFAULT_EVERY, MediaAnalysis
from facescope.analysis.result import VideoAnalysis
from facescope.cli._common import (
    EXIT_BAD_INPUT,
    JsonOption,
    counter,
    fail,
    friendly,
    note,
    photo_inputs,
    warn,
)
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.analysis.analyzer import AnalyzeOptions


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _summary(analysed: MediaAnalysis) -> Iterator[RenderableType]:
    result = analysed.result
    if isinstance(result, VideoAnalysis):
        table = result.to_frame()
        faces = len(table)
        tracks = table["track"].dropna().nunique() if faces else 0
        yield f"{len(result.frames)} frames analysed, {faces} face rows, {tracks} track(s)"
        for track, rate in sorted(result.blink_rate().items()):
            yield f"track {track}: {len(result.blinks[track])} blinks ({_fmt(rate)} per minute)"
        return
    out = Table(title=f"{len(result.faces)} face(s)")
    for column in ("face", "yaw/pitch/roll", "gaze", "eyes", "mouth", "expression", "quality"):
        out.add_column(column)
    for face in result.faces:
        pose = face.pose
        top = face.expression
        out.add_row(
            str(face.face),
            f"{_fmt(pose.yaw)} / {_fmt(pose.pitch)} / {_fmt(pose.roll)}" if pose else "-",
            f"{_fmt(face.gaze.yaw)} / {_fmt(face.gaze.pitch)}" if face.gaze else "-",
            " ".join(_fmt(v, 2) for v in face.eye_openness) if face.eye_openness else "-",
            _fmt(face.mouth_openness, 2),
            f"{top} {face.expressions[top]:.2f}" if top and face.expressions else "-",
            _fmt(face.quality.score, 2) if face.quality else "-",
        )
    yield out
    for face in result.faces:
        for name, why in face.missing.items():
            yield f"[dim]face {face.face}: {escape(name)}: {escape(why)}[/]"


@friendly
def analyze(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="An image, video file, stream URL or camera index; or several photos and "
            "folders of photos (one table for all of them).",
            metavar="SOURCE...",
        ),
    ],
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per face (per frame).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write the table to .csv, .parquet or .json.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Folder for pictures: the annotated image, or a video's time series."),
    ] = None,
    expressions: Annotated[
        bool, typer.Option(help="Run the expression models (the slowest stage).")
    ] = True,
    landmarks68: Annotated[
        bool,
        typer.Option(help="Also dlib's 68 points (table columns x_0..x_67, y_0..y_67)."),
    ] = False,
    mesh_columns: Annotated[
        bool,
        typer.Option(
            "--mesh-columns",
            help="Add the 478 mesh points to the table (mesh_x_0..mesh_z_477, pixels).",
        ),
    ] = False,
    every: Annotated[int, typer.Option(help="Video: analyse every N-th frame.")] = DEFAULT_EVERY,
    max_frames: Annotated[int | None, typer.Option(help="Video: stop after N frames.")] = None,
    max_faces: Annotated[int | None, typer.Option(help="Analyse at most N faces.")] = None,
) -> None:
    """Mesh, head pose, gaze, eyes, mouth, expressions, action units and quality per face.

    The --csv / --out table has one row per face (per frame), in py-feat's Fex column
    names (input, frame, FaceRectX..., Pitch, Roll, Yaw, AU01..., anger...) plus
    facescope's own measures; see docs/analysis-table.md.
    """
    from facescope.analysis.analyzer import AnalyzeOptions
    from facescope.analysis.media import analyze_media, is_video
    from facescope.analysis.result import save_table

    options = AnalyzeOptions(expressions=expressions, landmarks68=landmarks68, max_faces=max_faces)
    if len(sources) > 1 or Path(sources[0]).is_dir():
        _analyze_photos(sources, options, as_json, as_csv, out, plot, mesh_columns)
        return
    source = sources[0]
    with counter("analysing frames") if is_video(source) else nullcontext() as progress:
        analysed = analyze_media(
            source, options, every=every, max_frames=max_frames, plot=plot, progress=progress
        )
    if isinstance(analysed.result, VideoAnalysis) and analysed.result.ended_early:
        warn(analysed.result.ended_early)
    for picture in analysed.pictures:
        note(f"wrote {picture}")
    table = analysed.result.to_frame(mesh_columns=mesh_columns)
    if out is not None:
        save_table(table, out)
        note(f"wrote {out}")
    if as_csv and not as_json:
        table.to_csv(sys.stdout, index=False)
        return
    emit(analysed, as_json=as_json, render=_summary)


def _analyze_photos(
    sources: list[str],
    options: AnalyzeOptions,
    as_json: bool,
    as_csv: bool,
    out: Path | None,
    plot: Path | None,
    mesh_columns: bool,
) -> None:
    """Several photos (folders searched deeply): every one analysed, each failure named on
    its own line, one table for all, exit status 2 at the end if any failed."""
    import pandas as pd

    from facescope.analysis.media import analyze_media
    from facescope.analysis.result import save_table
    from facescope.errors import FacescopeError
    from facescope.io.files import distinct_stems

    files, failed = photo_inputs(Path(s) for s in sources)
    done: list[MediaAnalysis] = []
    with counter("analysing photos") as progress:
        for index, (path, name) in enumerate(zip(files, distinct_stems(files), strict=True)):
            progress(index, len(files), str(path))
            try:
                done.append(analyze_media(str(path), options, plot=plot, name=name))
            except (FacescopeError, OSError) as exc:
                fail(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                failed += 1
    for analysed in done:
        for picture in analysed.pictures:
            note(f"wrote {picture}")
    tables = [a.result.to_frame(mesh_columns=mesh_columns) for a in done]
    table = (
        pd.concat([t for t in tables if len(t)], ignore_index=True)
        if any(len(t) for t in tables)
        else (tables[0] if tables else pd.DataFrame())
    )
    if out is not None:
        save_table(table, out)
        note(f"wrote {out}")
    if as_csv and not as_json:
        table.to_csv(sys.stdout, index=False)
    else:
        emit(done, as_json=as_json, render=_summaries)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _summaries(analysed: list[MediaAnalysis]) -> Iterator[RenderableType]:
    for one in analysed:
        yield f"[bold]{escape(one.source)}[/]"
        yield from _summary(one)


def register(app: typer.Typer) -> None:
    """Add ``facescope analyze`` to `app`."""
    app.command()(analyze)
