"""Draw the weather-degradation example figure (``docs/weather_samples.png``).

Usage: python scripts/figure_weather.py [OUT.png]

One row per kind (:data:`facescope.weather.KINDS`), columns: the clean 112x112
aligned crop of the astronaut's face (``skimage.data.astronaut()``, public domain;
scikit-image is a dev dependency), then :func:`facescope.weather.degrade` at
severities 1, 3 and 5 (seed 0), saved as a 256-colour PNG.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import cv2
import numpy as np

from facescope.weather import KINDS, degrade

SEVERITIES = (1, 3, 5)
ZOOM = 1
GAP = 4


def aligned_astronaut() -> np.ndarray:
    """The astronaut's face, detected and aligned to the 112x112 template."""
    from skimage import data as skdata

    from facescope.align.template import warp_to_template
    from facescope.detect.faces import detect_faces

    rgb = skdata.astronaut()
    return warp_to_template(rgb, detect_faces(rgb).landmarks5[0])


def _label(text: str, w: int, h: int) -> np.ndarray:
    bar = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(bar, text, (4, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def figure(seed: int = 0) -> np.ndarray:
    """Rows: kinds; columns: clean | severity 1 | 3 | 5."""
    crop = aligned_astronaut()
    side = crop.shape[0] * ZOOM
    label_w, header_h = 96, 22
    white = 255

    def big(tile: np.ndarray) -> np.ndarray:
        return cv2.resize(tile, (side, side), interpolation=cv2.INTER_NEAREST)

    header = [_label("", label_w, header_h)]
    for text in ("clean", *(f"severity {s}" for s in SEVERITIES)):
        header += [np.full((header_h, GAP, 3), white, np.uint8), _label(text, side, header_h)]
    rows = [np.hstack(header)]
    for kind in KINDS:
        row = [_label(kind, label_w, side // 2 + 8)]
        row[0] = np.vstack([row[0], np.full((side - row[0].shape[0], label_w, 3), white, np.uint8)])
        for tile in (crop, *(degrade(crop, kind, s, seed=seed) for s in SEVERITIES)):
            row += [np.full((side, GAP, 3), white, np.uint8), big(tile)]
        rows += [np.full((GAP, rows[0].shape[1], 3), white, np.uint8), np.hstack(row)]
    return np.asarray(np.vstack(rows), np.uint8)


def main(argv: Sequence[str]) -> int:
    from PIL import Image  # a scikit-image dependency

    out = argv[0] if argv else "docs/weather_samples.png"
    grid = figure()
    # noise rows barely compress: a 256-colour palette keeps the file small
    palette = Image.fromarray(grid).quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
    try:
        palette.save(out, optimize=True)
    except OSError as exc:
        print(f"could not write {out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
