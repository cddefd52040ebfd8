"""The whole video pipeline behind ``facescope video``: decode, track, identify, annotate.

:func:`process_video` runs a source through a :class:`VideoRecognizer`, optionally
writing the annotated video and each track's best thumbnail, and returns a
:class:`VideoRun` (the summary and the tracks); it prints nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facescope.gallery.gallery import DEFAULT_FPIR

if TYPE_CHECKING:
    from facescope.video.recognizer import TrackResult

#: Detect in every frame unless told otherwise (``--stride``).
DEFAULT_STRIDE = 1


@dataclass(frozen=True)
class VideoRun:
    """What one pass over a video found: its summary and its confirmed tracks by start."""

    source: str
    fps: float | None
    frames: int
    stride: int
    model: str
    ended_early: str | None
    tracks: list[TrackResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope video --json`` document."""
        return {
            "source": self.source,
            "fps": self.fps,
            "frames": self.frames,
            "stride": self.stride,
            "model": self.model,
            "ended_early": self.ended_early,
            "tracks": [t.to_dict() for t in self.tracks],
        }


def frame_labels(track_ids: list[int], names: list[str | None]) -> list[str]:
    """``#id name`` per face of the annotated video; a face on no track (-1) gets no ``#id``."""
    return [
        f"#{track_id} {name or 'unknown'}" if track_id >= 0 else name or "unknown"
        for track_id, name in zip(track_ids, names, strict=True)
    ]


def process_video(
    source: str,
    *,
    gallery: str | os.PathLike[str] | None = None,
    annotated: Path | None = None,
    stride: int = DEFAULT_STRIDE,
    fpir: float = DEFAULT_FPIR,
    thumbs: Path | None = None,
    max_frames: int | None = None,
    on_track: Callable[[TrackResult], None] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    restore: str = "none",
) -> VideoRun:
    """Track and identify the faces of `source` (file, URL or camera index).

    Args:
        gallery: identify tracks against it (None: tracks stay unnamed).
        annotated: write the frames with boxes and names to this video file.
        thumbs: folder for each track's best thumbnail (``track_<id>.jpg``).
        on_track: called with each track as it ends (for streaming output).
        progress: called as ``progress(frames_done, total_frames_or_None)``.
        restore: restore each face before embedding ("auto": only what the weather
            detectors find; see :func:`facescope.restore`).
    """
    from PIL import Image

    from facescope.draw import annotate
    from facescope.gallery import Gallery
    from facescope.io.video import VideoSource, parse_source
    from facescope.video.recognizer import VideoRecognizer
    from facescope.video.writer import VideoWriter

    opened_gallery = Gallery.open(gallery, create=False) if gallery is not None else None
    results: list[TrackResult] = []

    def ended(result: TrackResult) -> None:
        results.append(result)
        if on_track is not None:
            on_track(result)

    try:
        with VideoSource(parse_source(source), max_frames=max_frames) as video:
            recognizer = VideoRecognizer(opened_gallery, stride=stride, fpir=fpir, restore=restore)
            writer = (
                VideoWriter(annotated, video.fps or 25.0, video.width, video.height)
                if annotated is not None
                else None
            )
            total = video.frame_count if not video.live else None
            if max_frames is not None and total is not None:
                total = min(total, max_frames)
            frames_seen = 0
            try:
                for tracked in recognizer.frames(video, ended):
                    frames_seen += 1
                    if writer is not None:
                        labels = frame_labels(tracked.track_ids.tolist(), tracked.labels)
                        known = [name is not None for name in tracked.labels]
                        writer.write(annotate(tracked.rgb, tracked.faces, labels, known=known))
                    if progress is not None:
                        progress(frames_seen, total)
            finally:
                if writer is not None:
                    writer.close()
            run = VideoRun(
                source=video.source_name,
                fps=video.fps,
                frames=frames_seen,
                stride=stride,
                model=recognizer.model,
                ended_early=video.ended_early,
            )
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
    return replace(run, tracks=results)
