"""The PAD cues that stay out of the fusion, measured on the real samples.

* ``video``: the liveness cues of :mod:`facescope.pad.video` (POS and CHROM pulse
  with SNR, blinks, homography / affine / similarity residuals of the mesh, the
  homography residual of tracked skin texture, head motion) on the live webcam
  video, its phone replay and the three live talking-head clips, whole and in
  5-s windows (2.5-s step); then on a flat photo moved and tilted before the
  camera, synthesised by warping one real frame of three clips (tilt amplitude
  0, 0.5, 1), whole and in windows.
* ``cnn``: the FaceBagNet CNN in eval mode on every 10th frame of the live and
  replay videos and on the three photos, for five crops of the face (tight box,
  box + 20% and + 40% margin, the aligned 112x112 crop, the full frame): AUC
  (high = live), mean p(live) per class and the share above 0.5.

    python benchmarks/bench_pad_cues.py [video] [cnn] [--json out/pad/cues.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from facescope.align.template import warp_to_template
from facescope.evaluate.metrics import roc_auc
from facescope.io import load_image
from facescope.io.video import Frame, VideoSource
from facescope.pipeline import find_faces

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT / "../shared/testdata"))
CLIPS = {
    "live": "antispoof/live_video.webm",
    "replay": "antispoof/replay_attack_video.webm",
    "talking_head_1": "video/talking_head_1.mp4",
    "talking_head_2": "video/talking_head_2.mp4",
    "talking_head_3": "video/talking_head_3.mp4",
}
COLUMNS = (
    "heart_rate_pos",
    "snr_pos",
    "heart_rate_chrom",
    "snr_chrom",
    "blink_rate",
    "homography_residual",
    "similarity_residual",
    "texture_residual",
    "head_motion",
)


def _row(table: Table, name: str, cues: Any) -> dict[str, Any]:
    values = cues.values()
    table.add_row(
        name,
        f"{cues.duration_s:.1f}",
        str(cues.blink_count),
        *[f"{values[c]:.4g}" for c in COLUMNS],
        cues.motion_reason or "",
    )
    return {
        "name": name,
        "duration_s": cues.duration_s,
        "blinks": cues.blink_count,
        **{c: values[c] for c in COLUMNS},
        "motion_reason": cues.motion_reason,
    }


def _table(title: str) -> Table:
    table = Table(title=title)
    for column in ("clip", "s", "blinks", *COLUMNS, "note"):
        table.add_column(column)
    return table


def _plane(w: int, h: int, yaw: float, pitch: float, tx: float, ty: float, s: float) -> Any:
    f = max(w, h)
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    a, b = math.radians(yaw), math.radians(pitch)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return np.array([[s, 0, tx], [0, s, ty], [0, 0, 1]]) @ k @ ry @ rx @ np.linalg.inv(k)


def _moved_photo(image: np.ndarray, amplitude: float, rng: np.random.Generator) -> list[Frame]:
    """10 s at 30 fps of a flat photo tilted and shifted before the camera, with sensor noise."""
    h, w = image.shape[:2]
    frames = []
    for i in range(300):
        t = i / 30
        warp = _plane(
            w,
            h,
            amplitude * 20 * math.sin(2 * math.pi * t / 3),
            amplitude * 12 * math.sin(2 * math.pi * t / 4.1),
            amplitude * 15 * math.sin(t),
            amplitude * 10 * math.cos(1.3 * t),
            1 + amplitude * 0.08 * math.sin(0.7 * t),
        )
        out = cv2.warpPerspective(image, warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
        noisy = np.clip(out + rng.normal(0, 2, out.shape), 0, 255).astype(np.uint8)
        frames.append(Frame(i, t, noisy))
    return frames


def video(console: Console) -> dict[str, Any]:
    from facescope.pad.video import measure_face_track, measure_video, track_cues, windowed_cues

    results: dict[str, Any] = {"clips": [], "moved_photo": []}
    table = _table("video liveness cues on real clips (whole clip, then 5-s windows)")
    for name, rel in CLIPS.items():
        track = measure_video(TESTDATA / rel, max_seconds=None)
        results["clips"].append(_row(table, name, track_cues(track)))
        for k, cues in enumerate(windowed_cues(track, window_s=5.0, step_s=2.5)):
            results["clips"].append(_row(table, f"  {name} @{2.5 * k:.1f}s", cues))
    console.print(table)
    table = _table("a flat photo moved before the camera (synthesised from one real frame)")
    rng = np.random.default_rng(1)
    sources = (("live", 100), ("talking_head_1", 0), ("talking_head_3", 0))
    for name, index in sources:
        with VideoSource(TESTDATA / CLIPS[name]) as clip:
            image = next(f.rgb for f in clip if f.index == index)
        for amplitude in (0.0, 0.5, 1.0):
            frames = _moved_photo(image, amplitude, rng)
            track = measure_face_track(frames, f"photo x{amplitude}")
            label = f"{name} photo, tilt x{amplitude}"
            results["moved_photo"].append(_row(table, label, track_cues(track)))
            for k, cues in enumerate(windowed_cues(track, window_s=5.0, step_s=2.5)):
                results["moved_photo"].append(_row(table, f"  {label} @{2.5 * k:.1f}s", cues))
    console.print(table)
    return results


def _crops(rgb: np.ndarray) -> dict[str, np.ndarray] | None:
    from facescope.pad.cnn import box_crop

    faces = find_faces(rgb)
    if len(faces) == 0:
        return None
    i = int(np.argmax(faces.areas))
    box = faces.boxes[i]
    return {
        "tight box": box_crop(rgb, box, 0.0),
        "box + 20%": box_crop(rgb, box, 0.2),
        "box + 40%": box_crop(rgb, box, 0.4),
        "aligned 112": warp_to_template(rgb, faces.landmarks5[i]),
        "full frame": rgb,
    }


def cnn(console: Console, step: int = 10) -> dict[str, Any]:
    from facescope.pad.cnn import available, shared_facebagnet

    if not available():
        console.print("[yellow]FaceBagNet (facebagnet==0.0.5, torch) not installed: skipped[/]")
        return {}
    cue = shared_facebagnet()
    per: dict[str, dict[str, list[np.ndarray]]] = {"live": {}, "replay": {}}
    for label in per:
        with VideoSource(TESTDATA / CLIPS[label]) as clip:
            for frame in clip:
                if frame.index % step:
                    continue
                crops = _crops(frame.rgb)
                for variant, crop in (crops or {}).items():
                    per[label].setdefault(variant, []).append(crop)
    table = Table(title=f"FaceBagNet in eval mode: every {step}th frame of live vs replay video")
    for column in (
        "crop",
        "AUC (high = live)",
        "live mean",
        "replay mean",
        "live > 0.5",
        "replay > 0.5",
        "photos F1 / F2 / T1",
    ):
        table.add_column(column)
    photos = {
        n: _crops(load_image(TESTDATA / "antispoof" / n))
        for n in ("image_F1.jpg", "image_F2.jpg", "image_T1.jpg")
    }
    results: dict[str, Any] = {}
    for variant in per["live"]:
        live = cue.live_scores(per["live"][variant])
        replay = cue.live_scores(per["replay"][variant])
        stills = [cue.live_score(c[variant]) for c in photos.values() if c is not None]
        results[variant] = {
            "auc": roc_auc(live, replay),
            "live_mean": float(live.mean()),
            "replay_mean": float(replay.mean()),
            "live_pass": float((live > 0.5).mean()),
            "replay_pass": float((replay > 0.5).mean()),
            "photos": stills,
        }
        r = results[variant]
        table.add_row(
            variant,
            f"{r['auc']:.3f}",
            f"{r['live_mean']:.3f}",
            f"{r['replay_mean']:.3f}",
            f"{100 * r['live_pass']:.0f}%",
            f"{100 * r['replay_pass']:.0f}%",
            " / ".join(f"{s:.3f}" for s in stills),
        )
    console.print(table)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", help="video and/or cnn (default: both)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    unknown = set(args.parts) - {"video", "cnn"}
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}: choose video and/or cnn")
    args.parts = args.parts or ["video", "cnn"]
    console = Console(width=200)
    if not (TESTDATA / "antispoof/labels.csv").is_file():
        console.print(f"[yellow]{TESTDATA / 'antispoof'} not found: skipped[/]")
        return
    out: dict[str, Any] = {}
    if "video" in args.parts:
        out["video"] = video(console)
    if "cnn" in args.parts:
        out["cnn"] = cnn(console)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
