"""Make docs/animate_transfer.png: emotion transfer from a public-domain photo to the head.

Inputs are public domain only: ``skimage.data.astronaut()`` (NASA) and the bundled
``tests/data`` portraits. Run: ``.venv/bin/python scripts/figure_animate.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from facescope.animate import Rig, render_head, transfer_emotion

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "animate_transfer.png"
SIDE = 160


def _row(rgb: np.ndarray, rig: Rig) -> np.ndarray:
    perf, photo = transfer_emotion(rgb, rig)
    from facescope.pipeline import find_faces

    x1, y1, x2, y2 = find_faces(photo, max_faces=1).boxes[0]
    half = 0.9 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    top, left = int(max(cy - half, 0)), int(max(cx - half, 0))
    crop = photo[top : int(cy + half), left : int(cx + half)]
    source = cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    head = perf.head[0]
    character = render_head(perf.head_weights[0], (head[0], head[1], head[2]), size=SIDE)
    row = np.hstack([source, character])
    label = (
        f"{perf.expression['label']} {perf.expression['intensity']:.2f}" if perf.expression else ""
    )
    cv2.putText(row, label, (6, SIDE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)  # fmt: skip
    return row


def main() -> None:
    from facescope.io.image import load_image

    rig = Rig.load("toon")
    photos = [data.astronaut(), load_image(ROOT / "tests" / "data" / "obama_2.jpg")]
    rows = [_row(p, rig) for p in photos]
    from PIL import Image

    OUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.hstack(rows)).quantize(96).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
