"""Synthetic video scenes for the tests: bundled portraits walking across a canvas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

import facescope as fs


def walk(photo: np.ndarray, frames: int, step: int = 4) -> Iterator[np.ndarray]:
    """`photo` sliding right across a 640x360 grey canvas."""
    height, width = photo.shape[:2]
    for index in range(frames):
        canvas = np.full((360, 640, 3), 90, np.uint8)
        x = min(index * step, 640 - width)
        canvas[40 : 40 + height, x : x + width] = photo
        yield canvas


def _fit(photo: np.ndarray, height: int = 300) -> np.ndarray:
    from PIL import Image

    width = round(photo.shape[1] * height / photo.shape[0])
    return np.asarray(Image.fromarray(photo).resize((width, height)))


def scene(data: Path) -> list[np.ndarray]:
    """Obama walks through for 40 frames, nobody for 15, then Biden for 40."""
    obama, biden = (_fit(fs.load_image(data / name)) for name in ("obama_1.jpg", "biden_1.jpg"))
    empty = [np.full((360, 640, 3), 90, np.uint8)] * 15
    return [*walk(obama, 40), *empty, *walk(biden, 40)]


def clip(photo: Path, target: Path, *, seconds: float = 2.0, fps: int = 10) -> Path:
    """A short MJPG .avi of `photo`, moving a little (so that it is not one still)."""
    import cv2

    bgr = cv2.imread(str(photo))
    height, width = bgr.shape[:2]
    width, height = width - width % 2, height - height % 2
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for index in range(round(seconds * fps)):
        shift = np.float32([[1, 0, (index % 5) - 2], [0, 1, 0]])
        writer.write(cv2.warpAffine(bgr[:height, :width], shift, (width, height)))
    writer.release()
    return target
