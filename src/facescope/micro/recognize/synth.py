"""Synthetic micro-expression clips in the datasets' layouts, for tests and smoke runs.

A grey cartoon face (head ellipse, eyes, brows, mouth) with per-clip jitter in place,
size and brightness and per-frame noise makes a *subtle*, class-dependent movement
that rises from onset to apex and falls back by offset: *negative* lowers and draws
the brows together, *positive* lifts and widens the mouth, *surprise* raises the brows
and opens the mouth. The amplitude is a few per cent of the face. The 68 landmarks of
each frame (iBUG layout: jaw, brows, nose, eyes, mouth) are known exactly.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from facescope.micro.recognize.labels import COMPOSITE

#: The emotion written in the CASME II/SAMM sheets for each composite class.
_SHEET_EMOTION: Final[dict[str, str]] = {
    "negative": "disgust",
    "positive": "happiness",
    "surprise": "surprise",
}


@dataclass(frozen=True)
class SyntheticClip:
    """Frames (T, H, W, 3) uint8 and their (T, 68, 2) landmarks in pixels."""

    frames: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]
    label: str


def _ring(
    cx: float, cy: float, rx: float, ry: float, n: int, a0: float, a1: float
) -> list[tuple[float, float]]:
    angles = np.linspace(a0, a1, n)
    return [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in angles]


def synthetic_clip(
    label: str,
    rng: np.random.Generator,
    *,
    size: int = 48,
    frames: int = 12,
    amplitude: float = 0.05,
) -> SyntheticClip:
    """One clip of class `label` (``negative``, ``positive`` or ``surprise``)."""
    if label not in COMPOSITE:
        raise ValueError(f"label must be one of {COMPOSITE}")
    s = float(size)
    cx, cy = s / 2 + rng.normal(0, 0.03 * s), s / 2 + rng.normal(0, 0.03 * s)
    scale = s * rng.uniform(0.9, 1.05)
    skin, dark = rng.uniform(150, 200), rng.uniform(30, 70)
    background = rng.uniform(60, 110)
    out = np.empty((frames, size, size, 3), np.uint8)
    points = np.empty((frames, 68, 2), np.float32)
    amp = amplitude * scale
    for t in range(frames):
        phase = np.sin(np.pi * t / max(1, frames - 1))  # onset 0, apex 1, offset 0
        brow_dy = brow_dx = mouth_dy = mouth_w = mouth_h = 0.0
        if label == "negative":
            brow_dy, brow_dx = amp * phase, -0.6 * amp * phase
        elif label == "positive":
            mouth_dy, mouth_w = -0.7 * amp * phase, amp * phase
        else:
            brow_dy, mouth_h = -amp * phase, 0.8 * amp * phase
        img = np.full((size, size), background, np.float32)
        hx, hy = 0.34 * scale, 0.44 * scale
        cv2.ellipse(img, (round(cx), round(cy)), (round(hx), round(hy)), 0, 0, 360, skin, -1)
        eye_y, eye_dx = cy - 0.1 * scale, 0.14 * scale
        brow_y = eye_y - 0.1 * scale + brow_dy
        mouth_y = cy + 0.2 * scale + mouth_dy
        mw, mh = 0.12 * scale + mouth_w, 0.03 * scale + mouth_h
        pts: list[tuple[float, float]] = []
        pts += _ring(cx, cy, hx, hy, 17, np.pi * 0.95, np.pi * 0.05)  # jaw (image-left first)
        for side in (-1, 1):
            bx = cx + side * (eye_dx + brow_dx)
            x0, x1 = bx - 0.07 * scale, bx + 0.07 * scale
            cv2.line(img, (round(x0), round(brow_y)), (round(x1), round(brow_y)), dark, 2)
            pts += [(x, brow_y) for x in np.linspace(x0, x1, 5)]
        pts += [(cx, eye_y + k * 0.04 * scale) for k in range(4)]  # nose bridge
        pts += [(cx + k * 0.03 * scale, cy + 0.08 * scale) for k in range(-2, 3)]  # nostrils
        for side in (-1, 1):
            ex = cx + side * eye_dx
            cv2.ellipse(img, (round(ex), round(eye_y)), (max(1, round(0.05 * scale)),
                        max(1, round(0.025 * scale))), 0, 0, 360, dark, -1)  # fmt: skip
            pts += _ring(ex, eye_y, 0.05 * scale, 0.025 * scale, 6, np.pi, 3 * np.pi - 1e-3)[:6]
        cv2.ellipse(img, (round(cx), round(mouth_y)), (max(1, round(mw)), max(1, round(mh))),
                    0, 0, 360, dark, -1)  # fmt: skip
        pts += _ring(cx, mouth_y, mw, mh, 12, np.pi, 3 * np.pi - 1e-3)[:12]
        pts += _ring(cx, mouth_y, 0.7 * mw, 0.6 * mh, 8, np.pi, 3 * np.pi - 1e-3)[:8]
        img += rng.normal(0, 3.0, img.shape)
        grey = np.clip(img, 0, 255).astype(np.uint8)
        out[t] = np.repeat(grey[..., None], 3, axis=2)
        points[t] = np.asarray(pts[:68], np.float32)
    return SyntheticClip(out, points, label)


def write_casme2(
    root: str | Path,
    *,
    subjects: int = 4,
    per_class: int = 2,
    size: int = 48,
    frames: int = 12,
    seed: int = 0,
    amplitude: float = 0.05,
) -> Path:
    """A CASME II-style folder (``sub01/EP01_1/img1.jpg``... and a CSV coding sheet with
    onset/apex/offset around the movement); returns the folder."""
    folder = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, subjects + 1):
        for c, label in enumerate(COMPOSITE):
            for k in range(per_class):
                clip = synthetic_clip(label, rng, size=size, frames=frames, amplitude=amplitude)
                name = f"EP{c + 1:02d}_{k + 1}"
                where = folder / f"sub{s:02d}" / name
                where.mkdir(parents=True, exist_ok=True)
                lead = 3  # still frames before onset and after offset
                still = [clip.frames[0]] * lead + list(clip.frames) + [clip.frames[-1]] * lead
                for n, frame in enumerate(still, start=1):
                    cv2.imwrite(str(where / f"img{n}.png"), frame[..., ::-1])
                rows.append([f"{s:02d}", name, lead + 1, lead + 1 + frames // 2,
                             lead + frames, "AU4", _SHEET_EMOTION[label]])  # fmt: skip
        # an "others" clip, which the 3-class scheme leaves out
        rows.append([f"{s:02d}", "EP09_9", 1, 2, 3, "", "others"])
    with open(folder / "CASME2-coding-20140508.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                         "Action Units", "Estimated Emotion"])  # fmt: skip
        writer.writerows(rows)
    return folder


__all__ = ["SyntheticClip", "synthetic_clip", "write_casme2"]
