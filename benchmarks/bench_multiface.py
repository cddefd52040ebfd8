"""Multi-face benchmark: detection recall and false detections on composite group photos.

What is measured
----------------
The project has no labelled crowd photos, so this benchmark composes them: N seeded,
deterministic scenes (640x480 and 1280x960, alternating), each a non-face photo from
scikit-image (coffee, rocket, brick, grass, gravel, Hubble deep field, immunohistochemistry,
motorcycle, colour wheel, coins), randomly cropped and resized to the canvas, with 3-9
faces pasted in. These are composites, not real crowd photos.

Face sources:

* ``<testdata>/faces/public_portraits/*``: public-domain portraits, whole photos. Each
  face is found once per run on the source photo; its box is the mean of the RetinaFace
  and YuNet boxes (a face both find, IoU >= 0.5), and it is cut out with a margin of 0.6
  face widths on each side;
* ``skimage.data.astronaut()`` (face box found the same way);
* ``skimage.data.lfw_subset()``: the 100 face patches (25x25 greyscale, tight: the patch is
  the face box), used only for faces up to 64 px high (at most 2.6x upscaled).

Each face is resized so its box is 20 px to 45% of the canvas height high (log-uniform),
mirrored at random, rotated by up to +-15 degrees, its brightness scaled by 0.6-1.3, and
blended in through a feathered elliptical mask, so the seams are not hard edges. Faces
may overlap their neighbours slightly (intersection up to 15% of the smaller face box).
In every third scene the first face is a large foreground face (25-45% of the canvas
height) with 20-45% of its face box outside the frame; other faces lie inside the frame.

Ground truth: the face box carried through the paste (same size, centre rotated with the
crop), clipped to the canvas. Tags: ``border_cut`` (part of the box outside the frame),
``small`` (box under 40 px high), ``large`` (box at least 25% of the canvas height).

Each available detector runs through ``detect_faces`` with default options. Detections
are matched greedily, most confident first, to the unmatched ground-truth box of highest
IoU, when that IoU is at least 0.3; an unmatched detection is a false detection.
Reported per detector: recall (all faces, border-cut, small, large; also per canvas
size), false detections per scene and the median detection time per scene (one thread).

How to run
----------
::

    python benchmarks/bench_multiface.py                 # ~15 seconds, one thread
    python benchmarks/bench_multiface.py --scenes 60 --seed 0 --json out/bench_multiface.json
    python benchmarks/bench_multiface.py --save-scenes out/multiface  # scenes with GT drawn

The test data root is ``$FACESCOPE_TESTDATA``, else ``../shared/testdata`` next to the
repository; without the portraits, only the astronaut and LFW faces are used.
"""

from __future__ import annotations

import os

os.environ["FACESCOPE_THREADS"] = "1"

import argparse
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data

from facescope.detect.faces import DETECTORS, DetectOptions, detect_faces
from facescope.io.image import load_image

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("FACESCOPE_TESTDATA", ROOT.parent / "shared" / "testdata"))
PORTRAITS = TESTDATA / "faces" / "public_portraits"
#: Non-face scikit-image photos used as backgrounds.
BACKGROUNDS = (
    "coffee",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "stereo_motorcycle",
    "colorwheel",
    "coins",
)
CANVASES = ((640, 480), (1280, 960))
MARGIN = 0.6  # face widths of context cut out on each side of a source face
IOU_MATCH = 0.3
SMALL_PX = 40
LARGE_FRACTION = 0.25
LFW_MAX_PX = 64
MAX_OVERLAP = 0.15


@dataclass
class Source:
    """A face cut out of a photo: the crop and the face box inside it (x0, y0, x1, y1)."""

    name: str
    crop: np.ndarray
    box: tuple[float, float, float, float]

    @property
    def face_height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class Scene:
    rgb: np.ndarray
    boxes: np.ndarray  # (n, 4) ground-truth face boxes, clipped to the canvas
    tags: list[dict[str, bool]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (n, 4) with every box of `b` (m, 4), xyxy."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9))


def _agreed_boxes(rgb: np.ndarray) -> list[np.ndarray]:
    """Face boxes RetinaFace and YuNet both find (IoU >= 0.5): the mean of the two."""
    ret = detect_faces(rgb, options=DetectOptions(detector="retinaface")).boxes
    yun = detect_faces(rgb, options=DetectOptions(detector="yunet")).boxes
    if len(ret) == 0 or len(yun) == 0:
        return []
    overlap = iou(ret, yun)
    return [(ret[i] + yun[j]) / 2 for i, j in enumerate(overlap.argmax(1)) if overlap[i, j] >= 0.5]


def _cut(name: str, rgb: np.ndarray, box: np.ndarray) -> Source:
    """Cut `box` out of `rgb` with MARGIN face widths around it (clipped to the photo)."""
    height, width = rgb.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    pad = MARGIN * max(bw, bh)
    x0, y0 = max(0, int(box[0] - pad)), max(0, int(box[1] - pad))
    x1, y1 = min(width, math.ceil(box[2] + pad)), min(height, math.ceil(box[3] + pad))
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    return Source(name, crop, (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0))


def face_sources() -> tuple[list[Source], list[Source]]:
    """Photo faces (portraits, astronaut) and LFW patches, each found once per run."""
    astronaut = skimage.data.astronaut()  # type: ignore[no-untyped-call]
    photos: list[tuple[str, np.ndarray]] = [("astronaut", astronaut)]
    if PORTRAITS.is_dir():
        for path in sorted(PORTRAITS.glob("*.jpg")):
            photos.append((path.stem, load_image(path)))
    else:
        print(f"no portraits at {PORTRAITS}: astronaut and LFW faces only", flush=True)
    faces = []
    for name, rgb in photos:
        height, width = rgb.shape[:2]
        for k, box in enumerate(_agreed_boxes(rgb)):
            # a face the photo itself cuts (barack_obama_partial) has no true box here
            touches = box[0] < 2 or box[1] < 2 or box[2] > width - 2 or box[3] > height - 2
            if box[3] - box[1] >= 40 and not touches:
                faces.append(_cut(f"{name}#{k}", rgb, box))
    # the first 100 patches are faces, the rest are not
    lfw = skimage.data.lfw_subset()[:100]  # type: ignore[no-untyped-call]
    patches = [
        Source(
            f"lfw#{i}",
            np.repeat((p * 255).round().astype(np.uint8)[..., None], 3, 2),
            (0.0, 0.0, 25.0, 25.0),
        )
        for i, p in enumerate(lfw)
    ]
    return faces, patches


def background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    name = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, 2)
    image = np.asarray(image[..., :3], np.uint8)
    ih, iw = image.shape[:2]
    # a random 4:3 window covering 60-100% of what fits, then resized to the canvas
    fit = min(iw / 4, ih / 3)
    scale = fit * rng.uniform(0.6, 1.0)
    cw, ch = int(4 * scale), int(3 * scale)
    x0, y0 = rng.integers(0, iw - cw + 1), rng.integers(0, ih - ch + 1)
    window = image[y0 : y0 + ch, x0 : x0 + cw]
    return np.asarray(cv2.resize(window, (width, height), interpolation=cv2.INTER_CUBIC))


def _prepare(
    source: Source, target: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crop scaled so its face is `target` px high, mirrored, rotated, re-lit.

    Returns the crop (float32 RGB), its alpha mask (float32, 0-1) and the face box in it.
    """
    scale = target / source.face_height
    crop = source.crop
    ch, cw = crop.shape[:2]
    size = (max(2, round(cw * scale)), max(2, round(ch * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    img = cv2.resize(crop, size, interpolation=interpolation).astype(np.float32)
    box = np.asarray(source.box, np.float32) * np.asarray(
        [size[0] / cw, size[1] / ch, size[0] / cw, size[1] / ch], np.float32
    )
    w, h = size
    if rng.random() < 0.5:
        img = img[:, ::-1]
        box = np.asarray([w - box[2], box[1], w - box[0], box[3]], np.float32)
    # feathered ellipse over the whole crop; LFW patches (no margin) get a tighter feather
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - (w - 1) / 2) / (w / 2)) ** 2 + ((yy - (h - 1) / 2) / (h / 2)) ** 2
    feather = 0.25 if source.name.startswith("lfw") else 0.35
    mask = np.clip((1.0 - r) / feather, 0, 1).astype(np.float32)
    img *= rng.uniform(0.6, 1.3)
    angle = rng.uniform(-15, 15)
    centre = ((w - 1) / 2, (h - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = math.ceil(w * cos + h * sin), math.ceil(w * sin + h * cos)
    matrix[0, 2] += (nw - w) / 2
    matrix[1, 2] += (nh - h) / 2
    turned = cv2.warpAffine(img, matrix, (nw, nh), flags=cv2.INTER_LINEAR)
    turned_mask = cv2.warpAffine(mask, matrix, (nw, nh), flags=cv2.INTER_LINEAR)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ncx, ncy = matrix @ np.asarray([cx, cy, 1.0])
    bw, bh = box[2] - box[0], box[3] - box[1]
    rotated_box = np.asarray([ncx - bw / 2, ncy - bh / 2, ncx + bw / 2, ncy + bh / 2])
    return np.asarray(turned, np.float32), np.asarray(turned_mask, np.float32), rotated_box


def _paste(canvas: np.ndarray, img: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend `img` into the float canvas with its top left corner at (x, y)."""
    height, width = canvas.shape[:2]
    h, w = mask.shape
    cx0, cy0, cx1, cy1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    part = (slice(cy0 - y, cy1 - y), slice(cx0 - x, cx1 - x))
    alpha = mask[part][..., None]
    region = canvas[cy0:cy1, cx0:cx1]
    canvas[cy0:cy1, cx0:cx1] = region * (1 - alpha) + img[part] * alpha


def _overlaps(box: np.ndarray, placed: list[np.ndarray]) -> bool:
    """Whether `box` covers more than MAX_OVERLAP of itself or of a placed face box."""
    for other in placed:
        iw = min(box[2], other[2]) - max(box[0], other[0])
        ih = min(box[3], other[3]) - max(box[1], other[1])
        if iw > 0 and ih > 0:
            smaller = min(
                (box[2] - box[0]) * (box[3] - box[1]), (other[2] - other[0]) * (other[3] - other[1])
            )
            if iw * ih > MAX_OVERLAP * smaller:
                return True
    return False


def _covers(mask: np.ndarray, x: int, y: int, placed: list[np.ndarray]) -> bool:
    """Whether the opaque part of a crop at (x, y) hides over MAX_OVERLAP of a placed face."""
    h, w = mask.shape
    for box in placed:
        x0, y0 = max(int(box[0]), x), max(int(box[1]), y)
        x1, y1 = min(math.ceil(box[2]), x + w), min(math.ceil(box[3]), y + h)
        if x1 <= x0 or y1 <= y0:
            continue
        hidden = float((mask[y0 - y : y1 - y, x0 - x : x1 - x] > 0.5).sum())
        if hidden > MAX_OVERLAP * (box[2] - box[0]) * (box[3] - box[1]):
            return True
    return False


def compose(
    index: int, rng: np.random.Generator, photos: list[Source], patches: list[Source]
) -> Scene:
    width, height = CANVASES[index % len(CANVASES)]
    canvas = background(rng, (width, height)).astype(np.float32)
    n_faces = int(rng.integers(3, 10))
    cut_scene = index % 3 == 0
    boxes: list[np.ndarray] = []
    tags: list[dict[str, bool]] = []
    names: list[str] = []
    # largest first: a face pasted later must not cover an earlier one (checked below)
    targets = sorted(
        (math.exp(rng.uniform(math.log(20), math.log(0.45 * height))) for _ in range(n_faces)),
        reverse=True,
    )
    if cut_scene:
        targets[0] = rng.uniform(0.25, 0.45) * height
    for k, target in enumerate(targets):
        border_cut = cut_scene and k == 0
        for _attempt in range(60):
            use_lfw = target <= LFW_MAX_PX and rng.random() < 0.5
            # photo faces are upscaled at most 2x where a sharper source allows
            sharp = [s for s in photos if target <= 2 * s.face_height] or photos
            pool = patches if use_lfw else sharp
            source = pool[int(rng.integers(len(pool)))]
            img, mask, fbox = _prepare(source, target, rng)
            bw, bh = fbox[2] - fbox[0], fbox[3] - fbox[1]
            if border_cut:
                outside = rng.uniform(0.2, 0.45)
                side = int(rng.integers(4))  # left, right, top, bottom
                # the face box reaches `outside` of its width (height) beyond that edge
                fx0 = [
                    -outside * bw,
                    width - (1 - outside) * bw,
                    rng.uniform(0, max(1.0, width - bw)),
                    rng.uniform(0, max(1.0, width - bw)),
                ][side]
                fy0 = [
                    rng.uniform(0, max(1.0, height - bh)),
                    rng.uniform(0, max(1.0, height - bh)),
                    -outside * bh,
                    height - (1 - outside) * bh,
                ][side]
            else:
                if bw >= width or bh >= height:
                    target *= 0.8
                    continue
                fx0, fy0 = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
            x, y = round(fx0 - fbox[0]), round(fy0 - fbox[1])
            placed = fbox + np.asarray([x, y, x, y])
            if not _overlaps(placed, boxes) and not _covers(mask, x, y, boxes):
                break
            if _attempt % 10 == 9:
                target = max(20.0, target * 0.8)
        else:
            continue  # no room left for this face
        _paste(canvas, img, mask, x, y)
        clipped = np.asarray(
            [
                max(0.0, placed[0]),
                max(0.0, placed[1]),
                min(float(width), placed[2]),
                min(float(height), placed[3]),
            ]
        )
        area = (placed[2] - placed[0]) * (placed[3] - placed[1])
        kept = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / area
        boxes.append(placed)
        tags.append(
            {
                "border_cut": bool(kept < 0.999),
                "small": bool(bh < SMALL_PX),
                "large": bool(bh >= LARGE_FRACTION * height),
            }
        )
        names.append(source.name)
    gt = np.asarray(
        [
            [max(0.0, b[0]), max(0.0, b[1]), min(float(width), b[2]), min(float(height), b[3])]
            for b in boxes
        ],
        np.float32,
    ).reshape(-1, 4)
    rgb = np.clip(canvas, 0, 255).round().astype(np.uint8)
    return Scene(rgb, gt, tags, names)


def match(gt: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Greedy matching, most confident detection first: (GT matched mask, false detections)."""
    matched = np.zeros(len(gt), bool)
    false = 0
    overlap = iou(boxes, gt) if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
    for d in np.argsort(-scores, kind="stable"):
        candidates = np.where(~matched, overlap[d], -1.0) if len(gt) else np.zeros(0)
        if len(candidates) and candidates.max() >= IOU_MATCH:
            matched[int(candidates.argmax())] = True
        else:
            false += 1
    return matched, false


def _recall(hits: list[bool]) -> dict[str, Any]:
    return {"found": int(sum(hits)), "total": len(hits), "recall": sum(hits) / max(1, len(hits))}


def evaluate(
    detector: str, scenes: list[Scene], options: DetectOptions, min_size: float | None = None
) -> dict[str, Any]:
    detect_faces(scenes[0].rgb, options=options)  # warm-up: model load, first inference
    hits: dict[str, list[bool]] = {
        "all": [],
        "border_cut": [],
        "small": [],
        "large": [],
        **{f"{w}x{h}": [] for w, h in CANVASES},
        "photo_faces": [],
        "lfw_patches": [],
        "small_photo_faces": [],
        "small_lfw_patches": [],
    }
    false, times, per_scene = [], [], []
    for scene in scenes:
        start = time.perf_counter()
        faces = detect_faces(scene.rgb, min_size=min_size, options=options)
        times.append((time.perf_counter() - start) * 1000)
        matched, n_false = match(scene.boxes, faces.boxes, faces.scores)
        false.append(n_false)
        size = f"{scene.rgb.shape[1]}x{scene.rgb.shape[0]}"
        for hit, tag, name in zip(matched.tolist(), scene.tags, scene.sources, strict=True):
            hits["all"].append(hit)
            hits[size].append(hit)
            kind = "lfw_patches" if name.startswith("lfw") else "photo_faces"
            hits[kind].append(hit)
            if tag["small"]:
                hits[f"small_{kind}"].append(hit)
            for key in ("border_cut", "small", "large"):
                if tag[key]:
                    hits[key].append(hit)
        per_scene.append({"faces": len(scene.boxes), "found": int(matched.sum()), "false": n_false})
    return {
        "detector": detector,
        "recall": {key: _recall(value) for key, value in hits.items()},
        "false_detections": int(sum(false)),
        "false_per_scene": sum(false) / len(scenes),
        "ms_per_scene_median": statistics.median(times),
        "ms_per_scene_median_by_size": {
            f"{w}x{h}": statistics.median(
                t for t, s in zip(times, scenes, strict=True) if s.rgb.shape[1] == w
            )
            for w, h in CANVASES
        },
        "scenes": per_scene,
    }


def _scrfd_enabled() -> bool:
    """SCRFD runs only where its non-commercial licence was accepted (and is installed)."""
    from facescope.models import consent

    try:
        if not consent.is_enabled("arcface-mbf"):
            print("scrfd skipped: its licence is not accepted (facescope models enable)")
            return False
        from facescope.detect.faces import _scrfd

        _scrfd.get()
    except Exception as exc:
        print(f"scrfd skipped: {exc}", flush=True)
        return False
    return True


def save_scene(scene: Scene, path: Path, faces: Any = None) -> None:
    bgr = cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2BGR)
    for box, tag in zip(scene.boxes.round().astype(int), scene.tags, strict=True):
        colour = (0, 0, 255) if tag["border_cut"] else (0, 255, 0)
        cv2.rectangle(bgr, tuple(box[:2].tolist()), tuple(box[2:].tolist()), colour, 2)
    if faces is not None:
        for box in faces.boxes.round().astype(int):
            cv2.rectangle(bgr, tuple(box[:2].tolist()), tuple(box[2:].tolist()), (255, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), bgr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60, help="number of composite scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--min-size", type=float, help="detect_faces(min_size=...): default None, as shipped"
    )
    parser.add_argument(
        "--max-side",
        type=int,
        default=DetectOptions().max_side,
        help="DetectOptions(max_side=...): the single-pass working size",
    )
    parser.add_argument("--save-scenes", type=Path, help="write the scenes, GT drawn, here")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    photos, patches = face_sources()
    rng = np.random.default_rng(args.seed)
    scenes = [compose(i, rng, photos, patches) for i in range(args.scenes)]
    tags = [t for s in scenes for t in s.tags]
    summary = {
        "scenes": len(scenes),
        "seed": args.seed,
        "faces": len(tags),
        "border_cut": sum(t["border_cut"] for t in tags),
        "small": sum(t["small"] for t in tags),
        "large": sum(t["large"] for t in tags),
        "photo_sources": [s.name for s in photos],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "photo_sources"}), flush=True)
    if args.save_scenes:
        for i, scene in enumerate(scenes):
            save_scene(scene, args.save_scenes / f"scene_{i:03d}.jpg")

    detectors = [d for d in DETECTORS if d != "scrfd" or _scrfd_enabled()]
    results: dict[str, Any] = {
        "protocol": summary,
        "iou_match": IOU_MATCH,
        "min_size": args.min_size,
        "max_side": args.max_side,
    }
    for detector in detectors:
        options = DetectOptions(detector=detector, max_side=args.max_side)
        results[detector] = evaluate(detector, scenes, options, args.min_size)

    print(
        "\n| detector | recall, all | photo faces | border-cut | small (<40 px), photo | "
        "small, LFW patch | large | "
        + " | ".join(f"recall {w}x{h}" for w, h in CANVASES)
        + " | false / scene | ms / scene (median) |"
    )
    print("| --- " * (9 + len(CANVASES)) + "|")
    for detector in detectors:
        r = results[detector]
        rec = r["recall"]

        def cell(key: str, rec: dict[str, Any] = rec) -> str:
            return f"{rec[key]['recall']:.3f} ({rec[key]['found']}/{rec[key]['total']})"

        print(
            f"| {detector} | {cell('all')} | {cell('photo_faces')} | {cell('border_cut')} | "
            f"{cell('small_photo_faces')} | {cell('small_lfw_patches')} | {cell('large')} | "
            + " | ".join(cell(f"{w}x{h}") for w, h in CANVASES)
            + f" | {r['false_per_scene']:.2f} | {r['ms_per_scene_median']:.1f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
