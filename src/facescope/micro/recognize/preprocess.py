"""From raw frames to the network's input: sampled, cropped, aligned, resized frames,
plus the training targets of the auxiliary tasks (optical flow and 68 landmarks).

* **Sampling.** A fixed number of frames is taken uniformly over the clip (onset to
  offset where annotated, the whole clip or video otherwise); no key frame is needed.
* **Cropping** (``crop="detect"``). Faces are detected on every sampled frame and the
  median of their 5 landmarks gives *one* similarity warp for the whole clip (the ArcFace
  template scaled to the crop size, :mod:`facescope.align`): per-frame warps would turn
  detector jitter into motion larger than a micro-expression. ``crop="none"`` takes the
  frames as already cropped faces (the datasets' cropped releases) and only resizes them.
* **Flow targets**: TV-L1 (``cv2.optflow.DualTVL1OpticalFlow_create``, OpenCV contrib),
  or DIS / Farneback as cheaper targets, between consecutive sampled frames of the crop,
  at half the crop size, in crop pixels.
* **Landmark targets**: dlib's 68 points (:mod:`facescope.analysis.landmarks68`) on each
  frame, mapped into the crop and scaled to [0, 1]; NaN where no face or no predictor
  (the landmark loss then leaves that frame out).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt

from facescope.align.template import ARCFACE_TEMPLATE_112, CROP_SIZE, similarity_transform
from facescope.errors import FacescopeError, ModelFileError
from facescope.io.files import IMAGE_EXTENSIONS, is_video_path
from facescope.micro.recognize.errors import MicroRecognitionError, NoFaceInClipError

Crop = Literal["detect", "none"]
Colour = Literal["grey", "rgb"]
FlowMethod = Literal["tvl1", "dis", "farneback"]
CROPS: Final[tuple[str, ...]] = ("detect", "none")
COLOURS: Final[tuple[str, ...]] = ("grey", "rgb")
FLOWS: Final[tuple[str, ...]] = ("tvl1", "dis", "farneback")
#: At most this many frames are decoded from one video or folder (use start/end beyond).
MAX_CLIP_FRAMES: Final[int] = 3000
N_LANDMARKS: Final[int] = 68


@dataclass(frozen=True)
class InputConfig:
    """How a clip becomes the network's input (stored in the weights' meta).

    Attributes:
        size: side of the square face crop in pixels (a multiple of 4, >= 16).
        frames: frames sampled uniformly over the clip (>= 2).
        colour: ``grey`` (1 channel) or ``rgb`` (3).
        crop: ``detect`` (find and align the face) or ``none`` (frames are face crops).
    """

    size: int = 64
    frames: int = 8
    colour: str = "grey"
    crop: str = "detect"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 16 or self.size % 4:
            raise MicroRecognitionError(f"size must be a multiple of 4, >= 16; got {self.size}")
        if not isinstance(self.frames, int) or not 2 <= self.frames <= 64:
            raise MicroRecognitionError(f"frames must be 2..64, got {self.frames}")
        if self.colour not in COLOURS:
            raise MicroRecognitionError(f"colour must be grey or rgb, got {self.colour!r}")
        if self.crop not in CROPS:
            raise MicroRecognitionError(f"crop must be detect or none, got {self.crop!r}")

    @property
    def channels(self) -> int:
        return 1 if self.colour == "grey" else 3

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "frames": self.frames, "colour": self.colour,
                "crop": self.crop}  # fmt: skip


@dataclass(frozen=True)
class PreparedClip:
    """One clip ready for the network.

    Attributes:
        frames: (T, S, S, C) uint8 crops.
        indices: which of the clip's frames were sampled.
        landmarks: (T, 68, 2) float32 points in [0, 1] of the crop, NaN where unknown;
            None when not asked for.
        flow: (T-1, 2, S/2, S/2) float32 flow between consecutive crops (crop pixels);
            None when not asked for.
        face_box: the crop's corners in the first sampled frame (x1, y1, x2, y2) when
            detected; None for ``crop="none"``.
    """

    frames: npt.NDArray[np.uint8]
    indices: tuple[int, ...]
    landmarks: npt.NDArray[np.float32] | None = None
    flow: npt.NDArray[np.float32] | None = None
    face_box: tuple[float, float, float, float] | None = None


def sample_indices(count: int, frames: int) -> list[int]:
    """`frames` indices spread uniformly over `count` frames (repeats when count < frames)."""
    if count < 1:
        raise MicroRecognitionError("a clip needs at least one frame")
    return [round(float(v)) for v in np.linspace(0, count - 1, frames)]


# ---- reading ------------------------------------------------------------------------


def _rgb_file(path: Path) -> npt.NDArray[np.uint8]:
    from facescope.io.image import load_image

    try:
        return np.asarray(load_image(path), np.uint8)
    except FacescopeError as exc:
        raise MicroRecognitionError(f"cannot read frame {path}: {exc}") from exc


def read_clip(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    frames: int,
    *,
    start: int | None = None,
    end: int | None = None,
) -> tuple[list[npt.NDArray[np.uint8]], tuple[int, ...], int]:
    """Sampled RGB frames of a video file, a folder of frames or a list of frame files.

    `start`/`end` (0-based, end inclusive) restrict the clip to a span. Returns the
    frames, their indices in the clip, and the clip's length.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            from facescope.micro.recognize.datasets import frame_files

            files: list[Path] | None = frame_files(path)
            if not files:
                raise MicroRecognitionError(f"no image files in {path}")
        elif path.is_file() and is_video_path(path):
            files = None
        elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            raise MicroRecognitionError(
                f"{path} is one image: give a video or a folder of a clip's frames"
            )
        elif path.is_file():
            raise MicroRecognitionError(f"{path} is neither a video nor a folder of frames")
        else:
            raise MicroRecognitionError(f"no such video or frame folder: {path}")
    else:
        files = [Path(p) for p in source]
        path = files[0] if files else Path(".")
        if not files:
            raise MicroRecognitionError("no frames given")
    if files is not None:
        span = files[_slice(start, end)]
        if not span:
            raise MicroRecognitionError(f"no frames between {start} and {end} in {path}")
        picked = sample_indices(len(span), frames)
        offset = _slice(start, end).start or 0
        return [_rgb_file(span[i]) for i in picked], tuple(offset + i for i in picked), len(span)
    return _read_video(path, frames, start, end)


def _slice(start: int | None, end: int | None) -> slice:
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise MicroRecognitionError("start and end are 0-based frame numbers (>= 0)")
    return slice(start or 0, None if end is None else end + 1)


def _read_video(
    path: Path, frames: int, start: int | None, end: int | None
) -> tuple[list[npt.NDArray[np.uint8]], tuple[int, ...], int]:
    from facescope.io.video import open_video

    first = start or 0
    last = end if end is not None else first + MAX_CLIP_FRAMES
    kept: list[npt.NDArray[np.uint8]] = []
    try:
        with open_video(path, max_frames=last + 1) as video:
            for frame in video:
                if frame.index >= first:
                    kept.append(_small(frame.rgb))
    except FacescopeError as exc:
        raise MicroRecognitionError(f"cannot read video {path}: {exc}") from exc
    if not kept:
        raise MicroRecognitionError(f"no frames between {start} and {end} in {path}")
    if end is None and len(kept) > MAX_CLIP_FRAMES:
        raise MicroRecognitionError(
            f"{path} is longer than {MAX_CLIP_FRAMES} frames: give the clip's span with "
            "--start/--end (a micro-expression lasts under half a second)"
        )
    picked = sample_indices(len(kept), frames)
    return [kept[i] for i in picked], tuple(first + i for i in picked), len(kept)


def _small(rgb: npt.NDArray[np.uint8], longest: int = 960) -> npt.NDArray[np.uint8]:
    """Frames larger than `longest` px are shrunk once on decoding (memory bound)."""
    h, w = rgb.shape[:2]
    scale = longest / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)


# ---- cropping ----------------------------------------------------------------------------


def _largest_face(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32] | None:
    from facescope.detect.faces import detect_faces

    faces = detect_faces(rgb)
    if len(faces) == 0:
        return None
    boxes = faces.boxes
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(faces.landmarks5[int(np.argmax(areas))], np.float32)


def _landmarks68(
    rgb: npt.NDArray[np.uint8], five: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32] | None:
    try:
        from facescope.analysis.landmarks68 import landmarks68

        return landmarks68(rgb, five)
    except (ModelFileError, ImportError, RuntimeError):
        return None


def _transform(points: npt.NDArray[np.float32], matrix: npt.NDArray[np.float64]) -> Any:
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_clip(
    frames: Sequence[npt.NDArray[np.uint8]],
    config: InputConfig,
    *,
    landmarks: bool = False,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32] | None, Any]:
    """(T, S, S, C) crops of RGB `frames`, their (T, 68, 2) landmarks in [0, 1] (NaN where
    unknown; None unless asked for) and the face box in the first frame (or None).

    Raises:
        NoFaceInClipError: ``crop="detect"`` and no frame has a face.
    """
    size = config.size
    # face crops (crop "none") get a border: detectors miss faces that fill the image
    border = 0 if config.crop == "detect" else max(frames[0].shape[:2]) // 4
    if border:
        frames = [np.asarray(cv2.copyMakeBorder(f, border, border, border, border,
                                                cv2.BORDER_REPLICATE), np.uint8)
                  for f in frames]  # fmt: skip
    found = [_largest_face(f) for f in frames] if config.crop == "detect" or landmarks else []
    points = np.full((len(frames), N_LANDMARKS, 2), np.nan, np.float32) if landmarks else None
    box = None
    if config.crop == "detect":
        detected = [f for f in found if f is not None]
        if not detected:
            raise NoFaceInClipError(
                "no face found in the clip's frames: give a clip showing one face, or use "
                "crop 'none' when the frames are already face crops"
            )
        median = np.median(np.stack(detected), axis=0)
        matrix = similarity_transform(median, ARCFACE_TEMPLATE_112 * (size / CROP_SIZE))
        crops = [
            cv2.warpAffine(f, matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
            for f in frames
        ]  # fmt: skip
        inverse = np.asarray(cv2.invertAffineTransform(matrix), np.float64)
        corners = _transform(np.array([[0, 0], [size, size]], np.float32), inverse)
        box = (float(corners[0, 0]), float(corners[0, 1]), float(corners[1, 0]),
               float(corners[1, 1]))  # fmt: skip
        matrices = [matrix] * len(frames)
    else:
        crops, matrices = [], []
        for f in frames:
            h, w = f.shape[0] - 2 * border, f.shape[1] - 2 * border
            inner = f[border : border + h, border : border + w]
            crops.append(cv2.resize(inner, (size, size), interpolation=cv2.INTER_AREA))
            sx, sy = size / w, size / h
            matrices.append(np.array([[sx, 0, -sx * border], [0, sy, -sy * border]], np.float64))
    if points is not None:
        for t, (frame, five) in enumerate(zip(frames, found, strict=True)):
            if five is None:
                continue
            shape = _landmarks68(frame, five)
            if shape is not None:
                points[t] = _transform(shape, matrices[t]) / size
    stack = np.stack([np.asarray(c, np.uint8) for c in crops])
    if config.colour == "grey":
        stack = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in stack])[..., None]
    return np.ascontiguousarray(stack), points, box


# ---- flow ----------------------------------------------------------------------------------


def _flow_engine(method: str) -> Callable[[Any, Any], Any]:
    if method == "tvl1":
        optflow = getattr(cv2, "optflow", None)
        if optflow is None:
            raise MicroRecognitionError(
                "TV-L1 flow needs OpenCV's contrib modules (opencv-contrib-python); "
                "use flow 'dis' instead"
            )
        engine = optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: engine.calc(a, b, None)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        farneback: Any = cv2.calcOpticalFlowFarneback
        return lambda a, b: farneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    raise MicroRecognitionError(f"unknown flow method {method!r}: use {', '.join(FLOWS)}")


def flow_targets(crops: npt.NDArray[np.uint8], method: str = "tvl1") -> npt.NDArray[np.float32]:
    """(T-1, 2, S/2, S/2) flow between consecutive (T, S, S, C) crops, in crop pixels."""
    engine = _flow_engine(method)
    grey = crops[..., 0] if crops.shape[-1] == 1 else np.stack(
        [cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops]
    )  # fmt: skip
    half = crops.shape[1] // 2
    out = np.empty((len(crops) - 1, 2, half, half), np.float32)
    for t in range(len(crops) - 1):
        flow = engine(np.ascontiguousarray(grey[t]), np.ascontiguousarray(grey[t + 1]))
        small = cv2.resize(np.asarray(flow, np.float32), (half, half), interpolation=cv2.INTER_AREA)
        out[t] = np.nan_to_num(small).transpose(2, 0, 1)
    return out


def prepare_clip(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    config: InputConfig,
    *,
    flow: str | None = None,
    landmarks: bool = False,
    start: int | None = None,
    end: int | None = None,
) -> PreparedClip:
    """Read, sample and crop one clip; with `flow`/`landmarks`, also the training targets."""
    frames, indices, _ = read_clip(source, config.frames, start=start, end=end)
    crops, points, box = crop_clip(frames, config, landmarks=landmarks)
    flows = flow_targets(crops, flow) if flow else None
    return PreparedClip(crops, indices, points, flows, box)


__all__ = [
    "COLOURS",
    "CROPS",
    "FLOWS",
    "MAX_CLIP_FRAMES",
    "N_LANDMARKS",
    "InputConfig",
    "PreparedClip",
    "crop_clip",
    "flow_targets",
    "prepare_clip",
    "read_clip",
    "sample_indices",
]
