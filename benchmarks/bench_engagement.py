"""Engagement: speed on 480p single-face video, one core, and what the mesh costs.

On the talking-head clips (``../shared/testdata/video``, centre-cropped to 4:3
and scaled to 640x480), frames decoded once before timing, per frame:

* ``detect``: YuNet face detection (:func:`facescope.pipeline.find_faces`);
* ``mesh``: the MediaPipe 478-point mesh on the detected box;
* ``analysis (geometry)``: :meth:`Analyzer.analyze_video` without the expression
  models: detect, track, mesh, smoothing, pose, gaze, eyes, mouth, AUs, blinks;
* ``analysis (+ expressions)``: the same with the expression ensemble;
* ``engagement``: :func:`facescope.engagement.measure_engagement` on the finished
  analysis (frame records, canonical alignment for motion, windows, baseline);
* ``engagement given the mesh``: what a frame costs once its mesh exists:
  analysis (geometry) - detect - mesh + engagement.

Run on one core: ``FACESCOPE_THREADS=1 OMP_NUM_THREADS=1 python
benchmarks/bench_engagement.py [--frames 150] [--json out/bench_engagement.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.mesh import shared_mesher
from facescope.engagement.measure import EngagementOptions, measure_engagement
from facescope.io.video import VideoSource
from facescope.pipeline import find_faces

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
VIDEOS = TESTDATA / "video"


class _Frame:
    def __init__(self, index: int, time: float, rgb: np.ndarray) -> None:
        self.index, self.time, self.rgb = index, time, rgb


def frames_480p(path: Path, limit: int) -> list[_Frame]:
    """Decode up to `limit` frames, centre-cropped to 4:3 and scaled to 640x480."""
    out = []
    with VideoSource(path, max_frames=limit) as video:
        for frame in video:
            h, w = frame.rgb.shape[:2]
            cw, ch = (round(h * 4 / 3), h) if w / h > 4 / 3 else (w, round(w * 3 / 4))
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            crop = frame.rgb[y0 : y0 + ch, x0 : x0 + cw]
            out.append(_Frame(frame.index, frame.time, cv2.resize(crop, (640, 480))))
    return out


def _per_frame_ms(frames: list[_Frame]) -> dict[str, float]:
    analyzer = Analyzer(AnalyzeOptions(expressions=False, quality=False))
    analyzer.analyze_video(frames[:3])  # load the models
    detect = mesh = 0.0
    for frame in frames:
        start = time.perf_counter()
        faces = find_faces(frame.rgb)
        detect += time.perf_counter() - start
        if len(faces):
            start = time.perf_counter()
            shared_mesher().mesh(frame.rgb, faces.boxes[0])
            mesh += time.perf_counter() - start
    start = time.perf_counter()
    analysis = analyzer.analyze_video(frames)
    geometry = time.perf_counter() - start
    with_expressions = Analyzer(AnalyzeOptions(quality=False))
    with_expressions.analyze_video(frames[:3])
    start = time.perf_counter()
    with_expressions.analyze_video(frames)
    expressions = time.perf_counter() - start
    repeats = 5
    start = time.perf_counter()
    for _ in range(repeats):
        result = measure_engagement(analysis, EngagementOptions(window=5))
    engagement = (time.perf_counter() - start) / repeats
    assert result.tracks, "no face tracked"
    n = len(frames)
    ms = {
        "detect": 1000 * detect / n,
        "mesh": 1000 * mesh / n,
        "analysis (geometry)": 1000 * geometry / n,
        "analysis (+ expressions)": 1000 * expressions / n,
        "engagement": 1000 * engagement / n,
    }
    ms["engagement given the mesh"] = (
        ms["analysis (geometry)"] - ms["detect"] - ms["mesh"] + ms["engagement"]
    )
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    clips = sorted(VIDEOS.glob("talking_head_*.mp4"))
    if not clips:
        raise SystemExit(f"no talking-head clips in {VIDEOS}")
    rows: dict[str, list[float]] = {}
    for clip in clips:
        for stage, value in _per_frame_ms(frames_480p(clip, args.frames)).items():
            rows.setdefault(stage, []).append(value)
    report: dict[str, Any] = {
        "clips": [c.name for c in clips],
        "frames_per_clip": args.frames,
        "size": "640x480",
        "threads": os.environ.get("FACESCOPE_THREADS", "default"),
        "stages": {
            stage: {"ms_per_frame": float(np.mean(v)), "fps": 1000.0 / float(np.mean(v))}
            for stage, v in rows.items()
        },
    }
    table = Table(title=f"engagement on 640x480 video ({len(clips)} clips, {args.frames} frames)")
    for column in ("stage", "ms / frame", "frames / s"):
        table.add_column(column)
    for stage, value in report["stages"].items():
        table.add_row(stage, f"{value['ms_per_frame']:.2f}", f"{value['fps']:.0f}")
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
