"""Faces in video: detect every `stride` frames, track, and identify each track once.

A person walking through the frame is one result, not one per frame: the
embeddings of a track's detections are averaged, weighted by their measured
quality score (:mod:`facescope.quality`), the best-quality face is the
track's thumbnail, and the mean is identified against the
gallery (open set, the gallery's FPIR-aware threshold) when the track ends.
Between detection rounds the tracks' boxes are extrapolated, so every frame
has boxes.

A track holds one person: every frame goes through a
:class:`~facescope.tracking.shots.ShotDetector`, and at a shot cut every track
ends (faces after it get new ids, and that frame is a detection round); within
a shot, a face whose embedding falls below the model's calibrated 1:1
threshold at FMR 1e-2 against its track's running embedding splits the track
(an appearance jump).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._deprecation import renamed_argument, renamed_attribute
from facescope.align.template import warp_to_template
from facescope.detect.faces import DetectOptions
from facescope.errors import InvalidImageError
from facescope.gallery.gallery import DEFAULT_FPIR, Gallery
from facescope.io.video import Frame, VideoSource
from facescope.pipeline import embed_faces, find_faces
from facescope.quality import assess_quality
from facescope.restoration.auto import check_method
from facescope.tracking.shots import ShotDetector
from facescope.tracking.tracker import (
    DEFAULT_SPLIT_FMR,
    FaceTracker,
    Track,
    split_similarity_for,
)
from facescope.types import Candidate, Faces, face_order

#: What :func:`track` and :class:`VideoRecognizer` read: a path, URL or camera
#: index, an open :class:`VideoSource`, or an iterable of frames (``Frame`` or RGB arrays).
SourceInput = str | os.PathLike[str] | int | VideoSource | Iterable[Frame | npt.NDArray[np.uint8]]


@dataclass(frozen=True)
class TrackedFrame:
    """One frame's faces with their track ids.

    ``faces`` (left to right) carry their ``track_id`` (-1: a weak detection on
    no track) and, with a gallery, their running ``identity``; ``track_ids``
    and ``labels`` hold the same values as an array and a list (``labels``:
    None for unknown, or for every face without a gallery).
    ``detected`` is False on frames between detection rounds, whose boxes are
    the tracks' extrapolated positions (their landmarks moved along).
    ``rgb`` is the frame itself, for drawing. ``cut`` is True when the frame
    starts a new shot (every track before it ended there).
    """

    index: int
    time: float
    faces: Faces
    track_ids: npt.NDArray[np.int64]
    detected: bool
    labels: list[str | None] = field(default_factory=list)
    rgb: npt.NDArray[np.uint8] = field(
        repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8)
    )
    cut: bool = False


@dataclass(frozen=True)
class TrackResult:
    """One person's appearance in a video, with one identity decision."""

    track_id: int
    first_frame: int
    last_frame: int
    start: float
    end: float
    detections: int
    identity: str | None
    score: float | None
    threshold: float | None
    candidates: list[Candidate]
    thumbnail: npt.NDArray[np.uint8] = field(repr=False)
    thumbnail_time: float = 0.0
    thumbnail_quality: float = 0.0
    embedding: npt.NDArray[np.float32] = field(
        repr=False, default_factory=lambda: np.zeros(0, np.float32)
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view for JSON (no pixels, no embedding)."""
        return {
            "track_id": self.track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "detections": self.detections,
            "identity": self.identity,
            "score": None if self.score is None else round(self.score, 6),
            "threshold": None if self.threshold is None else round(self.threshold, 6),
            "candidates": [
                {"identity": c.identity, "score": round(c.score, 6)} for c in self.candidates
            ],
            "thumbnail_time": round(self.thumbnail_time, 3),
            "thumbnail_quality": round(self.thumbnail_quality, 4),
        }


@dataclass
class _Evidence:
    """What a track has gathered so far."""

    first_frame: int
    start: float
    last_frame: int = 0
    end: float = 0.0
    detections: int = 0
    weighted: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(128))
    weight: float = 0.0
    best_quality: float = -1.0
    thumbnail: npt.NDArray[np.uint8] = field(
        default_factory=lambda: np.zeros((112, 112, 3), np.uint8)
    )
    thumbnail_time: float = 0.0
    landmarks: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((5, 2), np.float32))
    box: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(4, np.float32))
    label: str | None = None

    def mean(self) -> npt.NDArray[np.float32]:
        vector = self.weighted / max(float(np.linalg.norm(self.weighted)), 1e-12)
        return vector.astype(np.float32)


class VideoRecognizer:
    """Track faces through a video and identify each track against a gallery.

    Args:
        gallery: known people; None tracks without naming anyone.
        model: recognition model when there is no gallery (a gallery's own model wins).
        stride: detect (and embed) every `stride`-th frame; 1 detects in every frame.
        fpir: false-positive identification rate of the open-set decision.
        top_k: candidates kept per track.
        min_size: smallest face side to detect, in pixels (``min_face`` is its
            deprecated old name).
        tracker: a configured :class:`FaceTracker` (default settings otherwise,
            with the split similarity of `split_fmr`).
        shots: end every track at shot cuts: True (a default
            :class:`~facescope.tracking.shots.ShotDetector`), a configured one, or
            False (never).
        split_fmr: a face whose cosine to its track's running embedding is below
            the model's calibrated 1:1 threshold at this false-match rate starts
            a new track (default 1e-2: SFace 0.345); None keeps the tracker's
            model-agnostic default. Ignored with an explicit `tracker`.
        restore: restore each face crop before embedding ("auto": only what the
            degradation detectors find, :func:`facescope.restore`; "none" by default).
    """

    def __init__(
        self,
        gallery: Gallery | None = None,
        *,
        model: str = "sface",
        stride: int = 1,
        fpir: float = DEFAULT_FPIR,
        top_k: int = 3,
        min_size: float | None = None,
        tracker: FaceTracker | None = None,
        min_face: float | None = None,
        shots: ShotDetector | bool = True,
        split_fmr: float | None = DEFAULT_SPLIT_FMR,
        restore: str = "none",
    ) -> None:
        min_size = renamed_argument("VideoRecognizer", "min_face", min_face, "min_size", min_size)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.gallery = gallery
        self.model = gallery.model if gallery is not None else model
        self.restore = check_method(restore)
        self.stride = stride
        self.fpir = fpir
        self.top_k = top_k
        self.min_size = min_size
        self._tracker_template = tracker
        self._options = DetectOptions(score_threshold=0.5)
        self.shots: ShotDetector | None = (
            (ShotDetector() if shots else None) if isinstance(shots, bool) else shots
        )
        self.split_similarity = (
            split_similarity_for(self.model, split_fmr) if split_fmr is not None else None
        )

    @property
    def min_face(self) -> float | None:
        """Deprecated name of :attr:`min_size`."""
        renamed_attribute("VideoRecognizer", "min_face", "min_size")
        return self.min_size

    def frames(
        self, source: SourceInput, on_track: Callable[[TrackResult], None] | None = None
    ) -> Iterator[TrackedFrame]:
        """Yield every frame's tracked faces; call `on_track` as each track ends."""
        tracker = self._tracker_template or FaceTracker(
            low_score=self._options.score_threshold, split_similarity=self.split_similarity
        )
        evidence: dict[int, _Evidence] = {}
        shots = copy.deepcopy(self.shots)  # each pass starts fresh, passes never share state
        if shots is not None:
            shots.reset()

        def finish(tracks: list[Track]) -> None:
            for ended in tracks:
                gathered = evidence.pop(ended.id, None)
                if ended.confirmed and gathered is not None and on_track is not None:
                    on_track(self._decide(ended.id, gathered))

        for frame in _frames(source):
            cut = shots is not None and shots.update(frame.rgb)
            if cut:
                tracker.cut()
            if cut or frame.index % self.stride == 0:
                tracked = self._detect(frame, tracker, evidence)
            else:
                tracked = self._extrapolate(frame, tracker, evidence)
            finish(tracker.pop_finished())
            yield replace(tracked, cut=True) if cut else tracked
        finish(tracker.finish())

    def run(self, source: SourceInput) -> list[TrackResult]:
        """Process a whole video; return its confirmed tracks by start time."""
        results: list[TrackResult] = []
        for _ in self.frames(source, results.append):
            pass
        return sorted(results, key=lambda r: (r.start, r.track_id))

    # ---- per frame ----------------------------------------------------------------

    def _detect(
        self, frame: Frame, tracker: FaceTracker, evidence: dict[int, _Evidence]
    ) -> TrackedFrame:
        rgb = frame.rgb
        faces = find_faces(rgb, min_size=self.min_size, assume_aligned=False, options=self._options)
        embeddings = (
            embed_faces(rgb, faces, self.model, restore=self.restore).vectors
            if len(faces)
            else None
        )
        ids = tracker.update(faces, frame.time, embeddings)
        confirmed = {t.id for t in tracker.tracks if t.confirmed}
        labels: list[str | None] = []
        for index, track_id in enumerate(ids.tolist()):
            if track_id < 0 or embeddings is None:
                labels.append(None)
                continue
            gathered = evidence.setdefault(track_id, _Evidence(frame.index, frame.time))
            crop = warp_to_template(rgb, faces.landmarks5[index])
            quality = assess_quality(rgb, faces[index], crops=[crop])[0].score
            weight = max(quality, 1e-3)
            gathered.weighted += weight * embeddings[index]
            gathered.weight += weight
            gathered.detections += 1
            gathered.last_frame, gathered.end = frame.index, frame.time
            gathered.landmarks = faces.landmarks5[index].copy()
            gathered.box = faces.boxes[index].copy()
            if quality > gathered.best_quality:
                gathered.best_quality, gathered.thumbnail = quality, crop
                gathered.thumbnail_time = frame.time
            if track_id in confirmed and self.gallery is not None:
                gathered.label = self._running_label(gathered)
            labels.append(gathered.label if track_id in confirmed else None)
        faces = faces.with_tracks(ids)
        if self.gallery is not None:
            faces = faces.with_identities(labels)
        return TrackedFrame(frame.index, frame.time, faces, ids, True, labels, rgb)

    def _extrapolate(
        self, frame: Frame, tracker: FaceTracker, evidence: dict[int, _Evidence]
    ) -> TrackedFrame:
        ids, boxes = tracker.predict(frame.time)
        keep = [i for i, t in enumerate(ids.tolist()) if t in evidence]
        ids, boxes = ids[keep], boxes[keep]
        order = face_order(boxes, np.zeros(len(ids), np.float32))  # left to right
        ids, boxes = ids[order], boxes[order]
        landmarks = []
        for track_id, box in zip(ids.tolist(), boxes, strict=True):
            gathered = evidence[track_id]
            shift = np.array([box[0] - gathered.box[0], box[1] - gathered.box[1]], np.float32)
            landmarks.append(gathered.landmarks + shift)
        faces = Faces(
            boxes,
            np.zeros(len(ids), np.float32),
            np.stack(landmarks) if landmarks else np.zeros((0, 5, 2), np.float32),
            track_id=ids,
        )
        labels = [evidence[t].label for t in ids.tolist()]
        if self.gallery is not None:
            faces = faces.with_identities(labels)
        return TrackedFrame(frame.index, frame.time, faces, ids, False, labels, frame.rgb)

    # ---- decisions ----------------------------------------------------------------

    def _running_label(self, gathered: _Evidence) -> str | None:
        assert self.gallery is not None
        if len(self.gallery) == 0:
            return None
        found = self.gallery.identify_embeddings(
            gathered.box[None], gathered.mean()[None], top_k=1, fpir=self.fpir
        )
        return found[0].identity if found else None

    def _decide(self, track_id: int, gathered: _Evidence) -> TrackResult:
        identity: str | None = None
        score = threshold = None
        candidates: list[Candidate] = []
        mean = gathered.mean()
        if self.gallery is not None and len(self.gallery):
            (found,) = self.gallery.identify_embeddings(
                gathered.box[None], mean[None], top_k=self.top_k, fpir=self.fpir
            )
            identity, score, threshold = found.identity, found.score, found.threshold
            candidates = found.candidates
        return TrackResult(
            track_id=track_id,
            first_frame=gathered.first_frame,
            last_frame=gathered.last_frame,
            start=gathered.start,
            end=gathered.end,
            detections=gathered.detections,
            identity=identity,
            score=score,
            threshold=threshold,
            candidates=candidates,
            thumbnail=gathered.thumbnail,
            thumbnail_time=gathered.thumbnail_time,
            thumbnail_quality=max(gathered.best_quality, 0.0),
            embedding=mean,
        )


def track(
    source: SourceInput,
    *,
    stride: int = 1,
    model: str = "sface",
    min_size: float | None = None,
    min_face: float | None = None,
) -> Iterator[TrackedFrame]:
    """Faces of every frame with track ids (no identification).

    `source`: a video path or URL, a camera index, an open VideoSource, or an
    iterable of RGB frames (taken at 25 fps for their timestamps). `min_size`:
    smallest face side to detect, in pixels (``min_face`` is its deprecated name).
    """
    min_size = renamed_argument("track", "min_face", min_face, "min_size", min_size)
    return VideoRecognizer(model=model, stride=stride, min_size=min_size).frames(source)


def _frames(source: SourceInput) -> Iterator[Frame]:
    if isinstance(source, VideoSource):
        yield from source
        return
    if isinstance(source, str | os.PathLike | int):
        with VideoSource(source) as opened:
            yield from opened
        return
    for index, item in enumerate(source):
        if isinstance(item, Frame):
            yield item
            continue
        array = np.asarray(item)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise InvalidImageError(
                f"frame {index}: expected an (H, W, 3) uint8 RGB array, got "
                f"{array.shape} {array.dtype}"
            )
        yield Frame(index, index / 25.0, np.ascontiguousarray(array))
