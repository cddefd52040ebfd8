"""Finding faces: one detector network behind scale handling, low-light retry and face order.

Three networks give rows of the same layout (box, five landmarks, score):

* ``retinaface`` (default): RetinaFace MobileNet-0.25 (:mod:`facescope.detect.retinaface`),
  the best landmarks of the freely licensed detectors, which is what aligns faces;
* ``yunet``: YuNet (:mod:`facescope.detect.yunet`), a little faster, weaker landmarks;
* ``scrfd``: SCRFD-500M (:mod:`facescope.detect.scrfd`), opt-in under InsightFace's
  non-commercial licence (``facescope models enable arcface-mbf --accept-licence``).

Choose with ``DetectOptions(detector=...)`` or ``FACESCOPE_DETECTOR`` for every call
that does not choose. Whatever the network, large photos are downscaled to a working
size first (full-resolution multi-megapixel input makes detectors miss faces); faces
smaller than the working scale can resolve are recovered by tiling at a finer scale;
small images are upscaled; tight face crops, where the face fills the frame, are
retried with a border; and dark images are searched on a contrast-equalised copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.detect import scrfd
from facescope.detect.retinaface import RetinaFaceDetector
from facescope.detect.rows import X_COLUMNS, Y_COLUMNS, nms
from facescope.detect.scrfd import SCRFDDetector
from facescope.detect.yunet import YuNetDetector
from facescope.types import Faces

#: Smallest face side (working-scale pixels) YuNet finds reliably.
SMALLEST_RESOLVED_FACE = 12.0
#: The same per detector: RetinaFace MobileNet-0.25 found about half of the faces of
#: 20-40 px and all from 40 px up (``benchmarks/bench_multiface.py``), so a `min_size`
#: below 32 px makes it tile at a finer scale; SCRFD's smallest anchor is 16 px.
SMALLEST_RESOLVED: dict[str, float] = {"yunet": SMALLEST_RESOLVED_FACE, "retinaface": 32.0,
                                       "scrfd": 16.0}  # fmt: skip
#: Images smaller than this (longest side) are upscaled to it, at most MAX_UPSCALE times.
MIN_WORKING_SIDE = 320
MAX_UPSCALE = 4.0
#: A crop at most this size with no face found is retried with a border.
TIGHT_CROP_MAX_SIDE = 256
#: An image whose median grey level (0-255) is below this is "low light": faces are
#: detected on a contrast-equalised copy (CLAHE) of it.
LOW_LIGHT_MEDIAN = 64

DetectorName = Literal["retinaface", "yunet", "scrfd"]
DETECTORS: tuple[DetectorName, ...] = ("retinaface", "yunet", "scrfd")
#: Environment variable choosing the detector when DetectOptions.detector is None.
DETECTOR_ENV = "FACESCOPE_DETECTOR"


@dataclass(frozen=True)
class DetectOptions:
    """Detector settings.

    Attributes:
        score_threshold: minimum detector confidence for a face in a whole image
            (SCRFD, whose scores run lower, uses its own 0.5 while this is the default).
        crop_score_threshold: minimum confidence when retrying a tight crop with a
            border (tight crops score lower than faces in a whole image).
        nms_threshold: IoU above which overlapping detections are merged.
        max_side: the longest side an image is downscaled to for a single pass.
        tile_size: tile side (pixels, at tile scale) when tiling for small faces.
        detector: "retinaface" (RetinaFace MobileNet-0.25, the default: better
            landmarks), "yunet" (YuNet: a little faster) or "scrfd" (opt-in,
            non-commercial licence); None takes ``FACESCOPE_DETECTOR``, else
            "retinaface".
        low_light: detect in dark images (:func:`is_low_light`) on a
            contrast-equalised copy (CLAHE), which gives the detector better
            landmarks there, and on the original only if that finds no face.
    """

    score_threshold: float = 0.85
    crop_score_threshold: float = 0.5
    nms_threshold: float = 0.3
    max_side: int = 640
    tile_size: int = 640
    detector: DetectorName | None = None
    low_light: bool = True


def detector_name(options: DetectOptions | None = None) -> DetectorName:
    """The detector `options` select (its field, else ``FACESCOPE_DETECTOR``, else RetinaFace).

    Raises:
        ValueError: an unknown detector name.
    """
    chosen = options.detector if options is not None else None
    name: str = chosen if chosen is not None else os.environ.get(DETECTOR_ENV) or "retinaface"
    for known in DETECTORS:
        if name == known:
            return known
    raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}")


class RawDetector(Protocol):
    """A detector returning (n, 15) rows: x, y, w, h, 5 landmarks (x, y), score."""

    def raw(
        self, bgr: npt.NDArray[np.uint8], score_threshold: float
    ) -> npt.NDArray[np.float32]: ...


_detector: Lazy[YuNetDetector] = Lazy(YuNetDetector)
_retinaface: Lazy[RetinaFaceDetector] = Lazy(RetinaFaceDetector)
_scrfd: Lazy[SCRFDDetector] = Lazy(SCRFDDetector)


def _raw_detector(name: DetectorName) -> RawDetector:
    if name == "retinaface":
        return _retinaface.get()
    if name == "scrfd":
        return _scrfd.get()
    return _detector.get()


def detect_faces(
    rgb: npt.NDArray[np.uint8],
    *,
    min_size: float | None = None,
    max_faces: int | None = None,
    options: DetectOptions | None = None,
) -> Faces:
    """Find faces in an RGB uint8 image.

    Args:
        rgb: (H, W, 3) RGB uint8 image.
        min_size: smallest face side to report, in image pixels. ``None`` reports
            what one pass at the working scale resolves; a smaller value makes the
            detector tile (large images) or upscale (small images) to find it.
        max_faces: keep at most this many faces (the largest).
        options: detector settings; defaults when None.

    Returns:
        Faces in the standard face order: left to right by box centre, ties
        most confident first (:meth:`facescope.types.Faces.ordered`).
    """
    opts = options or DetectOptions()
    name = detector_name(opts)
    detector = _raw_detector(name)
    if name == "scrfd":
        opts = _scrfd_thresholds(opts)
    height, width = rgb.shape[:2]
    bgr = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)
    if opts.low_light and is_low_light(bgr):
        # equalised first: dark faces get better landmarks there; the original if none
        found = _find(detector, enhance_low_light(bgr), min_size, opts)
        if len(found) == 0:
            found = _find(detector, bgr, min_size, opts)
    else:
        found = _find(detector, bgr, min_size, opts)

    faces = _to_faces(found, width, height)
    if min_size is not None and len(faces):
        sides = np.minimum(
            faces.boxes[:, 2] - faces.boxes[:, 0], faces.boxes[:, 3] - faces.boxes[:, 1]
        )
        faces = faces[sides >= min_size]
    if max_faces is not None and len(faces) > max_faces:
        faces = faces[np.sort(np.argsort(-faces.areas, kind="stable")[:max_faces])]
    return faces


def _scrfd_thresholds(opts: DetectOptions) -> DetectOptions:
    """SCRFD's scores run lower than YuNet's and RetinaFace's: its own defaults replace theirs."""
    defaults = DetectOptions()
    return replace(
        opts,
        score_threshold=scrfd.SCORE_THRESHOLD
        if opts.score_threshold == defaults.score_threshold
        else opts.score_threshold,
        crop_score_threshold=scrfd.CROP_SCORE_THRESHOLD
        if opts.crop_score_threshold == defaults.crop_score_threshold
        else opts.crop_score_threshold,
    )


def is_low_light(bgr: npt.NDArray[np.uint8]) -> bool:
    """Whether most of the image is dark (median grey level below :data:`LOW_LIGHT_MEDIAN`)."""
    small = cv2.resize(bgr, (64, 64), interpolation=cv2.INTER_AREA) if bgr.size > 3 * 4096 else bgr
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return float(np.median(grey)) < LOW_LIGHT_MEDIAN


def enhance_low_light(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Contrast-limited adaptive histogram equalisation (CLAHE) of the luminance."""
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[..., 0])
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), dtype=np.uint8)


def _find(
    detector: RawDetector,
    bgr: npt.NDArray[np.uint8],
    min_size: float | None,
    opts: DetectOptions,
) -> npt.NDArray[np.float32]:
    """Raw rows of every face in `bgr`: one pass, tiles for small faces, tight-crop retry."""
    height, width = bgr.shape[:2]
    longest = max(height, width)
    scale = min(1.0, opts.max_side / longest)
    if longest < MIN_WORKING_SIDE:
        # small images are upscaled: faces in them are small too
        scale = min(MAX_UPSCALE, MIN_WORKING_SIDE / longest)
    smallest = SMALLEST_RESOLVED.get(detector_name(opts), SMALLEST_RESOLVED_FACE)
    wanted = smallest / scale if min_size is None else float(min_size)

    rows = [_detect_at_scale(detector, bgr, scale, opts.score_threshold)]
    finer = smallest / max(wanted, 1.0)
    if finer > scale * 1.25:
        rows.append(_detect_tiled(detector, bgr, min(finer, 4.0), opts))
    found = nms(np.concatenate(rows), opts.nms_threshold)

    if len(found) == 0 and max(height, width) <= TIGHT_CROP_MAX_SIDE:
        found = _detect_tight_crop(detector, bgr, opts.crop_score_threshold)
    return found


def _detect_at_scale(
    detector: RawDetector, bgr: npt.NDArray[np.uint8], scale: float, threshold: float
) -> npt.NDArray[np.float32]:
    if scale == 1.0:
        return detector.raw(bgr, threshold)
    height, width = bgr.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = np.asarray(cv2.resize(bgr, size, interpolation=interpolation), dtype=np.uint8)
    rows = detector.raw(resized, threshold)
    rows[:, :14] /= scale
    return rows


def _detect_tiled(
    detector: RawDetector, bgr: npt.NDArray[np.uint8], scale: float, opts: DetectOptions
) -> npt.NDArray[np.float32]:
    """Detect at `scale` over overlapping tiles, so small faces reach YuNet's range."""
    height, width = bgr.shape[:2]
    tile = opts.tile_size / scale
    step = tile * 0.75
    rows = []
    for y0 in _tile_starts(height, tile, step):
        for x0 in _tile_starts(width, tile, step):
            x1, y1 = min(width, round(x0 + tile)), min(height, round(y0 + tile))
            part = _detect_at_scale(detector, bgr[y0:y1, x0:x1], scale, opts.score_threshold)
            _shift(part, x0, y0)
            rows.append(part)
    return np.concatenate(rows) if rows else np.zeros((0, 15), np.float32)


def _shift(rows: npt.NDArray[np.float32], dx: float, dy: float) -> None:
    """Move detections by (dx, dy) in place."""
    rows[:, X_COLUMNS] += dx
    rows[:, Y_COLUMNS] += dy


def _tile_starts(length: int, tile: float, step: float) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(np.arange(0, length - tile, step).round().astype(int))
    starts.append(round(length - tile))
    return starts


def _detect_tight_crop(
    detector: RawDetector, bgr: npt.NDArray[np.uint8], threshold: float
) -> npt.NDArray[np.float32]:
    """Retry a small image with a replicated border: detectors need context around a face."""
    height, width = bgr.shape[:2]
    pad = round(0.3 * max(height, width))
    padded = np.asarray(
        cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE), dtype=np.uint8
    )
    scale = max(1.0, 160.0 / max(padded.shape[:2]))
    rows = _detect_at_scale(detector, padded, scale, threshold)
    _shift(rows, -pad, -pad)
    if len(rows) > 1:
        # a tight crop holds one face: keep the most confident
        rows = rows[np.argsort(-rows[:, 14])[:1]]
    return rows


def _to_faces(rows: npt.NDArray[np.float32], width: int, height: int) -> Faces:
    # YuNet can return NaN rows on degenerate input (a few uniform pixels): never a face
    rows = rows[np.isfinite(rows).all(axis=1)] if len(rows) else rows
    if len(rows) == 0:
        return Faces.empty()
    xyxy = np.stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]], 1)
    xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, width)
    xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, height)
    inside = (xyxy[:, 2] - xyxy[:, 0] >= 1.0) & (xyxy[:, 3] - xyxy[:, 1] >= 1.0)
    rows, xyxy = rows[inside], xyxy[inside]
    if len(rows) == 0:
        return Faces.empty()
    landmarks = rows[:, 4:14].reshape(-1, 5, 2)
    return Faces(xyxy, rows[:, 14], landmarks).ordered()
