"""``facescope analyze``: images or videos in; JSON, CSV, tables and pictures out."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.analysis.media import DEFAULT_EVERY, MediaAnalysis
from facescope.analysis.result import VideoAnalysis
from facescope.cli._common import JsonOption, counter, friendly, note, warn
from facescope.cli.output import emit


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
    source: Annotated[str, typer.Argument(help="Image, video file, stream URL or camera index.")],
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


def register(app: typer.Typer) -> None:
    """Add ``facescope analyze`` to `app`."""
    app.command()(analyze)
