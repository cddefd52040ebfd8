"""The work behind ``facescope analyze``: images or videos in, tables and pictures out."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from facescope._json import jsonable
from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.result import FrameAnalysis, VideoAnalysis, save_table

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def is_video(source: str) -> bool:
    """Whether `source` is read as a video: a video suffix, a camera index or a stream URL."""
    if source.isdigit() or "://" in source:
        return True
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


def run_analyze(
    source: str,
    *,
    options: AnalyzeOptions,
    as_json: bool,
    as_csv: bool,
    out: Path | None,
    plot: Path | None,
    every: int,
    max_frames: int | None,
    console: Console,
    errors: Console,
    progress: Callable[[], Progress],
) -> FrameAnalysis | VideoAnalysis:
    """Analyse one image or video and write what was asked for."""
    analyzer = Analyzer(options)
    result: FrameAnalysis | VideoAnalysis
    if is_video(source):
        result = _video(source, analyzer, every, max_frames, plot, progress)
        table = result.to_frame()
        if result.ended_early:
            errors.print(f"[yellow]warning:[/] {escape(result.ended_early)}")
    else:
        result = analyzer.analyze(source)
        table = result.to_frame()
        if plot is not None:
            from facescope.analysis.plot import draw_analysis
            from facescope.io.image import load_image

            target = _picture_path(plot, source, "_analysis.jpg")
            Image.fromarray(draw_analysis(load_image(source), result)).save(target, quality=90)
            errors.print(f"wrote {escape(str(target))}")
    if out is not None:
        save_table(table, out)
        errors.print(f"wrote {escape(str(out))}")
    if as_json:
        document: dict[str, Any]
        if isinstance(result, VideoAnalysis):
            document = {
                "source": source,
                "fps": result.fps,
                "frames": [f.to_dict() for f in result.frames],
                "blinks": {str(k): [vars(b) for b in v] for k, v in result.blinks.items()},
            }
        else:
            document = result.to_dict()
        sys.stdout.write(json.dumps(jsonable(document), indent=1) + "\n")
    elif as_csv:
        table.to_csv(sys.stdout, index=False)
    else:
        _summary(console, result)
    return result


def _picture_path(folder: Path, source: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(source).stem or 'camera'}{suffix}"


def _video(
    source: str,
    analyzer: Analyzer,
    every: int,
    max_frames: int | None,
    plot: Path | None,
    progress: Callable[[], Progress],
) -> VideoAnalysis:
    from facescope.video.cli import parse_source
    from facescope.video.source import VideoSource

    with VideoSource(parse_source(source), max_frames=max_frames) as video:
        total = None if video.live else video.frame_count
        if max_frames is not None and total is not None:
            total = min(total, max_frames)
        best: dict[str, Any] = {}
        with progress() as bar:
            task = bar.add_task(escape(video.source_name), total=total)

            def seen(frame: FrameAnalysis) -> None:
                bar.advance(task, every)

            # the picture shows the middle analysed frame (the first one for live sources)
            middle_index = (total // 2) // every * every if total else 0
            frames: Any = _keep_pixels(video, best, middle_index) if plot is not None else video
            result = analyzer.analyze_video(frames, fps=video.fps, every=every, on_frame=seen)
        result = VideoAnalysis(
            result.frames, video.fps, result.blinks, video.source_name, video.ended_early
        )
    if plot is not None:
        from facescope.analysis.plot import draw_analysis, plot_timeseries

        target = plot_timeseries(
            result, _picture_path(plot, source, "_timeseries.png"), title=video.source_name
        )
        middle = next((f for f in result.frames if f.frame == best.get("index")), None)
        if middle is not None and "rgb" in best:
            Image.fromarray(draw_analysis(best["rgb"], middle)).save(
                _picture_path(plot, source, "_frame.jpg"), quality=90
            )
        print(f"wrote {target}", file=sys.stderr)
    return result


def _keep_pixels(frames: Any, best: dict[str, Any], target: int) -> Any:
    """Pass frames through, keeping the pixels of frame `target` (or the last before it)."""
    for frame in frames:
        if frame.index <= target:
            best["index"], best["rgb"] = frame.index, frame.rgb
        yield frame


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _summary(console: Console, result: FrameAnalysis | VideoAnalysis) -> None:
    if isinstance(result, VideoAnalysis):
        table = result.to_frame()
        faces = len(table)
        tracks = table["track"].dropna().nunique() if faces else 0
        console.print(f"{len(result.frames)} frames analysed, {faces} face rows, {tracks} track(s)")
        for track, rate in sorted(result.blink_rate().items()):
            console.print(
                f"track {track}: {len(result.blinks[track])} blinks ({_fmt(rate)} per minute)"
            )
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
    console.print(out)
    for face in result.faces:
        for name, why in face.missing.items():
            console.print(f"[dim]face {face.face}: {name}: {escape(why)}[/]")
