"""Writers: ``blendshapes.csv``, Live Link Face ``livelink.csv``, per-frame JSON, the preview."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.animate.shapes import LIVELINK_EXTRA, SHAPES, pascal

FloatArray = npt.NDArray[np.float64]

#: ``blendshapes.csv`` columns.
BLENDSHAPES_HEADER: tuple[str, ...] = ("frame", "time", *SHAPES, "headYaw", "headPitch", "headRoll")
#: ``livelink.csv`` columns (Live Link Face's CSV: timecode, count, 52 shapes, head, eyes).
LIVELINK_HEADER: tuple[str, ...] = (
    "Timecode",
    "BlendShapeCount",
    *(pascal(s) for s in SHAPES),
    *LIVELINK_EXTRA,
)


def timecode(seconds: float, fps: float) -> str:
    """``HH:MM:SS:FF.mmm`` as Live Link Face writes it (frame and sub-frame at `fps`)."""
    whole = int(seconds)
    frames = (seconds - whole) * fps
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}:{int(frames):02d}.{int((frames % 1) * 1000):03d}"


def write_blendshapes_csv(
    path: str | os.PathLike[str],
    frames: Sequence[int],
    times: FloatArray,
    weights: FloatArray,
    head: FloatArray,
) -> Path:
    """One row per frame: frame, time, the 52 camelCase shapes, head yaw/pitch/roll (deg)."""
    out = Path(path)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(BLENDSHAPES_HEADER)
        for k, frame in enumerate(frames):
            writer.writerow(
                [
                    frame,
                    f"{times[k]:.4f}",
                    *(f"{v:.4f}" for v in weights[k]),
                    *(f"{v:.3f}" for v in head[k]),
                ]
            )
    return out


def write_livelink_csv(
    path: str | os.PathLike[str],
    times: FloatArray,
    weights: FloatArray,
    head: FloatArray,
    eyes: FloatArray,
    fps: float,
) -> Path:
    """Live Link Face layout; head and eye angles in radians (yaw, pitch, roll) like the app."""
    out = Path(path)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LIVELINK_HEADER)
        for k in range(len(times)):
            left_yaw, left_pitch, right_yaw, right_pitch = (math.radians(v) for v in eyes[k])
            extra = [
                *(math.radians(v) for v in head[k]),
                left_yaw,
                left_pitch,
                0.0,
                right_yaw,
                right_pitch,
                0.0,
            ]
            writer.writerow(
                [
                    timecode(float(times[k]), fps),
                    len(SHAPES),
                    *(f"{v:.6f}" for v in weights[k]),
                    *(f"{v:.6f}" for v in extra),
                ]
            )
    return out


def write_frames_json(
    path: str | os.PathLike[str],
    frames: Sequence[int],
    times: FloatArray,
    weights: FloatArray,
    head: FloatArray,
    controls: FloatArray,
    control_names: Sequence[str],
) -> Path:
    """``{"frames": [{frame, time, blendshapes, head, controls}, ...]}``."""
    items = [
        {
            "frame": int(frames[k]),
            "time": round(float(times[k]), 4),
            "blendshapes": {n: round(float(v), 4) for n, v in zip(SHAPES, weights[k], strict=True)},
            "head": dict(
                zip(("yaw", "pitch", "roll"), (round(float(v), 3) for v in head[k]), strict=True)
            ),
            "controls": {
                n: round(float(v), 4) for n, v in zip(control_names, controls[k], strict=True)
            },
        }
        for k in range(len(frames))
    ]
    out = Path(path)
    out.write_text(json.dumps({"frames": items}, indent=1))
    return out


def write_preview_gif(
    path: str | os.PathLike[str], panels: Sequence[npt.NDArray[np.uint8]], fps: float
) -> Path:
    """An animated GIF (Pillow) of side-by-side panels."""
    from PIL import Image

    out = Path(path)
    images = [Image.fromarray(p) for p in panels]
    duration = round(1000.0 / max(fps, 1.0))
    images[0].save(out, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return out
