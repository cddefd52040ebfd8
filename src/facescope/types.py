"""Result types shared by the recognition stages.

`Faces` follows the vectorised style of `supervision.Detections`: parallel
numpy arrays, validated once, sliceable by a boolean mask or an index array.
One ``Faces`` object travels through detect -> track -> identify -> analyse:
tracking fills :attr:`Faces.track_id`, identification :attr:`Faces.identity`,
and any stage may attach more per-face arrays in :attr:`Faces.data`.

Conventions (see ``docs/glossary.md``):

* **Box format.** Every box is ``x1, y1, x2, y2`` in image pixels (top-left and
  bottom-right corners, x to the right, y down). Arrays of boxes are (n, 4)
  float32; a single face's box in a per-face result (``Identification.box``,
  ``FaceAnalysis.box``) is a :data:`Box`, a tuple of 4 Python floats taken from
  the same float32 values (:func:`as_box`). JSON output gives a list of 4 numbers.
* **Face order.** Faces of one image are ordered left to right by the centre of
  their box (ties: the more confident first), whatever produced them:
  :func:`facescope.detect`, ``Gallery.identify``, video frames, ``analyze``.
  :meth:`Faces.ordered` puts any ``Faces`` in this order.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]
#: One face's box, ``(x1, y1, x2, y2)`` in image pixels.
Box = tuple[float, float, float, float]
#: Track id of a face that belongs to no track.
UNTRACKED = -1


def as_box(values: npt.ArrayLike) -> Box:
    """One box as 4 Python floats, via float32 (the dtype of every box array)."""
    x1, y1, x2, y2 = np.asarray(values, dtype=np.float32).reshape(4).tolist()
    return (x1, y1, x2, y2)


def face_order(boxes: npt.ArrayLike, scores: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Indices that put faces in the standard order: left to right, ties most confident first."""
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    centres = (xyxy[:, 0] + xyxy[:, 2]) / 2
    confidence = np.asarray(scores, dtype=np.float32).reshape(-1)
    return np.lexsort((-confidence, centres))


@dataclass(frozen=True)
class Faces:
    """Faces found in one image, in the standard face order (left to right).

    Attributes:
        boxes: (n, 4) float32 boxes, ``x1, y1, x2, y2`` in image pixels.
        scores: (n,) float32 detector confidences in [0, 1].
        landmarks5: (n, 5, 2) float32 points in image pixels, in the order
            subject's right eye (left in the image), left eye, nose tip,
            right mouth corner, left mouth corner (the ArcFace/YuNet order).
        aligned: True when the image was taken as an already aligned crop
            (the landmarks are then the ArcFace template, not a detection).
        track_id: (n,) int64 track ids from a tracker, ``-1`` (:data:`UNTRACKED`)
            for a face that belongs to no track; None when nothing was tracked.
        identity: (n,) object array of ``str | None``: who each face is, None for
            a face not recognised (open set); None when nothing was identified.
        data: extra per-face arrays (supervision's ``data``), each with n rows;
            sliced along with the faces.

    Index with a boolean mask, an index array or list, a slice or an int (which
    keeps a one-face ``Faces``); every per-face array is sliced together.
    """

    boxes: FloatArray
    scores: FloatArray
    landmarks5: FloatArray
    aligned: bool = False
    track_id: IntArray | None = None
    identity: ObjectArray | None = None
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

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
        if self.track_id is not None:
            object.__setattr__(self, "track_id", _track_ids(self.track_id, n))
        if self.identity is not None:
            object.__setattr__(self, "identity", _identities(self.identity, n))
        object.__setattr__(self, "data", _per_face_data(self.data, n))

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
            self.boxes[selector],
            self.scores[selector],
            self.landmarks5[selector],
            self.aligned,
            track_id=None if self.track_id is None else self.track_id[selector],
            identity=None if self.identity is None else self.identity[selector],
            data={name: values[selector] for name, values in self.data.items()},
        )

    @property
    def areas(self) -> FloatArray:
        """(n,) box areas in square pixels."""
        return (
            (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])
        ).astype(np.float32)

    def ordered(self) -> Faces:
        """These faces in the standard order: left to right, ties most confident first."""
        order = face_order(self.boxes, self.scores)
        if np.array_equal(order, np.arange(len(self))):
            return self
        return self[order]

    def with_tracks(self, track_ids: Sequence[int | None] | npt.ArrayLike) -> Faces:
        """A copy with a track id per face (None or -1: untracked)."""
        return self._replace(track_id=track_ids)

    def with_identities(self, identities: Iterable[str | None]) -> Faces:
        """A copy with an identity per face (None: not recognised)."""
        return self._replace(identity=list(identities))

    def with_identifications(self, found: Sequence[Identification]) -> Faces:
        """A copy with the decisions of ``identify`` (one per face, in this order).

        Sets :attr:`identity` and the per-face ``data`` arrays ``identity_score``
        (the best candidate's score) and ``identity_threshold``.
        """
        if len(found) != len(self):
            raise ValueError(f"{len(found)} identifications for {len(self)} faces")
        return self._replace(
            identity=[f.identity for f in found],
            data={
                **self.data,
                "identity_score": np.array([f.score for f in found], np.float32),
                "identity_threshold": np.array([f.threshold for f in found], np.float32),
            },
        )

    def with_data(self, **arrays: npt.ArrayLike) -> Faces:
        """A copy with more per-face arrays in :attr:`data` (replacing same names)."""
        return self._replace(data={**self.data, **{k: np.asarray(v) for k, v in arrays.items()}})

    def _replace(self, **changes: Any) -> Faces:
        values: dict[str, Any] = {
            "track_id": self.track_id,
            "identity": self.identity,
            "data": self.data,
        }
        values.update(changes)
        return Faces(self.boxes, self.scores, self.landmarks5, self.aligned, **values)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain-Python view, for JSON output.

        ``track_id``, ``identity`` and the :attr:`data` arrays appear only when set.
        """
        out = []
        for index, (box, score, points) in enumerate(
            zip(self.boxes, self.scores, self.landmarks5, strict=True)
        ):
            entry: dict[str, Any] = {
                "box": [round(float(v), 1) for v in box],
                "score": round(float(score), 4),
                "landmarks5": [[round(float(x), 1), round(float(y), 1)] for x, y in points],
            }
            if self.track_id is not None:
                track = int(self.track_id[index])
                entry["track_id"] = None if track == UNTRACKED else track
            if self.identity is not None:
                entry["identity"] = self.identity[index]
            for name, values in self.data.items():
                entry[name] = np.asarray(values[index]).tolist()
            out.append(entry)
        return out


def _track_ids(values: Any, n: int) -> IntArray:
    if not isinstance(values, np.ndarray):
        values = [UNTRACKED if v is None else v for v in values]
    array = np.asarray(values)
    if array.size == 0:
        array = array.astype(np.int64)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"track_id has shape {array.shape}, expected ({n},)")
    if array.dtype.kind not in "iu" and not (
        array.dtype.kind == "f" and np.all(np.isfinite(array) & (array == np.round(array)))
    ):
        raise ValueError(f"track_id must hold integers, got {array.dtype}")
    if (array < UNTRACKED).any():
        raise ValueError("track_id must be >= 0, or -1 for an untracked face")
    return array.astype(np.int64)


def _identities(values: Any, n: int) -> ObjectArray:
    items = list(values)
    if len(items) != n:
        raise ValueError(f"identity has {len(items)} entries, expected {n}")
    array = np.empty(n, dtype=object)
    for index, item in enumerate(items):
        if item is not None and not isinstance(item, str):
            raise ValueError(f"identity entries must be str or None, got {type(item).__name__}")
        array[index] = None if item is None else str(item)
    return array


def _per_face_data(data: Mapping[str, Any], n: int) -> dict[str, npt.NDArray[Any]]:
    checked: dict[str, npt.NDArray[Any]] = {}
    for name, values in data.items():
        if not isinstance(name, str):
            raise ValueError(f"data keys must be str, got {name!r}")
        array = np.asarray(values)
        if array.ndim == 0 or len(array) != n:
            raise ValueError(
                f"data[{name!r}] has shape {array.shape}, expected {n} rows (one per face)"
            )
        checked[name] = array
    return checked


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
class DecisionRule:
    """The rule a recognition decision applied, stated with every result.

    Built by :func:`facescope.match.thresholds.verification_rule` (1:1) and
    :func:`facescope.match.thresholds.identification_rule` (1:N); see
    ``docs/thresholds.md``.

    Attributes:
        mode: ``"1:1"`` (verification) or ``"1:N"`` (open-set identification).
        rate: the error rate held: ``"fmr"`` (1:1) or ``"fpir"`` (1:N).
        target: its value (e.g. 0.001 or 0.01).
        gallery_size: N, the subjects searched (1:N); None for 1:1.
        comparisons: comparisons sharing the decision (face pairs for 1:1, N for 1:N).
        per_comparison_fmr: the FMR each comparison is held at,
            ``1 - (1 - target) ** (1 / comparisons)``.
        model: the recognition model (or ``"fusion"``).
        threshold: the score threshold applied (accept when ``score >= threshold``).
        calibration: the data the thresholds were calibrated on.
        calibration_file: the thresholds file (``bundled thresholds.json`` for the
            shipped one; "" when not read from a file).
        calibrated_fmr: the lowest and highest FMR calibrated for `model`.
        interpolated: the per-comparison FMR lies between calibrated points.
        extrapolated: it lies outside them (1:N only: below the lowest the line
            through the two lowest points is extended; above the highest, the
            highest point's threshold is kept).
        note: how a special rule (per-spectrum-pair thresholds) differs, or "".
    """

    mode: str
    rate: str
    target: float
    gallery_size: int | None
    comparisons: int
    per_comparison_fmr: float
    model: str
    threshold: float
    calibration: str
    calibrated_fmr: tuple[float, float]
    calibration_file: str = ""
    interpolated: bool = False
    extrapolated: bool = False
    note: str = ""

    def describe(self) -> str:
        """One line for people, e.g. ``1:1 at FMR 1e-3 -> sface threshold 0.419``."""
        per = f"per-comparison FMR {_rate(self.per_comparison_fmr)}"
        if self.mode == "1:N":
            size = self.gallery_size or 0
            among = f"1:N among {size} subject{'' if size == 1 else 's'}"
            head = (
                f"{among} at FPIR {_percent(self.target)} ({per})"
                if self.rate == "fpir"
                else f"{among} at {per}"
            )
            what = "per-comparison threshold"
        else:
            head = f"1:1 at FMR {_rate(self.target)}"
            if self.comparisons > 1:
                pair = _rate(self.per_comparison_fmr)
                head += f" over {self.comparisons} face pairs (per-pair FMR {pair})"
            what = "threshold"
        text = f"{head} \u2192 {self.model} {what} {self.threshold:.3f}"
        if self.extrapolated:
            low, high = self.calibrated_fmr
            span = f"{_rate(low)} to {_rate(high)}"
            text += (
                f" (below the calibrated FMR {span}: extrapolated)"
                if self.per_comparison_fmr < low
                else f" (above the calibrated FMR {span}: the threshold at {_rate(high)} is kept)"
            )
        if self.note:
            text += f"; {self.note}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output (``text`` is :meth:`describe`)."""
        return {
            "mode": self.mode,
            "rate": self.rate,
            "target": self.target,
            "gallery_size": self.gallery_size,
            "comparisons": self.comparisons,
            "per_comparison_fmr": float(f"{self.per_comparison_fmr:.6g}"),
            "model": self.model,
            "threshold": round(self.threshold, 6),
            "calibration": self.calibration,
            "calibration_file": self.calibration_file,
            "calibrated_fmr": [self.calibrated_fmr[0], self.calibrated_fmr[1]],
            "interpolated": self.interpolated,
            "extrapolated": self.extrapolated,
            "note": self.note,
            "text": self.describe(),
        }


def _rate(value: float) -> str:
    """A small rate the way the docs write it: 1e-3, 5e-3, 2.1e-4."""
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _percent(value: float) -> str:
    return f"{value * 100:.3g}%"


@dataclass(frozen=True)
class VerifyResult:
    """Decision of a 1:1 comparison.

    Attributes:
        same_person: ``score >= threshold``.
        score: similarity (cosine for single models; z-normalised mean for fusion).
        threshold: decision threshold at ``fmr`` (how: ``decision_rule``).
        model: ``"sface"``, ``"dlib"`` or ``"fusion"``.
        fmr: false-match rate (FMR) of the whole decision. When a photo holds
            several faces every pair is compared, and the threshold is the one
            whose per-comparison FMR keeps this rate over all ``comparisons``.
        box_a, box_b: the faces whose pair scored best (``x1, y1, x2, y2``), or
            None for a side given as embeddings.
        faces_a, faces_b: faces found on each side (1 for embeddings).
        comparisons: face pairs compared (``faces_a * faces_b``).
        decision_rule: the rule applied (:class:`DecisionRule`), or None.
    """

    same_person: bool
    score: float
    threshold: float
    model: str
    fmr: float
    box_a: Box | None = None
    box_b: Box | None = None
    faces_a: int = 1
    faces_b: int = 1
    comparisons: int = 1
    decision_rule: DecisionRule | None = None

    @property
    def far_target(self) -> float:
        """Deprecated name of :attr:`fmr` (removed in the next release)."""
        warnings.warn(
            "VerifyResult.far_target is deprecated; use VerifyResult.fmr",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.fmr

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output.

        ``far_target`` repeats ``fmr`` for readers of the old key (removed in the
        next release).
        """
        return {
            "same_person": self.same_person,
            "score": round(self.score, 6),
            "threshold": round(self.threshold, 6),
            "model": self.model,
            "fmr": self.fmr,
            "far_target": self.fmr,
            "box_a": None if self.box_a is None else [round(v, 1) for v in self.box_a],
            "box_b": None if self.box_b is None else [round(v, 1) for v in self.box_b],
            "faces_a": self.faces_a,
            "faces_b": self.faces_b,
            "comparisons": self.comparisons,
            "decision_rule": None if self.decision_rule is None else self.decision_rule.to_dict(),
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
    ``box`` is the face's ``x1, y1, x2, y2`` in image pixels (:data:`Box`).
    ``decision_rule`` says how ``threshold`` was chosen (:class:`DecisionRule`).
    """

    box: Box
    identity: str | None
    score: float
    threshold: float
    model: str
    candidates: list[Candidate] = field(default_factory=list)
    decision_rule: DecisionRule | None = None

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
            "decision_rule": None if self.decision_rule is None else self.decision_rule.to_dict(),
        }
