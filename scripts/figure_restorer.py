"""Draw ``docs/weather_restored.png``: the astronaut's crop, degraded, and restored.

Rows: clean, then rain, snow, haze, low light, motion blur and noise at severity 3; columns:
degraded, ``auto`` (what it applies), the learned restorer. Public-domain image.

    python scripts/figure_restorer.py [--out docs/weather_restored.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

import facescope as fs
from facescope.restoration.auto import restore_image
from facescope.weather import degrade

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("rain", "snow", "haze", "low_light", "motion_blur", "noise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/weather_restored.png")
    parser.add_argument("--severity", type=int, default=3)
    args = parser.parse_args()
    crop = fs.align(skdata.astronaut())[0]
    rows = []
    for kind in KINDS:
        bad = degrade(crop, kind, args.severity, seed=0)
        auto = restore_image(bad, "auto")
        learned = restore_image(bad, "learned").image
        tiles = []
        for image, label in ((bad, kind), (auto.image, "auto: " + ("+".join(auto.applied) or "-")),
                             (learned, "learned")):  # fmt: skip
            tile = cv2.resize(image, (160, 160), interpolation=cv2.INTER_CUBIC)
            cv2.putText(tile, label, (4, 154), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    picture = np.vstack(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
