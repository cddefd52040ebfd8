"""Draw the gesture figure (``docs/haptics_gestures.png``).

Usage: python scripts/figure_haptics.py [OUT.png]

One row per touch gesture at (valence 0.3, arousal 0.2): eight snapshots of the 5x5 motor
grid spread over one beat (row 0, the wrist end, at the top), the same heat map as the
GIF preview that ``facescope haptics render`` writes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PIL import Image, ImageDraw

from facescope.haptics import GESTURES, stimulus
from facescope.haptics.render import _heat

SNAPSHOTS, CELL, LABEL, GAP = 8, 9, 64, 4


def figure() -> Image.Image:
    side = 5 * CELL
    width = LABEL + SNAPSHOTS * (side + GAP)
    canvas = Image.new("RGB", (width, len(GESTURES) * (side + GAP) + GAP), "white")
    draw = ImageDraw.Draw(canvas)
    for row, gesture in enumerate(GESTURES):
        s = stimulus(gesture, valence=0.3, arousal=0.2, duration=6.0)
        beat = s.rate / s.params.tempo_hz
        start = int(beat) if gesture != "hold" else 0  # skip the first beat's ramp
        span = beat if gesture != "hold" else min(len(s.intensities) - 1, beat)
        y = GAP + row * (side + GAP)
        draw.text((4, y + side // 2 - 6), gesture, fill="black")
        for k in range(SNAPSHOTS):
            t = min(len(s.intensities) - 1, int(start + k * span / SNAPSHOTS))
            tile = Image.fromarray(_heat(s.intensities[t], CELL))
            canvas.paste(tile, (LABEL + k * (side + GAP), y))
    return canvas


def main(argv: Sequence[str]) -> int:
    out = argv[0] if argv else "docs/haptics_gestures.png"
    figure().save(out, optimize=True)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
