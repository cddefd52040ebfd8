"""Analyse one image or one video (file, stream URL, camera) and draw its pictures.

The work behind ``facescope analyze``: :func:`analyze_media` picks image or video
from the source, runs the :class:`~facescope.analysis.analyzer.Analyzer`, and with
`plot` writes the annotated image, or a video's time series and middle frame. It
returns the result and the pictures written; it prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from facescope.analysis.result import FrameAnalysis, VideoAnalysis

if TYPE_CHECKING:
    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
#: Analyse every frame of a video unless told otherwise (``--every``).
DEFAULT_EVERY = 1


def is_video(source: str) -> bool:
    """Whether `source` is read as a video: a video suffix, a camera index or a stream URL."""
    if source.isdigit() or "://" in source:
        return True
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class MediaAnalysis:
    """The analysis of one source and the pictures drawn of it."""

    source: str
    result: FrameAnalysis | VideoAnalysis
    pictures: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope analyze --json`` document (a video's: fps, frames, blinks)."""
        if isinstance(self.result, VideoAnalysis):
            return {
                "source": self.source,
                "fps": self.result.fps,
                "frames": [f.to_dict() for f in self.result.frames],
                "blinks": {str(k): [vars(b) for b in v] for k, v in self.result.blinks.items()},
            }
        return self.result.to_dict()


def analyze_media(
    source: str,
    options: AnalyzeOptions | None = None,
    *,
    every: int = DEFAULT_EVERY,
    max_frames: int | None = None,
    plot: Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    name: str | None = None,
) -> MediaAnalysis:
    """Analyse an image or a video; with `plot`, draw pictures into that folder.

    `progress` is called as ``progress(frames_done, total_frames_or_None)`` for videos.
    `name` is the pictures' file-name stem (default: the source's), so that sources
    sharing a file name do not overwrite each other's pictures.
    """
    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer

    analyzer = Analyzer(options or AnalyzeOptions())
    if is_video(source):
        return _video(source, analyzer, every, max_frames, plot, progress)
    result = analyzer.analyze(source)
    pictures: list[Path] = []
    if plot is not None:
        from facescope.analysis.plot import draw_analysis
        from facescope.io.image import load_image

        target = _picture_path(plot, name or source, "_analysis.jpg")
        Image.fromarray(draw_analysis(load_image(source), result)).save(target, quality=90)
        pictures.append(target)
    return MediaAnalysis(source, result, pictures)


def _picture_path(folder: Path, source: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(source).stem or 'camera'}{suffix}"


def _video(
    source: str,
    analyzer: Analyzer,
    every: int,
    max_frames: int | None,
    plot: Path | None,
    progress: Callable[[int, int | None], None] | None,
) -> MediaAnalysis:
    from facescope.io.video import VideoSource, parse_source

    with VideoSource(parse_source(source), max_frames=max_frames) as video:
        total = None if video.live else video.frame_count
        if max_frames is not None and total is not None:
            total = min(total, max_frames)
        best: dict[str, Any] = {}
        done = 0

        def seen(frame: FrameAnalysis) -> None:
            nonlocal done
            done += every
            if progress is not None:
                progress(done, total)

        # the picture shows the middle analysed frame (the first one for live sources)
        middle_index = (total // 2) // every * every if total else 0
        frames: Any = _keep_pixels(video, best, middle_index) if plot is not None else video
        result = analyzer.analyze_video(frames, fps=video.fps, every=every, on_frame=seen)
        result = replace(result, source=video.source_name, ended_early=video.ended_early)
    pictures: list[Path] = []
    if plot is not None:
        from facescope.analysis.plot import draw_analysis, plot_timeseries

        pictures.append(
            plot_timeseries(
                result, _picture_path(plot, source, "_timeseries.png"), title=video.source_name
            )
        )
        middle = next((f for f in result.frames if f.frame == best.get("index")), None)
        if middle is not None and "rgb" in best:
            target = _picture_path(plot, source, "_frame.jpg")
            Image.fromarray(draw_analysis(best["rgb"], middle)).save(target, quality=90)
            pictures.append(target)
    return MediaAnalysis(source, result, pictures)


def _keep_pixels(frames: Iterable[Any], best: dict[str, Any], target: int) -> Iterator[Any]:
    """Pass frames through, keeping the pixels of frame `target` (or the last before it)."""
    for frame in frames:
        if frame.index <= target:
            best["index"], best["rgb"] = frame.index, frame.rgb
        yield frame
