"""Draw the synthetic-attack example figure (``docs/pad/synthetic_attacks.png``).

Usage: python scripts/figure_pad_synth.py [OUT.png]

Source | bona fide x2 | print x2 | replay x2 (:func:`facescope.pad.synth.synthesize`,
seed 0) of the astronaut's face (``skimage.data.astronaut()``, public domain;
scikit-image is a dev dependency), each with a x3 close-up of the eyes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import cv2
import numpy as np

from facescope.pad.synth import BONA_FIDE, synthesize


def figure(seed: int = 0) -> np.ndarray:
    """Source | bona fide x2 | print x2 | replay x2 of the astronaut's face, plus close-ups."""
    from skimage import data as skdata

    face = np.ascontiguousarray(skdata.astronaut()[0:220, 140:330])
    rng = np.random.default_rng(seed)
    tiles = [("source", face)]
    for species, name in ((BONA_FIDE, "bona fide"), ("print", "print"), ("replay", "replay")):
        for k in range(2):
            tiles.append((f"{name} {k + 1}", synthesize(face, species, rng)))
    w = face.shape[1]
    zy, zx, zs = 70, 40, 64  # close-up of the eyes, x3
    label_h = 28
    columns = []
    for label, tile in tiles:
        zoom = cv2.resize(tile[zy : zy + zs, zx : zx + zs], (w, w), interpolation=cv2.INTER_NEAREST)
        bar = np.full((label_h, w, 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        gap = np.full((4, w, 3), 255, np.uint8)
        columns.append(np.vstack([bar, tile, gap, zoom]))
        columns.append(np.full((columns[-1].shape[0], 4, 3), 255, np.uint8))
    grid = np.hstack(columns[:-1])
    return np.asarray(grid, np.uint8)


def main(argv: Sequence[str]) -> int:
    out = argv[0] if argv else "docs/pad/synthetic_attacks.png"
    grid = figure()
    if not cv2.imwrite(
        out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
