"""Multi-face tracking across frames: ByteTrack-style association with appearance.

Each detection round runs two matching stages (Zhang et al., *ByteTrack*, 2022):

1. confident detections against every live track, on a cost that blends box
   overlap (IoU with the track's constant-velocity prediction) and face
   appearance (cosine distance of embeddings, when given). A track lost behind an
   occlusion keeps its embedding, so it can be picked up again by appearance alone
   (re-identification) for ``max_lost_s`` seconds, even far from where it vanished;
2. low-confidence detections (partly occluded, blurred faces) against the tracks
   still unmatched that were seen in the previous round, on IoU alone; they
   extend tracks but never start one.

Unmatched confident detections start tentative tracks, confirmed after
``min_hits`` rounds; a tentative track that misses a round is dropped, so a
one-frame false detection never becomes a result. Matching is optimal per stage
(Hungarian, ``scipy.optimize.linear_sum_assignment``).

A track holds one person. With embeddings, a detection whose cosine to the
track's running embedding is below ``split_similarity`` never extends it (in
either stage); a confident one at the track's place *splits* it: the track
ends and the face starts a new one (an appearance jump, e.g. a cut the shot
detector missed). :meth:`FaceTracker.cut` ends every track at a shot boundary
(:mod:`facescope.tracking.shots`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from facescope.errors import CalibrationError
from facescope.match.thresholds import load_calibration
from facescope.types import Faces

FloatArray = npt.NDArray[np.float32]
_INFEASIBLE = 1e6
#: False-match rate whose calibrated 1:1 threshold is the default split similarity:
#: a score below the FMR 1e-2 threshold means "very likely another person".
DEFAULT_SPLIT_FMR = 1e-2


def split_similarity_for(model: str, fmr: float = DEFAULT_SPLIT_FMR) -> float | None:
    """The calibrated 1:1 threshold of `model` at `fmr` (None: `model` not calibrated)."""
    try:
        return load_calibration().for_model(model).threshold(fmr)
    except CalibrationError:
        return None


@dataclass
class Track:
    """One face followed over time (internal state of :class:`FaceTracker`)."""

    id: int
    box: npt.NDArray[np.float64]
    velocity: npt.NDArray[np.float64]
    last_time: float
    embedding: npt.NDArray[np.float32] | None
    hits: int = 1
    confirmed: bool = False
    missed: int = 0
    #: why the track ended: "lost", "split" (appearance jump), "cut" (shot
    #: boundary), "end" (end of stream); None while it lives
    end_reason: str | None = None

    def predicted(self, time: float) -> npt.NDArray[np.float64]:
        """Box extrapolated to `time` at the smoothed velocity (pixels per second)."""
        return self.box + self.velocity * (time - self.last_time)


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pairwise intersection over union of (n, 4) and (m, 4) ``x1, y1, x2, y2`` boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class FaceTracker:
    """Assigns stable track ids to faces detected in successive frames.

    Args:
        high_score: detections at least this confident may start tracks (stage 1).
        low_score: weaker detections down to this score only extend tracks (stage 2).
        min_iou: overlap below which a detection cannot match a track by position.
        reid_similarity: embedding cosine above which a detection matches a track
            whatever its position (re-identification after an occlusion); with
            SFace, the default is near its calibrated FMR 1e-3 threshold.
        appearance_weight: share of the cost given to appearance when embeddings
            are present (the rest is 1 - IoU).
        min_hits: detection rounds before a track is confirmed.
        max_lost_s: seconds a confirmed track survives without a match.
        split_similarity: embedding cosine to the track's running embedding below
            which a detection is another person: it never extends the track, and
            a confident one overlapping the track ends it (appearance jump).
            None: ``reid_similarity / 2`` (model-agnostic);
            :class:`~facescope.video.VideoRecognizer` passes the model's
            calibrated threshold at FMR 1e-2 (:func:`split_similarity_for`;
            SFace: 0.345).
    """

    def __init__(
        self,
        *,
        high_score: float = 0.8,
        low_score: float = 0.5,
        min_iou: float = 0.2,
        reid_similarity: float = 0.45,
        appearance_weight: float = 0.5,
        min_hits: int = 2,
        max_lost_s: float = 2.0,
        split_similarity: float | None = None,
    ) -> None:
        if not 0.0 <= low_score <= high_score <= 1.0:
            raise ValueError("need 0 <= low_score <= high_score <= 1")
        if min_hits < 1 or max_lost_s < 0:
            raise ValueError("min_hits must be >= 1 and max_lost_s >= 0")
        self.high_score = high_score
        self.low_score = low_score
        self.min_iou = min_iou
        self.reid_similarity = reid_similarity
        self.appearance_weight = appearance_weight
        self.min_hits = min_hits
        self.max_lost_s = max_lost_s
        self.split_similarity = (
            reid_similarity * 0.5 if split_similarity is None else split_similarity
        )
        self._tracks: list[Track] = []
        self._next_id = 1
        self._last_time: float | None = None
        #: tracks removed since the last :meth:`pop_finished` call
        self._finished: list[Track] = []

    @property
    def tracks(self) -> list[Track]:
        """Live tracks (confirmed or tentative)."""
        return list(self._tracks)

    def update(
        self, faces: Faces, time: float, embeddings: FloatArray | None = None
    ) -> npt.NDArray[np.int64]:
        """Match one detection round at `time` (seconds); return a track id per face.

        Faces that start a tentative track get its id too; weak detections that
        match no track get -1. `embeddings` (n, d), L2-normalised, are optional.
        :meth:`update_with_faces` returns the faces with these ids instead.
        """
        if self._last_time is not None and time < self._last_time:
            raise ValueError(f"time went backwards: {time} after {self._last_time}")
        self._last_time = time
        n = len(faces)
        if embeddings is not None and len(embeddings) != n:
            raise ValueError(f"{len(embeddings)} embeddings for {n} faces")
        ids = np.full(n, -1, np.int64)
        boxes = faces.boxes.astype(np.float64)
        scores = faces.scores
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        pool = list(range(len(self._tracks)))

        matched_tracks: set[int] = set()
        pairs = self._match(pool, high, boxes, embeddings, time, use_appearance=True)
        for t, d in pairs:
            self._extend(
                self._tracks[t], boxes[d], time, None if embeddings is None else embeddings[d]
            )
            ids[d] = self._tracks[t].id
            matched_tracks.add(t)
        recent = [t for t in pool if t not in matched_tracks and self._tracks[t].missed == 0]
        split = self._jumps(recent, high[ids[high] == -1], boxes, embeddings, time)
        recent = [t for t in recent if t not in split]
        for t, d in self._match(recent, low, boxes, embeddings, time, use_appearance=False):
            self._extend(
                self._tracks[t], boxes[d], time, None if embeddings is None else embeddings[d]
            )
            ids[d] = self._tracks[t].id
            matched_tracks.add(t)

        survivors: list[Track] = []
        for index, track in enumerate(self._tracks):
            if index in matched_tracks:
                survivors.append(track)
                continue
            if index in split:
                track.end_reason = "split"
                self._finished.append(track)
                continue
            track.missed += 1
            lost_for = time - track.last_time
            if track.confirmed and lost_for <= self.max_lost_s:
                survivors.append(track)
            else:
                track.end_reason = "lost"
                self._finished.append(track)
        for d in high.tolist():
            if ids[d] != -1:  # matched an existing track
                continue
            track = Track(
                id=self._next_id,
                box=boxes[d].copy(),
                velocity=np.zeros(4),
                last_time=time,
                embedding=None if embeddings is None else embeddings[d].copy(),
                confirmed=self.min_hits <= 1,
            )
            self._next_id += 1
            survivors.append(track)
            ids[d] = track.id
        self._tracks = survivors
        return ids

    def update_with_faces(
        self, faces: Faces, time: float, embeddings: FloatArray | None = None
    ) -> Faces:
        """:meth:`update`, returning `faces` with :attr:`~facescope.types.Faces.track_id` set."""
        return faces.with_tracks(self.update(faces, time, embeddings))

    def predict(self, time: float) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Ids and extrapolated (n, 4) float32 boxes of the tracks seen in the last round.

        For frames between detection rounds; tracks in id order.
        """
        live = [t for t in self._tracks if t.missed == 0 and t.confirmed]
        if not live:
            return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        return (
            np.array([t.id for t in live], np.int64),
            np.stack([t.predicted(time) for t in live]).astype(np.float32),
        )

    def pop_finished(self) -> list[Track]:
        """Tracks that ended (lost, split, cut, or tentative and missed) since the last call."""
        finished, self._finished = self._finished, []
        return finished

    def cut(self) -> None:
        """A shot boundary: end every live track; faces after it get new ids.

        The ended tracks come out of the next :meth:`pop_finished`.
        """
        self._close("cut")

    def finish(self) -> list[Track]:
        """End every live track (end of stream) and return all not yet popped."""
        self._close("end")
        return self.pop_finished()

    def _close(self, reason: str) -> None:
        for track in self._tracks:
            track.end_reason = reason
        self._finished.extend(self._tracks)
        self._tracks = []

    # ---- internals ------------------------------------------------------------------

    def _match(
        self,
        pool: list[int],
        detections: npt.NDArray[np.intp],
        boxes: npt.NDArray[np.float64],
        embeddings: FloatArray | None,
        time: float,
        *,
        use_appearance: bool,
    ) -> list[tuple[int, int]]:
        if not pool or len(detections) == 0:
            return []
        predicted = np.stack([self._tracks[t].predicted(time) for t in pool])
        overlap = iou_matrix(predicted, boxes[detections])
        cost = 1.0 - overlap
        feasible = overlap >= self.min_iou
        similarity = self._similarity(pool, detections, embeddings)
        if similarity is not None:
            # a different face at the same place is not the same track...
            feasible &= similarity >= self.split_similarity
            if use_appearance:
                w = self.appearance_weight
                cost = (1.0 - w) * cost + w * (1.0 - similarity) / 2.0
                # ...and the same face anywhere is (re-identification after occlusion)
                feasible |= similarity >= self.reid_similarity
        cost = np.where(feasible, cost, _INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        return [
            (pool[r], int(detections[c]))
            for r, c in zip(rows, cols, strict=True)
            if cost[r, c] < _INFEASIBLE
        ]

    def _similarity(
        self, pool: list[int], detections: npt.NDArray[np.intp], embeddings: FloatArray | None
    ) -> npt.NDArray[np.float64] | None:
        """Cosine of each pooled track's embedding with each detection's (None: not all known)."""
        track_embeddings = [self._tracks[t].embedding for t in pool]
        if embeddings is None or any(e is None for e in track_embeddings):
            return None
        stacked = np.stack(track_embeddings).astype(np.float64)  # type: ignore[arg-type]
        return stacked @ embeddings[detections].T.astype(np.float64)

    def _jumps(
        self,
        pool: list[int],
        detections: npt.NDArray[np.intp],
        boxes: npt.NDArray[np.float64],
        embeddings: FloatArray | None,
        time: float,
    ) -> set[int]:
        """Unmatched tracks with another person's confident face at their place (to split)."""
        if not pool or len(detections) == 0:
            return set()
        similarity = self._similarity(pool, detections, embeddings)
        if similarity is None:
            return set()
        predicted = np.stack([self._tracks[t].predicted(time) for t in pool])
        overlap = iou_matrix(predicted, boxes[detections])
        jumped = (overlap >= self.min_iou) & (similarity < self.split_similarity)
        return {pool[r] for r in np.flatnonzero(jumped.any(axis=1)).tolist()}

    def _extend(
        self,
        track: Track,
        box: npt.NDArray[np.float64],
        time: float,
        embedding: npt.NDArray[np.float32] | None,
    ) -> None:
        elapsed = time - track.last_time
        if elapsed > 0 and track.missed == 0:
            measured = (box - track.box) / elapsed
            track.velocity = 0.6 * track.velocity + 0.4 * measured
        elif track.missed:
            track.velocity = np.zeros(4)  # after an occlusion, restart the motion model
        track.box = box.copy()
        track.last_time = time
        track.missed = 0
        track.hits += 1
        if track.hits >= self.min_hits:
            track.confirmed = True
        if embedding is not None:
            if track.embedding is None:
                track.embedding = embedding.copy()
            else:
                mixed = 0.9 * track.embedding + 0.1 * embedding
                track.embedding = (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(
                    np.float32
                )
