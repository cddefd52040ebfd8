"""Video throughput and track fragmentation on the talking-head clips.

For each clip in ``../shared/testdata/video`` (one person each) and each
detection stride, runs decode + detect + track + identify
(:class:`facescope.VideoRecognizer` against a gallery with one enrolled person)
and reports frames per second and the number of tracks (fragmentation: the
target is 1 per clip). The peer, measured in the same run, is the naive loop a
user writes without tracking: decode, then ``facescope.embed`` on every frame
(detect + embed each frame, one result per frame).

    python benchmarks/bench_video.py [--strides 1 3] [--json out/bench_video.json]

Target on a 2-core machine: >= 25 fps at 480p with stride 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import facescope as fs
from facescope.gallery import Gallery
from facescope.video import VideoRecognizer, VideoSource

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "../shared/testdata/video"


def naive(path: Path) -> tuple[int, float]:
    """Frames and seconds of decode + fs.embed on every frame."""
    start = time.perf_counter()
    frames = 0
    with VideoSource(path) as video:
        for frame in video:
            fs.embed(frame.rgb)
            frames += 1
    return frames, time.perf_counter() - start


def tracked(path: Path, gallery: Gallery, stride: int) -> tuple[int, float, int]:
    """Frames, seconds and tracks of the VideoRecognizer pipeline."""
    start = time.perf_counter()
    frames = 0
    results: list[Any] = []
    for _ in VideoRecognizer(gallery, stride=stride).frames(str(path), results.append):
        frames += 1
    return frames, time.perf_counter() - start, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    console = Console()
    labels = VIDEOS / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"test videos not found at {VIDEOS}")
    with labels.open() as handle:
        clips = [VIDEOS / row["path"] for row in csv.DictReader(handle)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, Gallery.open(folder) as gallery:
        gallery.enroll("Barack Obama", [ROOT / "tests/data/obama_1.jpg"])
        # load models once, outside the timings
        tracked(clips[0], gallery, max(args.strides))
        for clip in clips:
            frames, seconds = naive(clip)
            peer_fps = frames / seconds
            rows.append(
                {
                    "clip": clip.name,
                    "path": "naive fs.embed per frame",
                    "stride": 1,
                    "frames": frames,
                    "fps": peer_fps,
                    "tracks": None,
                    "vs_naive": 1.0,
                }
            )
            for stride in args.strides:
                frames, seconds, tracks = tracked(clip, gallery, stride)
                fps = frames / seconds
                rows.append(
                    {
                        "clip": clip.name,
                        "path": "VideoRecognizer",
                        "stride": stride,
                        "frames": frames,
                        "fps": fps,
                        "tracks": tracks,
                        "vs_naive": fps / peer_fps,
                    }
                )
    table = Table(title="decode + detect + track + identify, one person per clip")
    for column in ("clip", "path", "stride", "frames", "fps", "tracks", "vs naive"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["clip"],
            row["path"],
            str(row["stride"]),
            str(row["frames"]),
            f"{row['fps']:.1f}",
            "" if row["tracks"] is None else str(row["tracks"]),
            f"{row['vs_naive']:.2f}x",
        )
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
