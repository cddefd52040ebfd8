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
