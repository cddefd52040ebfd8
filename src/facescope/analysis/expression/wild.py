"""What the analysis path hands the expression ensemble, for a batch of photos.

Fitting the ensemble's weights for the wild (``scripts/fit_expression_ensemble.py``) and
measuring it (``benchmarks/bench_expression_wild.py``) must see each photo exactly as
:meth:`facescope.analysis.Analyzer.analyze` does: the detector (with the small-crop
fallback of :func:`~facescope.analysis.analyzer.is_tiny_face_crop`), the eye-levelled
crop with the ensemble's margin, and the AU head's probabilities where a mesh was found.
:func:`analysis_inputs` runs that path once per photo (the largest face only) and
returns the crops and the AU head's output; :func:`ensemble_rows` combines member
probabilities the way the analyzer does (the AU head joins only where a face has a
mesh). Photos with no face at all are kept, flagged ``lost``: they count as errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
from facescope.analysis.expression.convcut_train import stratified_split
from facescope.analysis.expression.ensemble import combine
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.expression.models import as_grey
from facescope.analysis.expression.preprocess import DEFAULT_MARGIN, expression_crop
from facescope.analysis.expression.stack import AU_MEMBER

FloatArray = npt.NDArray[np.float32]
#: Seed of the fit/held-out halves of the FER2013 validation split.
FIT_HALF_SEED = 2028


@dataclass
class AnalysisInputs:
    """Per photo: the members' crop, the AU head's probabilities, and how the face was found.

    Attributes:
        crops: one grey crop per photo (the whole photo where no face was found).
        au: (n, 7) AU-head probabilities; NaN rows where no mesh was found.
        lost: (n,) no face at all (the analysis would give no result).
        tiny: (n,) no face detected; the photo was taken as a tight face crop.
    """

    crops: list[npt.NDArray[np.uint8]]
    au: FloatArray
    lost: npt.NDArray[np.bool_]
    tiny: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.crops)

    def save(self, path: str | Path) -> Path:
        """Write to an ``.npz`` (crops stacked when they share one size, else padded)."""
        side = max((c.shape[0] for c in self.crops), default=0)
        stack = np.zeros((len(self.crops), side, side), np.uint8)
        sizes = np.zeros(len(self.crops), np.int32)
        for i, crop in enumerate(self.crops):
            stack[i, : crop.shape[0], : crop.shape[1]] = crop
            sizes[i] = crop.shape[0]
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            target, crops=stack, sizes=sizes, au=self.au, lost=self.lost, tiny=self.tiny
        )
        return target

    @classmethod
    def load(cls, path: str | Path) -> AnalysisInputs:
        """Inverse of :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            stack, sizes = data["crops"], data["sizes"]  # each read decompresses: once
            crops = [stack[i, :s, :s].copy() for i, s in enumerate(sizes)]
            return cls(crops, data["au"], data["lost"], data["tiny"])


def fit_half(labels: npt.ArrayLike, seed: int = FIT_HALF_SEED) -> npt.NDArray[np.bool_]:
    """Mask of the half of a validation set the ensemble's weights are chosen on.

    A seeded stratified half of `labels` (EXPRESSIONS indices); the other half is held out
    for the figures the README reports.
    """
    y = np.asarray(labels, np.int64)
    fit, _ = stratified_split(y, 0.5, seed)
    mask = np.zeros(len(y), bool)
    mask[fit] = True
    return mask


def analysis_inputs(
    images: Sequence[npt.NDArray[np.uint8]],
    *,
    margin: float = DEFAULT_MARGIN,
    progress: Callable[[int], None] | None = None,
) -> AnalysisInputs:
    """Run the analysis path (detection, mesh, AU head; no ensemble) on each photo.

    Args:
        images: grey (H, W) or RGB (H, W, 3) uint8 photos.
        margin: the ensemble's crop margin (``weights.json``'s ``margin``).
        progress: called with the number of photos done after each one.
    """
    from facescope.analysis.expression.au_head import default_head

    analyzer = Analyzer(AnalyzeOptions(expressions=False, quality=False, max_faces=1))
    head = default_head()
    crops: list[npt.NDArray[np.uint8]] = []
    au = np.full((len(images), len(EXPRESSIONS)), np.nan, np.float32)
    lost = np.zeros(len(images), bool)
    tiny = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        rgb = np.ascontiguousarray(np.stack([image] * 3, -1) if image.ndim == 2 else image)
        faces = analyzer.analyze(rgb).faces
        if not faces:
            lost[i] = True
            crops.append(as_grey(rgb))
        else:
            face = faces[0]
            tiny[i] = "face" in face.missing
            crops.append(expression_crop(rgb, np.asarray(face.box), face.landmarks5, margin=margin))
            if face.mesh is not None:
                au[i] = head.predict_mesh(face.mesh[None])[0]
        if progress is not None:
            progress(i + 1)
    return AnalysisInputs(crops, au, lost, tiny)


def ensemble_rows(
    member_probs: Mapping[str, npt.ArrayLike],
    au: npt.ArrayLike,
    weights: Mapping[str, float],
    rule: str,
) -> FloatArray:
    """(n, 7) ensemble probabilities as the analyzer combines them.

    The AU head (:data:`AU_MEMBER`) joins the crop members on rows where ``au`` is finite
    (a mesh was found); elsewhere its weight is left out and the rest renormalised.
    """
    au_probs = np.asarray(au, np.float32)
    with_mesh = np.isfinite(au_probs).all(axis=1)
    first = np.asarray(next(iter(member_probs.values())))
    out = np.zeros((len(first), len(EXPRESSIONS)), np.float32)
    crop_members = {k: np.asarray(v) for k, v in member_probs.items() if k != AU_MEMBER}
    for rows, extra in ((with_mesh, True), (~with_mesh, False)):
        if not rows.any():
            continue
        probs = {k: v[rows] for k, v in crop_members.items()}
        if extra:
            probs[AU_MEMBER] = au_probs[rows]
        if not any(weights.get(k, 0.0) > 0 for k in probs):
            continue  # only the AU head is weighted and it is absent here: uniform
        out[rows] = combine(probs, weights, rule)
    none = ~out.any(axis=1)
    out[none] = 1.0 / len(EXPRESSIONS)
    return out


__all__ = [
    "AU_MEMBER",
    "FIT_HALF_SEED",
    "AnalysisInputs",
    "analysis_inputs",
    "ensemble_rows",
    "fit_half",
]
