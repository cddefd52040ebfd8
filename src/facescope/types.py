"""Result types shared by the recognition stages.

`Faces` follows the vectorised style of `supervision.Detections`: parallel
numpy arrays, validated once, sliceable by a boolean mask or an index array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Faces:
    """Faces found in one image.

    Attributes:
        boxes: (n, 4) float32 boxes, ``x1, y1, x2, y2`` in image pixels.
        scores: (n,) float32 detector confidences in [0, 1].
        landmarks5: (n, 5, 2) float32 points in image pixels, in the order
            subject's right eye (left in the image), left eye, nose tip,
            right mouth corner, left mouth corner (the ArcFace/YuNet order).
        aligned: True when the image was taken as an already aligned crop
            (the landmarks are then the ArcFace template, not a detection).
    """

    boxes: FloatArray
    scores: FloatArray
    landmarks5: FloatArray
    aligned: bool = False

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        landmarks = np.asarray(self.landmarks5, dtype=np.float32).reshape(-1, 5, 2)
        if len(scores) != n or len(landmarks) != n:
            raise ValueError(
                f"Faces arrays disagree in length: boxes {n}, scores {len(scores)}, "
                f"landmarks5 {len(landmarks)}"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "landmarks5", landmarks)

    @classmethod
    def empty(cls) -> Faces:
        """Return a result with no faces."""
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(
        self, index: int | slice | npt.NDArray[np.bool_] | npt.NDArray[np.integer] | list[int]
    ) -> Faces:
        """Select faces by boolean mask, index array, slice or single index."""
        selector = [int(index)] if isinstance(index, int | np.integer) else index
        return Faces(
            self.boxes[selector], self.scores[selector], self.landmarks5[selector], self.aligned
        )

    @property
    def areas(self) -> FloatArray:
        """(n,) box areas in square pixels."""
        return (
            (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        ).astype(np.float32)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain-Python view, for JSON output."""
        return [
            {
                "box": [round(float(v), 1) for v in box],
                "score": round(float(score), 4),
                "landmarks5": [[round(float(x), 1), round(float(y), 1)] for x, y in points],
            }
            for box, score, points in zip(self.boxes, self.scores, self.landmarks5, strict=True)
        ]


@dataclass(frozen=True)
class Embeddings:
    """Face embeddings from one recognition model.

    Attributes:
        vectors: (n, d) float32, L2-normalised rows.
        norms: (n,) float32 norms of the raw features before normalisation
            (small norms flag non-faces and poor-quality crops).
        model: the recognition model's name (``"sface"`` or ``"dlib"``).
    """

    vectors: FloatArray
    norms: FloatArray
    model: str

    def __len__(self) -> int:
        return len(self.vectors)


@dataclass(frozen=True)
class VerifyResult:
    """Decision of a 1:1 comparison.

    Attributes:
        same_person: ``score >= threshold``.
        score: similarity (cosine for single models; z-normalised mean for fusion).
        threshold: decision threshold calibrated at ``far_target``.
        model: ``"sface"``, ``"dlib"`` or ``"fusion"``.
        far_target: false-accept (false-match) rate the threshold was calibrated for.
    """

    same_person: bool
    score: float
    threshold: float
    model: str
    far_target: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "same_person": self.same_person,
            "score": round(self.score, 6),
            "threshold": round(self.threshold, 6),
            "model": self.model,
            "far_target": self.far_target,
        }


@dataclass(frozen=True)
class Candidate:
    """One ranked gallery candidate for a probe face."""

    identity: str
    score: float


@dataclass(frozen=True)
class Identification:
    """Open-set identification of one probe face.

    ``identity`` is None when the best candidate's score is below the
    threshold, i.e. the face is taken as someone not among the known people.
    """

    box: tuple[float, float, float, float]
    identity: str | None
    score: float
    threshold: float
    model: str
    candidates: list[Candidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "box": [round(v, 1) for v in self.box],
            "identity": self.identity,
            "score": round(self.score, 6),
            "threshold": round(self.threshold, 6),
            "model": self.model,
            "candidates": [
                {"identity": c.identity, "score": round(c.score, 6)} for c in self.candidates
            ],
        }
