"""Performance-driven animation: perceptual consistency, jitter, lag, correlations, speed.

Run: ``OMP_NUM_THREADS=1 FACESCOPE_THREADS=1 .venv/bin/python benchmarks/bench_animate.py``
(``--out FILE`` writes the numbers as JSON; ``--limit N`` caps the CK+ sequences).

1. **Perceptual consistency**: for the last (peak) frame of each CK+ sequence in
   ``../shared/testdata/expression`` (48x48 grey, upscaled 4x; contempt skipped: the
   recogniser has no such class) the expression recogniser runs on the source and
   on the character rendered from the solved blendshapes (``measured``: the
   built-in head driven shape for shape) and from the emotion transfer
   (``transfer``: the recognised expression's pose scaled by its intensity,
   :func:`facescope.animate.transfer_emotion`'s rule). The render is a 112x112
   crop passed with ``assume_aligned=True``. Agreement = the character's top
   expression equals the source's; also the share equal to the CK+ label. The same
   on every 10th frame of the talking-head videos.
2. **Jitter**: a still face (a talking-head frame repeated with fresh sensor noise,
   sigma 2 grey levels): mean frame-to-frame change of the 52 coefficients, raw and
   filtered. **Lag**: a synthetic blink and a jaw step on the canonical mesh: frames
   from the raw signal crossing 0.5 to the filtered one crossing it.
3. **Correlations** over the talking-head videos: ``jawOpen`` with the measured mouth
   openness, ``eyeBlink*`` with the eye aspect ratio of the same eye.
4. **Speed** on 854x480 frames, one core: detector + mesh; solve (alignment,
   measures, 52 rules) + filter + retarget given the mesh.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("FACESCOPE_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import TESTDATA  # noqa: E402

from facescope.analysis.expression.au_head import default_head  # noqa: E402
from facescope.analysis.expression.ensemble import default_ensemble  # noqa: E402
from facescope.analysis.expression.labels import EXPRESSIONS  # noqa: E402
from facescope.analysis.eyes import eye_aspect_ratio, mouth_openness  # noqa: E402
from facescope.analysis.geometry import EAR_LEFT, EAR_RIGHT, face_geometry, to_canonical  # noqa: E402
from facescope.analysis.mesh import shared_mesher  # noqa: E402
from facescope.analysis.pose import head_pose  # noqa: E402
from facescope.animate.filter import ShapeFilter  # noqa: E402
from facescope.animate.performance import expression_pose  # noqa: E402
from facescope.animate.render import render_aligned, render_head  # noqa: E402
from facescope.animate.rig import Rig  # noqa: E402
from facescope.animate.shapes import INDEX, SHAPES  # noqa: E402
from facescope.animate.solver import (  # noqa: E402
    NeutralCalibration,
    mesh_measures,
    solve_measures,
)
from facescope.io.image import load_image  # noqa: E402
from facescope.io.video import open_video  # noqa: E402
from facescope.pipeline import find_faces  # noqa: E402

EXPRESSION_DIR = TESTDATA / "expression"
VIDEO_DIR = TESTDATA / "video"
LABELS = {"happy": "happiness", "anger": "anger", "disgust": "disgust", "fear": "fear",
          "sadness": "sadness", "surprise": "surprise"}  # fmt: skip


def character_probs(weights: np.ndarray) -> np.ndarray:
    """The recogniser's (7,) probabilities on the character's aligned 112x112 render."""
    rgb = render_aligned(weights)
    return default_ensemble().predict_proba(rgb, find_faces(rgb, assume_aligned=True))[0]


def character_label(weights: np.ndarray) -> str | None:
    return EXPRESSIONS[int(np.argmax(character_probs(weights)))]


def transfer_weights(label: str, probs_neutral: float, measured: np.ndarray) -> np.ndarray:
    intensity = 1.0 - probs_neutral
    if label == "neutral":
        return np.clip(measured * min(1.0, intensity / 0.5), 0, 1)
    return np.clip(intensity * np.maximum(expression_pose(label), measured), 0, 1)


def source_frame(rgb: np.ndarray) -> tuple[Any, Any, np.ndarray] | None:
    faces = find_faces(rgb, max_faces=1, assume_aligned=False)
    if len(faces) == 0:
        return None
    mesh = shared_mesher().mesh(rgb, faces.boxes[0])
    if mesh is None:
        return None
    probs = default_ensemble().predict_proba(
        rgb, faces, extra={"au_head": default_head().predict_mesh(mesh.points)}
    )[0]
    return faces, mesh, probs


def consistency(limit: int | None) -> dict[str, Any]:
    with open(EXPRESSION_DIR / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    last: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["label"] in LABELS:
            last[row["sequence"]] = row  # rows are in frame order: the last is the peak
    samples = list(last.values())[: limit or None]
    stats: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in samples:
        truth = LABELS[row["label"]]
        grey = load_image(EXPRESSION_DIR / row["path"])
        big = cv2.resize(grey, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
        found = source_frame(big)
        if found is None:
            stats[truth]["no_face"].append(1)
            continue
        _, mesh, probs = found
        source = EXPRESSIONS[int(np.argmax(probs))]
        measured = solve_measures(mesh_measures(mesh.points))
        rest = character_probs(np.zeros(len(SHAPES)))
        for mode, weights in (
            ("measured", measured),
            ("transfer", transfer_weights(source, float(probs[6]), measured)),
        ):
            p = character_probs(weights)
            label = EXPRESSIONS[int(np.argmax(p))]
            stats[truth][f"{mode}_agree"].append(int(label == source))
            stats[truth][f"{mode}_truth"].append(int(label == truth))
            # the weaker, relative test: the source's expression gains probability on the
            # character over the character at rest
            k = EXPRESSIONS.index(source)
            stats[truth][f"{mode}_rises"].append(int(p[k] > rest[k] + 0.01))
        stats[truth]["source_truth"].append(int(source == truth))
    table = {
        expr: {key: round(float(np.mean(v)), 3) if key != "no_face" else len(v)
               for key, v in cells.items()} | {"n": len(cells.get("source_truth", []))}
        for expr, cells in sorted(stats.items())
    }  # fmt: skip
    overall = {}
    for key in (
        "measured_agree",
        "transfer_agree",
        "measured_rises",
        "transfer_rises",
        "source_truth",
        "measured_truth",
        "transfer_truth",
    ):
        values = [x for cells in stats.values() for x in cells.get(key, [])]
        overall[key] = round(float(np.mean(values)), 3) if values else None
    return {"per_expression": table, "overall": overall}


def video_frames(path: Path, every: int = 1, max_frames: int = 300):
    with open_video(path, max_frames=max_frames) as video:
        for frame in video:
            if frame.index % every == 0:
                yield frame


def video_consistency() -> dict[str, Any]:
    agree: dict[str, list[int]] = defaultdict(list)
    rises: dict[str, list[int]] = defaultdict(list)
    for path in sorted(VIDEO_DIR.glob("*.mp4")):
        for frame in video_frames(path, every=10, max_frames=150):
            found = source_frame(frame.rgb)
            if found is None:
                continue
            _, mesh, probs = found
            source = EXPRESSIONS[int(np.argmax(probs))]
            measured = solve_measures(mesh_measures(mesh.points))
            agree[source].append(int(character_label(measured) == source))
            p, rest = character_probs(measured), character_probs(np.zeros(len(SHAPES)))
            k = EXPRESSIONS.index(source)
            rises[source].append(int(p[k] > rest[k] + 0.01))
    return {
        k: {"n": len(v), "agree": round(float(np.mean(v)), 3),
            "rises": round(float(np.mean(rises[k])), 3)}
        for k, v in agree.items()
    }  # fmt: skip


def _canonical_blink(closed: float) -> np.ndarray:
    mesh = face_geometry().canonical.copy()
    eyes = (
        ((386, 385, 387, 384, 398, 388, 466), (374, 373, 380, 381, 382, 390)),
        ((159, 158, 160, 161, 246, 157, 173), (145, 144, 153, 154, 155, 163)),
    )
    for upper, lower in eyes:
        target = mesh[list(lower), 1].mean()
        for i in upper:
            mesh[i, 1] += closed * (target - mesh[i, 1])
    return mesh


def jitter_and_lag() -> dict[str, Any]:
    out: dict[str, Any] = {}
    path = VIDEO_DIR / "talking_head_1.mp4"
    if path.is_file():
        first = next(iter(video_frames(path, max_frames=1))).rgb
        rng = np.random.default_rng(0)
        raw, filtered = [], []
        filt = ShapeFilter()
        faces = find_faces(first, max_faces=1)
        measures = []
        for _ in range(90):
            noisy = np.clip(first + rng.normal(0, 2.0, first.shape), 0, 255).astype(np.uint8)
            mesh = shared_mesher().mesh(noisy, faces.boxes[0])
            if mesh is not None:
                measures.append(mesh_measures(mesh.points))
        neutral = NeutralCalibration.calmest(np.stack(measures))
        for k, m in enumerate(measures):
            w = solve_measures(m, neutral)
            raw.append(w)
            filtered.append(filt(w, np.zeros(3), k / 30.0)[0])
        raw_a, filt_a = np.array(raw), np.array(filtered)
        out["still_face"] = {
            "frames": len(raw_a),
            "raw_mean_abs_step": round(float(np.abs(np.diff(raw_a, axis=0)).mean()), 5),
            "filtered_mean_abs_step": round(float(np.abs(np.diff(filt_a, axis=0)).mean()), 5),
            "raw_max_std": round(float(raw_a.std(0).max()), 4),
            "filtered_max_std": round(float(filt_a[10:].std(0).max()), 4),
            "worst_shape_raw": SHAPES[int(raw_a.std(0).argmax())],
        }
    # blink and jaw lag on synthetic meshes (30 fps)
    neutral = NeutralCalibration.from_meshes([face_geometry().canonical])
    lags = {}
    for name, make in (
        ("eyeBlinkLeft", lambda on: _canonical_blink(0.95 * on)),
        ("jawOpen", lambda on: _jaw(18.0 * on)),
    ):
        filt = ShapeFilter()
        raw, filtered = [], []
        for k in range(60):
            on = 1.0 if 30 <= k < 36 else 0.0
            w = solve_measures(mesh_measures(make(on)), neutral)
            raw.append(w[INDEX[name]])
            filtered.append(filt(w, np.zeros(3), k / 30.0)[0][INDEX[name]])
        r, f = np.array(raw), np.array(filtered)
        lags[name] = {
            "raw_peak": round(float(r.max()), 3),
            "filtered_peak": round(float(f.max()), 3),
            "lag_frames_at_half": int(np.argmax(f > 0.5 * r.max()) - np.argmax(r > 0.5 * r.max())),
        }
    out["lag"] = lags
    return out


def _jaw(mm: float) -> np.ndarray:
    mesh = face_geometry().canonical.copy()
    lower = (mesh[:, 1] > mesh[14, 1] - 0.5) & (np.abs(mesh[:, 0]) < 60)
    mesh[lower, 1] += mm
    return mesh


def correlations() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(VIDEO_DIR.glob("*.mp4")):
        measures, mouth, ears = [], [], []
        for frame in video_frames(path, max_frames=300):
            faces = find_faces(frame.rgb, max_faces=1)
            mesh = shared_mesher().mesh(frame.rgb, faces.boxes[0]) if len(faces) else None
            if mesh is None:
                continue
            canonical = to_canonical(mesh.points)
            measures.append(mesh_measures(mesh.points))
            mouth.append(mouth_openness(canonical))
            ears.append(
                (eye_aspect_ratio(canonical, EAR_LEFT), eye_aspect_ratio(canonical, EAR_RIGHT))
            )
        stack = np.stack(measures)
        w = solve_measures(stack, NeutralCalibration.calmest(stack))
        e = np.array(ears)

        def corr(a: np.ndarray, b: np.ndarray) -> float | None:
            return (
                None if a.std() == 0 or b.std() == 0 else round(float(np.corrcoef(a, b)[0, 1]), 3)
            )

        out[path.name] = {
            "frames": len(stack),
            "jawOpen_vs_mouth_openness": corr(w[:, INDEX["jawOpen"]], np.array(mouth)),
            "eyeBlinkLeft_vs_ear_left": corr(w[:, INDEX["eyeBlinkLeft"]], e[:, 0]),
            "eyeBlinkRight_vs_ear_right": corr(w[:, INDEX["eyeBlinkRight"]], e[:, 1]),
            "frames_blink_over_0.5": int((w[:, INDEX["eyeBlinkLeft"]] > 0.5).sum()),
        }
    return out


def speed() -> dict[str, Any]:
    path = VIDEO_DIR / "talking_head_1.mp4"
    frames = [cv2.resize(f.rgb, (854, 480)) for f in video_frames(path, max_frames=60)]
    t0 = time.perf_counter()
    meshes = []
    for rgb in frames:
        faces = find_faces(rgb, max_faces=1)
        meshes.append((shared_mesher().mesh(rgb, faces.boxes[0]), rgb.shape))
    t1 = time.perf_counter()
    rig = Rig.load("toon")
    filt = ShapeFilter()
    neutral = NeutralCalibration.population()
    for k, (mesh, shape) in enumerate(meshes):
        if mesh is None:
            continue
        pose = head_pose(mesh.points, (shape[1], shape[0]))
        w = solve_measures(mesh_measures(mesh.points), neutral)
        w, _ = filt(w, np.array([pose.yaw, pose.pitch, pose.roll]) if pose else np.zeros(3), k / 30)
        rig.head_weights(rig.evaluate(w))
    t2 = time.perf_counter()
    render_start = time.perf_counter()
    for _ in range(20):
        render_head(np.zeros(52), size=240)
    render_s = (time.perf_counter() - render_start) / 20
    n = len(frames)
    return {
        "frames": n,
        "detect_mesh_fps": round(n / (t1 - t0), 1),
        "detect_mesh_ms": round(1000 * (t1 - t0) / n, 2),
        "pose_solve_filter_retarget_fps": round(n / (t2 - t1), 1),
        "pose_solve_filter_retarget_ms": round(1000 * (t2 - t1) / n, 3),
        "render_240_ms": round(1000 * render_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="CK+ sequences (default all)")
    args = parser.parse_args()
    if not (EXPRESSION_DIR / "labels.csv").is_file() or not VIDEO_DIR.is_dir():
        sys.exit(f"shared test data not found under {TESTDATA}")
    results = {
        "speed": speed(),
        "jitter_and_lag": jitter_and_lag(),
        "correlations": correlations(),
        "consistency_ckplus": consistency(args.limit),
        "consistency_videos": video_consistency(),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
