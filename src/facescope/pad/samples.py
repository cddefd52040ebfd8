"""Collect aligned face crops from a deployment's own photos and videos.

``facescope pad calibrate`` and ``facescope pad train`` take files or folders
of captures; each image gives one crop (its largest face), each video up to
`frames_per_video` crops spread over it. Files without a face, or that do not
decode, are skipped and reported, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError
from facescope.io.files import is_video_path, media_files
from facescope.pad.cues import PADError
from facescope.pad.face import face_crop
from facescope.pad.presentation import video_crops


@dataclass
class Samples:
    """Crops, the file each came from, and the files skipped with the reason."""

    crops: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.crops)


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given, plus the images and videos inside folders given; missing paths refused."""
    for item in paths if not isinstance(paths, str | os.PathLike) else [paths]:
        if not Path(item).exists():
            raise PADError(f"{item}: no such file or folder")
    return media_files(paths)


def collect(
    paths: Iterable[str | os.PathLike[str]],
    *,
    frames_per_video: int = 24,
    progress: Callable[[int, int], None] | None = None,
) -> Samples:
    """Aligned crops of the largest face in every image and in frames of every video."""
    files = expand(paths)
    out = Samples()
    for k, path in enumerate(files):
        try:
            if is_video_path(path):
                crops, _ = video_crops(path, frames=frames_per_video)
            else:
                crops = [face_crop(path)[0]]
        except (FacescopeError, OSError) as exc:
            out.skipped.append((str(path), str(exc)))
        else:
            out.crops.extend(crops)
            out.sources.extend([str(path)] * len(crops))
        if progress is not None:
            progress(k + 1, len(files))
    return out


__all__ = ["Samples", "collect", "expand"]
