"""Visual voice activity and mouth-crop speed on the shared talking-head videos.

Run: ``OMP_NUM_THREADS=1 FACESCOPE_THREADS=1 .venv/bin/python benchmarks/bench_lips.py``
(``--out FILE`` writes the numbers as JSON; ``--cache DIR`` keeps each sequence's
activity so a rerun only re-decides).

1. **Frame-level precision / recall**, thresholds chosen by rotation: for each
   held-out video, the lowest threshold with at most 2% false positives on the
   other two videos' negatives (``--max-fpr``) is applied to the held-out video's
   talking frames (all labelled speaking, though the people pause: recall is a
   lower bound) and its negatives, all built from that video: ``frozen`` (one frame repeated),
   ``still_mouth`` (the first frame's mouth pasted into every frame, moved with the head), ``smile``
   (a still frame warped into a smile, held, relaxed), ``nod`` (a still frame
   nodding) and ``open_nod`` (the frame with the widest-open mouth, nodding: a
   mouth held open while the head moves).
2. **Against audio** (videos with a non-silent audio track): speaking frames vs.
   frames whose audio level is well above the noise floor.
3. **Multi-person**: a talking video next to a frozen copy of another; per-face
   speaking fractions show who speaks.
4. **Speed**: a 854x480 single-face video, one core: fps of the lips stage (crop,
   canonical points, smoothing) given the mesh, and what the detector and mesh cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("FACESCOPE_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import TESTDATA  # noqa: E402

from facescope.io.video import open_video  # noqa: E402
from facescope.lips import synthetic  # noqa: E402
from facescope.lips.audio import audio_energy, audio_speech  # noqa: E402
from facescope.lips.extract import LipExtractor, extract_frames  # noqa: E402
from facescope.lips.mouth import lip_aperture  # noqa: E402
from facescope.lips.vad import VadOptions, clean_decisions, speech_activity  # noqa: E402

VIDEOS = [TESTDATA / "video" / f"talking_head_{i}.mp4" for i in (1, 2, 3)]
NEGATIVES = ("frozen", "still_mouth", "smile", "nod", "open_nod")
THRESHOLDS = np.round(np.arange(2.0, 40.01, 0.5), 2)


def _read(path: Path) -> tuple[list[np.ndarray], float]:
    with open_video(path) as video:
        images = [f.rgb for f in video]
        fps = float(video.fps or 25.0)
    return images, fps


def _run(images: list[np.ndarray], fps: float) -> dict[str, np.ndarray]:
    """The largest track's time and lip landmarks (activity is recomputed per option set)."""
    result = extract_frames(synthetic.as_frames(images, fps), max_faces=1)
    track = max(result.tracks, key=lambda t: len(t.time))
    return {"time": track.time, "lips": track.lips.astype(np.float64)}


def sequences(path: Path, cache: Path | None) -> dict[str, dict[str, np.ndarray]]:
    """The talking video and its negatives: time and lip landmarks of each."""
    target = None if cache is None else cache / f"{path.stem}.npz"
    if target is not None and target.is_file():
        with np.load(target) as data:
            names = {k.split("/")[0] for k in data.files}
            return {n: {"time": data[f"{n}/time"], "lips": data[f"{n}/lips"]} for n in names}
    images, fps = _read(path)
    n = len(images)
    out = {"talking": _run(images, fps)}
    meshes = synthetic.meshes_of(images)
    first = meshes[0]
    assert first is not None
    widest = int(np.argmax(lip_aperture(out["talking"]["lips"])))
    made = {
        "frozen": synthetic.frozen(images),
        "still_mouth": synthetic.still_mouth(images, meshes),
        "smile": synthetic.smiling(images[0], first, n, fps),
        "nod": synthetic.nodding(images[0], n, fps),
        "open_nod": synthetic.nodding(images[widest], n, fps),
    }
    for name, frames in made.items():
        out[name] = _run(frames, fps)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        flat = {f"{k}/{a}": v for k, d in out.items() for a, v in d.items()}
        np.savez_compressed(target, **flat)  # type: ignore[arg-type]
    return out


def _decide(seq: dict[str, np.ndarray], options: VadOptions) -> np.ndarray:
    activity = speech_activity(seq["lips"], seq["time"], options)
    flags = activity >= options.threshold
    return clean_decisions(flags, seq["time"], options.min_gap_s, options.min_speech_s)


def _counts(videos: list[dict[str, Any]], options: VadOptions) -> dict[str, float]:
    tp = fn = fp = tn = 0
    for seqs in videos:
        said = _decide(seqs["talking"], options)
        tp += int(said.sum())
        fn += int((~said).sum())
        for name in NEGATIVES:
            said = _decide(seqs[name], options)
            fp += int(said.sum())
            tn += int((~said).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    specificity = tn / max(tn + fp, 1)
    return {
        "precision": precision,
        "recall": recall,
        "specificity": specificity,
        "balanced_accuracy": (recall + specificity) / 2,
        "tp": tp, "fn": fn, "fp": fp, "tn": tn,
    }  # fmt: skip


def choose_threshold(videos: list[dict[str, Any]], base: VadOptions, max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on the negatives is at most `max_fpr`.

    Only the negatives have exact frame labels (nobody speaks in them); the talking
    videos have pauses and silent expressions, so their frames are not all speech
    and are not used to choose.
    """
    from dataclasses import replace

    for threshold in THRESHOLDS:
        counts = _counts(videos, replace(base, threshold=float(threshold)))
        if counts["fp"] <= max_fpr * (counts["fp"] + counts["tn"]):
            return float(threshold)
    return float(THRESHOLDS[-1])


def rotation(
    all_seqs: dict[str, dict[str, Any]], base: VadOptions, max_fpr: float
) -> list[dict[str, Any]]:
    from dataclasses import replace

    rows = []
    for held in all_seqs:
        train = [s for k, s in all_seqs.items() if k != held]
        threshold = choose_threshold(train, base, max_fpr)
        options = replace(base, threshold=threshold)
        row: dict[str, Any] = {"held_out": held, "threshold": threshold}
        row.update(_counts([all_seqs[held]], options))
        row["fraction_speaking"] = {
            name: round(float(_decide(seq, options).mean()), 3)
            for name, seq in all_seqs[held].items()
        }
        rows.append(row)
    return rows


def against_audio(path: Path, seq: dict[str, np.ndarray], options: VadOptions) -> dict[str, Any]:
    level = audio_energy(path, seq["time"])
    if np.all(level <= -99):
        return {"video": path.stem, "audio": "silent"}
    heard = audio_speech(level, seq["time"])
    said = _decide(seq, options)
    tp = int((said & heard).sum())
    return {
        "video": path.stem,
        "audio_speech_fraction": round(float(heard.mean()), 3),
        "visual_speech_fraction": round(float(said.mean()), 3),
        "precision": round(tp / max(int(said.sum()), 1), 3),
        "recall": round(tp / max(int(heard.sum()), 1), 3),
        "agreement": round(float((said == heard).mean()), 3),
    }


def multi_person(options: VadOptions) -> list[dict[str, Any]]:
    """Talking video 1 next to a frozen video 2 and vice versa: per face speaking fractions."""
    a, fps = _read(VIDEOS[0])
    b, _ = _read(VIDEOS[1])
    n = min(len(a), len(b), int(4 * fps))
    rows = []
    for left, right, who in ((a[:n], synthetic.frozen(b[:n]), "left"),
                             (synthetic.frozen(a[:n]), b[:n], "right")):  # fmt: skip
        frames = synthetic.as_frames(synthetic.side_by_side(left, right), fps)
        result = extract_frames(frames, vad=options)
        half = frames[0].rgb.shape[1] / 2
        faces = []
        for track in result.tracks:
            side = "left" if float(track.mouth[:, 0].mean()) < half else "right"
            faces.append({"track": track.track, "side": side, "frames": len(track.time),
                          "speaking_fraction": round(track.speaking_fraction, 3)})  # fmt: skip
        rows.append({"speaker": who, "width": 2 * half, "tracks": faces})
    return rows


def speed(path: Path, seconds: float = 4.0) -> dict[str, float]:
    images, fps = _read(path)
    images = images[: int(seconds * fps)]
    padded = [cv2.copyMakeBorder(cv2.resize(im, (480, 480)), 0, 0, 187, 187,
                                 cv2.BORDER_CONSTANT) for im in images]  # fmt: skip
    extractor = LipExtractor(max_faces=1)
    frames = synthetic.as_frames(padded, fps)
    extractor.add(frames[0])  # load the models
    extractor.seconds = dict.fromkeys(extractor.seconds, 0.0)
    start = time.perf_counter()
    for frame in frames[1:]:
        extractor.add(frame)
    total = time.perf_counter() - start
    tracks_start = time.perf_counter()
    extractor.finish()
    vad_s = time.perf_counter() - tracks_start
    n = len(frames) - 1
    return {
        "frames": n,
        "size": "854x480",
        "lips_fps_given_mesh": round(n / (extractor.seconds["lips"] + vad_s), 1),
        "lips_ms_per_frame": round(1000 * extractor.seconds["lips"] / n, 2),
        "vad_ms_per_frame": round(1000 * vad_s / n, 3),
        "mesh_ms_per_frame": round(1000 * extractor.seconds["mesh"] / n, 1),
        "detect_ms_per_frame": round(1000 * extractor.seconds["detect"] / n, 1),
        "end_to_end_fps": round(n / total, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--skip-multi", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--max-fpr", type=float, default=0.02, help="False-positive rate allowed on negatives."
    )
    args = parser.parse_args()
    if not all(v.is_file() for v in VIDEOS):
        sys.exit(f"the talking-head videos are not in {TESTDATA / 'video'}")
    report: dict[str, Any] = {}
    if not args.skip_speed:
        report["speed"] = speed(VIDEOS[0])
        print(json.dumps(report["speed"]), flush=True)
    base = VadOptions()
    all_seqs = {v.stem: sequences(v, args.cache) for v in VIDEOS}
    report["rotation"] = rotation(all_seqs, base, args.max_fpr)
    report["threshold_all_videos"] = choose_threshold(list(all_seqs.values()), base, args.max_fpr)
    print(json.dumps({"threshold_all_videos": report["threshold_all_videos"]}), flush=True)
    for row in report["rotation"]:
        print(json.dumps(row), flush=True)
    report["audio"] = [against_audio(v, all_seqs[v.stem]["talking"], base) for v in VIDEOS]
    for row in report["audio"]:
        print(json.dumps(row), flush=True)
    if not args.skip_multi:
        report["multi_person"] = multi_person(base)
        print(json.dumps(report["multi_person"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
