"""Micro-expression spotting on real talking heads with injected movements (MEGC protocol).

For each clip in ``../shared/testdata/video`` (one person talking, 7-9 s), the
face is tracked and meshed once (unsmoothed), then subtle movements are warped in
at known frames with :func:`facescope.micro.synth.inject_micro` (brows up, lip
corners out and up; ``sin^2`` rise and fall), at each amplitude (pixels) and
duration (frames), several per clip, cycling through the movements. Spotted
intervals are scored at IoU >= 0.5, one-to-one (precision, recall, F1). The
unmodified clips are the hard negatives: false positives per minute.

The threshold is never chosen on the data it is reported on: for each clip, it is
the best F1 over the *other two* clips (all amplitudes and durations pooled), and
that clip's numbers are reported with it (leave-one-video-out, three folds).

Speed: the mesh (decode, detect, track, mesh: ``Analyzer.analyze_video`` with
nothing else measured) and the spotting given the mesh (optical flow, motion,
spotting) are timed separately, single-threaded.

    FACESCOPE_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_micro_spot.py \
        [--amplitudes 1 2 4] [--durations 3 6 12] [--json out/bench_micro_spot.json]

Note: the injected frames reuse the unmodified frames' meshes (re-meshing every
variant would cost 9x the mesh time); ``tests/micro`` runs the full path, mesh
included, on injected frames.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.micro.evaluate import SpotScore, score_intervals
from facescope.micro.motion import MotionExtractor, TrackMotion
from facescope.micro.spot import SpotOptions, spot_motion
from facescope.micro.synth import Injection, inject_micro
from facescope.video import open_video

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "../shared/testdata/video"
MOVEMENTS = ("brows", "right_lip_corner", "left_brow", "lip_corners", "right_brow",
             "left_lip_corner")  # fmt: skip
THRESHOLDS = (3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 17.0, 20.0)
GATES = (0.002, 0.003, 0.005, 0.008)
#: (threshold, speech gate) pairs the folds choose from.
GRID = [(t, g) for t in THRESHOLDS for g in GATES]
#: Seconds between injected movements, and before the first.
SPACING_S, LEAD_S = 1.1, 0.6


@dataclass
class Clip:
    name: str
    fps: float
    frames: list[np.ndarray]
    meshes: list[Any]  # the main track's mesh per frame (None where absent)
    faces: list[list[tuple[int, Any]]]  # (track, mesh) per face per frame
    mesh_s: float


def load(path: Path) -> Clip:
    """Decode, detect, track and mesh (unsmoothed); the time per frame of that."""
    analyzer = Analyzer(AnalyzeOptions(expressions=False, action_units=False, quality=False))
    frames: list[np.ndarray] = []

    def keep(video: Any) -> Any:
        for frame in video:
            frames.append(frame.rgb)
            yield frame

    start = time.perf_counter()
    with open_video(path) as video:
        fps = float(video.fps or 25.0)
        result = analyzer.analyze_video(keep(video), smooth=False)
    mesh_s = (time.perf_counter() - start) / max(len(frames), 1)
    faces = [[(f.track, f.mesh) for f in fa.faces if f.track is not None] for fa in result.frames]
    counts: dict[int, int] = {}
    for row in faces:
        for track, mesh in row:
            if mesh is not None:
                counts[track] = counts.get(track, 0) + 1
    main = max(counts, key=lambda t: counts[t])
    meshes = [next((m for t, m in row if t == main), None) for row in faces]
    return Clip(path.name, fps, frames, meshes, faces, mesh_s)


def motion(clip: Clip, frames: list[np.ndarray]) -> tuple[dict[int, TrackMotion], float]:
    """Every track's motion over `frames` with the clip's meshes; seconds per frame."""
    extractor = MotionExtractor()
    start = time.perf_counter()
    for i, (rgb, faces) in enumerate(zip(frames, clip.faces, strict=True)):
        extractor.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), faces, i, i / clip.fps)
    return extractor.tracks, (time.perf_counter() - start) / len(frames)


def injected(
    clip: Clip, amplitude: float, duration: int
) -> tuple[list[np.ndarray], list[Injection]]:
    frames, truth = list(clip.frames), []
    onset, k = round(LEAD_S * clip.fps), 0
    while onset + duration + round(0.3 * clip.fps) < len(frames):
        span = clip.meshes[onset : onset + duration]
        if all(m is not None for m in span):
            movement = MOVEMENTS[k % len(MOVEMENTS)]
            frames, gt = inject_micro(frames, clip.meshes, movement, onset, duration, amplitude)
            truth.append(gt)
            k += 1
        onset += round(SPACING_S * clip.fps)
    return frames, truth


def options(setting: tuple[float, float]) -> SpotOptions:
    return SpotOptions(threshold=setting[0], speech_gate=setting[1])


def score(tracks: dict[int, TrackMotion], fps: float, setting: tuple[float, float],
          truth: list[Injection]) -> tuple[SpotScore, dict[str, list[int]]]:  # fmt: skip
    intervals, _ = spot_motion(tracks.values(), fps, options(setting))
    spotted = [(i.onset, i.offset) for i in intervals]
    total = score_intervals(spotted, [(t.onset, t.offset) for t in truth])
    per_kind: dict[str, list[int]] = {}
    for t in truth:  # recall by kind of movement
        kind = "brow" if "brow" in t.region else "lip corner"
        hit = score_intervals(spotted, [(t.onset, t.offset)]).tp
        per_kind.setdefault(kind, [0, 0])
        per_kind[kind][0] += hit
        per_kind[kind][1] += 1
    return total, per_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--amplitudes", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--durations", type=int, nargs="+", default=[3, 6, 12])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console(stderr=True)
    clips = [load(p) for p in sorted(VIDEOS.glob("*.mp4"))]
    configs = [(a, d) for a in args.amplitudes for d in args.durations]
    clean: dict[str, dict[int, TrackMotion]] = {}
    flow_s: list[float] = []
    spot_s: list[float] = []
    runs: dict[tuple[str, float, int], tuple[dict[int, TrackMotion], list[Injection]]] = {}
    for clip in clips:
        clean[clip.name], seconds = motion(clip, clip.frames)
        flow_s.append(seconds)
        start = time.perf_counter()
        spot_motion(clean[clip.name].values(), clip.fps, SpotOptions())
        spot_s.append((time.perf_counter() - start) / len(clip.frames))
        for amplitude, duration in configs:
            frames, truth = injected(clip, amplitude, duration)
            runs[clip.name, amplitude, duration] = (motion(clip, frames)[0], truth)
        console.log(f"{clip.name}: {len(clip.frames)} frames, mesh {1000 * clip.mesh_s:.1f} ms, "
                    f"flow+motion {1000 * flow_s[-1]:.1f} ms per frame")  # fmt: skip

    # leave one video out: choose the threshold on the other two, report on this one
    by_clip = {c.name: c for c in clips}
    folds: dict[str, tuple[float, float]] = {}
    for held in by_clip:
        best, best_f1 = GRID[0], -1.0
        for threshold in GRID:
            total = SpotScore(0, 0, 0)
            for (name, _, _), (tracks, truth) in runs.items():
                if name != held:
                    total = total + score(tracks, by_clip[name].fps, threshold, truth)[0]
            if total.f1 > best_f1:
                best, best_f1 = threshold, total.f1
        folds[held] = best
    table = Table(title="held-out spotting, IoU >= 0.5 (threshold chosen on the other 2 clips)")
    for column in ("amplitude px", "duration fr", "TP", "FP", "FN", "P", "R", "F1",
                   "R brow", "R lip corner"):  # fmt: skip
        table.add_column(column, justify="right")
    rows: list[dict[str, Any]] = []
    overall = SpotScore(0, 0, 0)
    for amplitude, duration in configs:
        total = SpotScore(0, 0, 0)
        kinds: dict[str, list[int]] = {}
        for name in by_clip:
            tracks, truth = runs[name, amplitude, duration]
            s, per_kind = score(tracks, by_clip[name].fps, folds[name], truth)
            total = total + s
            for kind, (hit, n) in per_kind.items():
                kinds.setdefault(kind, [0, 0])
                kinds[kind][0] += hit
                kinds[kind][1] += n
        overall = overall + total
        recall = {k: v[0] / v[1] for k, v in kinds.items() if v[1]}
        rows.append({"amplitude_px": amplitude, "duration_frames": duration, **total.to_dict(),
                     "recall_by_movement": recall})  # fmt: skip
        table.add_row(f"{amplitude:g}", str(duration), str(total.tp), str(total.fp),
                      str(total.fn), f"{total.precision:.2f}", f"{total.recall:.2f}",
                      f"{total.f1:.2f}", f"{recall.get('brow', 0):.2f}",
                      f"{recall.get('lip corner', 0):.2f}")  # fmt: skip
    table.add_row("all", "", str(overall.tp), str(overall.fp), str(overall.fn),
                  f"{overall.precision:.2f}", f"{overall.recall:.2f}", f"{overall.f1:.2f}",
                  "", "")  # fmt: skip
    out = Console()
    out.print(table)
    negatives = Table(title="unmodified talking heads (hard negatives)")
    for column in ("clip", "threshold, gate (other clips)", "minutes", "FP", "FP/min",
                   "FP/min at default"):  # fmt: skip
        negatives.add_column(column, justify="right")
    fp_total, minutes_total, fp_rows = 0, 0.0, []
    for name, clip in by_clip.items():
        minutes = len(clip.frames) / clip.fps / 60
        fp = len(spot_motion(clean[name].values(), clip.fps, options(folds[name]))[0])
        fp_default = len(spot_motion(clean[name].values(), clip.fps, SpotOptions())[0])
        fp_total += fp
        minutes_total += minutes
        fp_rows.append({
            "clip": name, "threshold": folds[name], "fp": fp, "minutes": minutes,
            "fp_per_min": fp / minutes, "fp_per_min_default": fp_default / minutes,
        })  # fmt: skip
        negatives.add_row(name, "{:g}, {:g}".format(*folds[name]), f"{minutes:.3f}", str(fp),
                          f"{fp / minutes:.1f}", f"{fp_default / minutes:.1f}")  # fmt: skip
    negatives.add_row("all", "", f"{minutes_total:.3f}", str(fp_total),
                      f"{fp_total / minutes_total:.1f}", "")  # fmt: skip
    out.print(negatives)
    mesh_ms = 1000 * float(np.mean([c.mesh_s for c in clips]))
    spot_ms = 1000 * float(np.mean(flow_s) + np.mean(spot_s))
    out.print(
        f"speed, one thread: mesh (decode+detect+track+mesh) {mesh_ms:.1f} ms/frame "
        f"({1000 / mesh_ms:.1f} fps); spotting given the mesh (flow+motion "
        f"{1000 * np.mean(flow_s):.1f} ms, spot {1000 * np.mean(spot_s):.2f} ms) "
        f"{spot_ms:.1f} ms/frame ({1000 / spot_ms:.1f} fps); end to end "
        f"{1000 / (mesh_ms + spot_ms):.1f} fps"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "folds": folds, "rows": rows, "overall": overall.to_dict(), "negatives": fp_rows,
            "mesh_ms": mesh_ms, "spot_ms": spot_ms,
            "default": [SpotOptions().threshold, SpotOptions().speech_gate],
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
