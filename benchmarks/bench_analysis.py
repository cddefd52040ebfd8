"""Facial analysis: speed on 480p video and head-pose consistency without ground truth.

Speed: ``Analyzer.analyze_video`` frames per second on the talking-head clips
(``../shared/testdata/video``) cropped to 4:3 and scaled to 640x480, with the
expression ensemble and without it (geometry only: detect, mesh, pose, gaze,
eyes, mouth, action units, quality). The peer, measured in the same run, is
MediaPipe's own video pipeline (``solutions.face_mesh`` in tracking mode,
478 points, one face): the cost of the mesh alone, without detection by YuNet,
pose, expressions or anything else. Frames are decoded once before timing.

Pose consistency (no ground truth needed):

* mirror: a mirrored image must give negated yaw and roll and the same pitch;
* roll: rotating a frontal portrait in the image plane by +-10 and +-20 degrees
  must change the roll by exactly that much.

Measured on the bundled public-domain portraits and, when present, the
aligned-celebrities set (600 in-the-wild faces) and the public portraits.

    python benchmarks/bench_analysis.py [--frames 120] [--json out/bench_analysis.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.mesh import shared_mesher
from facescope.analysis.pose import head_pose
from facescope.io.image import load_image
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
            if w / h > 4 / 3:
                cw, ch = round(h * 4 / 3), h
            else:
                cw, ch = w, round(w * 3 / 4)
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            crop = frame.rgb[y0 : y0 + ch, x0 : x0 + cw]
            out.append(_Frame(frame.index, frame.time, cv2.resize(crop, (640, 480))))
    return out


def time_analyzer(frames: list[_Frame], options: AnalyzeOptions) -> float:
    analyzer = Analyzer(options)
    analyzer.analyze_video(frames[:3])  # load models
    start = time.perf_counter()
    analyzer.analyze_video(frames)
    return len(frames) / (time.perf_counter() - start)


def time_mediapipe(frames: list[_Frame]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mediapipe.python.solutions import face_mesh

        graph = face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True)
        graph.process(frames[0].rgb)
        start = time.perf_counter()
        for frame in frames:
            graph.process(frame.rgb)
        elapsed = time.perf_counter() - start
        graph.close()
    return len(frames) / elapsed


def _pose(rgb: np.ndarray) -> tuple[float, float, float] | None:
    faces = find_faces(rgb)
    if not len(faces):
        return None
    mesh = shared_mesher().mesh(rgb, faces.boxes[int(np.argmax(faces.areas))])
    if mesh is None:
        return None
    pose = head_pose(mesh.points, (rgb.shape[1], rgb.shape[0]))
    return None if pose is None else (pose.yaw, pose.pitch, pose.roll)


def pose_consistency(paths: list[Path]) -> dict[str, Any]:
    mirror: list[tuple[float, float, float]] = []
    roll: list[float] = []
    failed = 0
    for path in track(paths, description="pose checks"):
        rgb = load_image(path)
        base = _pose(rgb)
        flipped = _pose(np.ascontiguousarray(rgb[:, ::-1]))
        if base is None or flipped is None:
            failed += 1
            continue
        mirror.append(
            (abs(base[0] + flipped[0]), abs(base[1] - flipped[1]), abs(base[2] + flipped[2]))
        )
        h, w = rgb.shape[:2]
        for angle in (-20, -10, 10, 20):
            matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            turned = cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
            got = _pose(turned)
            if got is not None:
                roll.append(abs((got[2] - base[2]) + angle))
    m = np.array(mirror)
    r = np.array(roll)
    return {
        "faces": len(mirror),
        "failed": failed,
        "mirror_yaw_error_median": float(np.median(m[:, 0])),
        "mirror_yaw_error_p90": float(np.percentile(m[:, 0], 90)),
        "mirror_pitch_error_median": float(np.median(m[:, 1])),
        "mirror_roll_error_median": float(np.median(m[:, 2])),
        "mirror_roll_error_p90": float(np.percentile(m[:, 2], 90)),
        "roll_error_median": float(np.median(r)),
        "roll_error_p90": float(np.percentile(r, 90)),
        "rotations": len(r),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per clip")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--pose-limit", type=int, default=200, help="celebrity faces to check")
    args = parser.parse_args()
    console = Console()
    report: dict[str, Any] = {}

    clips = sorted(VIDEOS.glob("*.mp4"))
    if clips:
        speed = Table(title="analyze_video on 640x480 frames (frames per second)")
        for column in ("clip", "full (with expressions)", "geometry only", "MediaPipe mesh only"):
            speed.add_column(column)
        rows = []
        for clip in clips:
            frames = frames_480p(clip, args.frames)
            full = time_analyzer(frames, AnalyzeOptions())
            geometry = time_analyzer(frames, AnalyzeOptions(expressions=False))
            peer = time_mediapipe(frames)
            rows.append({"clip": clip.name, "full": full, "geometry": geometry, "mediapipe": peer})
            speed.add_row(clip.name, f"{full:.1f}", f"{geometry:.1f}", f"{peer:.1f}")
        console.print(speed)
        report["speed"] = rows
    else:
        console.print(f"[yellow]no clips in {VIDEOS}: speed skipped[/]")

    paths = sorted((ROOT / "tests/data").glob("*.jpg"))
    portraits = TESTDATA / "faces/public_portraits"
    paths += sorted(p for p in portraits.glob("*.jpg") if "partial" not in p.name)
    celebrities = TESTDATA / "faces/aligned_celebrities"
    paths += sorted(celebrities.rglob("*.png"))[: args.pose_limit]
    consistency = pose_consistency(paths)
    report["pose"] = consistency
    table = Table(title=f"head-pose consistency on {consistency['faces']} faces (degrees)")
    table.add_column("check")
    table.add_column("median error")
    table.add_column("90th percentile")
    table.add_row(
        "mirror: yaw negated",
        f"{consistency['mirror_yaw_error_median']:.2f}",
        f"{consistency['mirror_yaw_error_p90']:.2f}",
    )
    table.add_row(
        "mirror: roll negated",
        f"{consistency['mirror_roll_error_median']:.2f}",
        f"{consistency['mirror_roll_error_p90']:.2f}",
    )
    table.add_row(
        "in-plane rotation +-10/20: roll recovered",
        f"{consistency['roll_error_median']:.2f}",
        f"{consistency['roll_error_p90']:.2f}",
    )
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
