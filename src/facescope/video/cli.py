"""The work behind ``facescope video``: decode, track, identify, annotate, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from facescope.draw import annotate
from facescope.gallery import Gallery
from facescope.video.recognizer import TrackResult, VideoRecognizer
from facescope.video.source import VideoSource
from facescope.video.writer import VideoWriter


def parse_source(text: str) -> str | int:
    """A camera index for all-digit text, else the path or URL as given."""
    return int(text) if text.isdigit() else text


def run_video(
    source: str,
    *,
    gallery: Path | None,
    out: Path | None,
    json_out: Path | None,
    jsonl: bool,
    stride: int,
    fpir: float,
    thumbs: Path | None,
    max_frames: int | None,
    console: Console,
    errors: Console,
    progress: Callable[[], Progress],
) -> list[TrackResult]:
    """Run the video pipeline with the CLI's outputs; return the tracks."""
    opened_gallery = Gallery.open(gallery) if gallery is not None else None
    results: list[TrackResult] = []

    def ended(result: TrackResult) -> None:
        results.append(result)
        if jsonl:
            print(json.dumps(result.to_dict()), flush=True)

    try:
        with VideoSource(parse_source(source), max_frames=max_frames) as video:
            recognizer = VideoRecognizer(opened_gallery, stride=stride, fpir=fpir)
            writer = (
                VideoWriter(out, video.fps or 25.0, video.width, video.height)
                if out is not None
                else None
            )
            total = video.frame_count if not video.live else None
            if max_frames is not None and total is not None:
                total = min(total, max_frames)
            frames_seen = 0
            with progress() as bar:
                task = bar.add_task(f"{escape(video.source_name)}", total=total)
                try:
                    for tracked in recognizer.frames(video, ended):
                        frames_seen += 1
                        if writer is not None:
                            labels = [
                                f"#{track_id} {name or 'unknown'}"
                                for track_id, name in zip(
                                    tracked.track_ids.tolist(), tracked.labels, strict=True
                                )
                            ]
                            known = [name is not None for name in tracked.labels]
                            writer.write(annotate(tracked.rgb, tracked.faces, labels, known=known))
                        bar.advance(task)
                finally:
                    if writer is not None:
                        writer.close()
            ended_early = video.ended_early
            summary = {
                "source": video.source_name,
                "fps": video.fps,
                "frames": frames_seen,
                "stride": stride,
                "model": recognizer.model,
                "ended_early": ended_early,
            }
    finally:
        if opened_gallery is not None:
            opened_gallery.close()
    results.sort(key=lambda r: (r.start, r.track_id))
    if thumbs is not None:
        thumbs.mkdir(parents=True, exist_ok=True)
        for result in results:
            Image.fromarray(result.thumbnail).save(
                thumbs / f"track_{result.track_id}.jpg", quality=92
            )
    if json_out is not None:
        document = {**summary, "tracks": [r.to_dict() for r in results]}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    if ended_early:
        errors.print(f"[yellow]warning:[/] {escape(ended_early)}; kept the frames before it")
    if not jsonl:
        _table(console, results, summary)
    return results


def _table(console: Console, results: list[TrackResult], summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary['frames']} frames, {len(results)} track(s)")
    for column in ("track", "from", "to", "detections", "identity", "score"):
        table.add_column(column)
    for r in results:
        table.add_row(
            str(r.track_id),
            f"{r.start:.2f} s",
            f"{r.end:.2f} s",
            str(r.detections),
            escape(r.identity) if r.identity else "[dim]unknown[/]",
            "" if r.score is None else f"{r.score:.3f}",
        )
    console.print(table)
