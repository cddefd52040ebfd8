"""Which files are photos or videos, and the media files inside folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg"})


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether the file name says video."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def media_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given as they are, plus the photos and videos inside folders given (sorted)."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
                )
            )
        else:
            files.append(path)
    return files


def image_inputs(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Photos to process from files and folders as a user gives them on a command line.

    Files are kept as given, in order (a missing or bad one is the caller's to report when
    it reads it), folders are searched deeply for photos (sorted). Returns ``(files,
    problems)``: a problem is a folder without any photo, with the reason.
    """
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if found:
                files.extend(found)
            else:
                kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
                problems.append((path, f"no photos in this folder (looked for {kinds})"))
        else:
            files.append(path)
    return files, problems


def distinct_stems(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """A file-name stem per path, distinct from each other, so that outputs written per
    input never overwrite each other. A stem shared by several inputs is prefixed with its
    folder's name (``a/x.jpg``, ``b/x.jpg`` -> ``a_x``, ``b_x``), then numbered if needed."""
    items = [Path(p) for p in paths]
    stems = [p.stem for p in items]
    clashing = {s for s in stems if stems.count(s) > 1}
    used: set[str] = set()
    out: list[str] = []
    for item in items:
        name = item.stem
        if name in clashing and item.parent.name not in ("", ".", ".."):
            name = f"{item.parent.name}_{name}"
        candidate, number = name, 2
        while candidate in used:
            candidate, number = f"{name}-{number}", number + 1
        used.add(candidate)
        out.append(candidate)
    return out
