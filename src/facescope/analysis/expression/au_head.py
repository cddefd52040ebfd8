"""A small expression head on the geometric action-unit measures, trained on CK+.

:class:`AUExpressionHead` is a multinomial logistic regression on the raw
geometric measures of :mod:`facescope.analysis.au` (millimetres on the
canonical-aligned mesh; standardised with the training mean and spread). It was
fitted on the CK+ ``fit`` subjects (``benchmarks/bench_au.py --write-head``)
for the six expressions CK+ holds; CK+ has no neutral frames, so the head
cannot tell neutral apart: its neutral column is always 0 and the expression
ensemble decides neutral. Coefficients live in ``au_head.json`` with their
provenance; prediction is plain numpy.

The head targets the classes the bundled CNNs miss on posed faces (anger and
disgust: brow lowering, lid tightening, lip pressing, nose wrinkling); it knows
posed CK+ expressions only, so expect it to be over-confident on spontaneous,
in-the-wild faces.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope._lazy import Lazy
from facescope.analysis.au import MEASURE_NAMES, geometric_measures
from facescope.analysis.expression.labels import EXPRESSIONS

FloatArray = npt.NDArray[np.float64]

#: The coefficients shipped with the package.
HEAD_PATH = Path(__file__).with_name("au_head.json")


def features_from_mesh(points: npt.ArrayLike) -> FloatArray:
    """The head's features: raw measures of a mesh (478, 3) -> (m,), or (n, 478, 3) -> (n, m)."""
    return geometric_measures(points)


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), np.float64)


class AUExpressionHead:
    """Multinomial logistic regression on the geometric measures (six CK+ classes).

    Args:
        path: the JSON file with the ``head`` block (default: the shipped one).

    Attributes:
        classes_: the classes the head knows, in its output order.
        mean_, scale_: feature standardisation.
        coef_: (n_classes, n_features) weights; ``intercept_``: (n_classes,).
        provenance_: how the coefficients were made.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = path
        head = _load(str(Path(path) if path is not None else HEAD_PATH))["head"]
        if tuple(head["features"]) != MEASURE_NAMES:
            raise ValueError("au_head.json was fitted on other measures; rerun bench_au.py")
        self.classes_: tuple[str, ...] = tuple(head["classes"])
        self.mean_ = np.asarray(head["mean"], np.float64)
        self.scale_ = np.asarray(head["scale"], np.float64)
        self.coef_ = np.asarray(head["coef"], np.float64)
        self.intercept_ = np.asarray(head["intercept"], np.float64)
        self.provenance_: dict[str, Any] = dict(head.get("provenance", {}))
        self._columns = [EXPRESSIONS.index(name) for name in self.classes_]

    def decision_function(self, features: npt.ArrayLike) -> FloatArray:
        """(n, n_classes) logits of features (n, m) or (m,)."""
        x = np.atleast_2d(np.asarray(features, np.float64))
        return np.asarray(((x - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_)

    def predict_proba(self, features: npt.ArrayLike) -> FloatArray:
        """(n, 7) probabilities in EXPRESSIONS order; neutral (and any unknown class) is 0.

        Rows with non-finite features (a failed mesh) are all zero.
        """
        x = np.atleast_2d(np.asarray(features, np.float64))
        out = np.zeros((x.shape[0], len(EXPRESSIONS)), np.float64)
        good = np.isfinite(x).all(axis=1)
        if good.any():
            out[np.ix_(np.flatnonzero(good), np.asarray(self._columns))] = softmax(
                self.decision_function(x[good])
            )
        return out

    def predict_mesh(self, points: npt.ArrayLike) -> FloatArray:
        """(n, 7) probabilities of meshes (n, 478, 3) or one mesh (478, 3), image pixels."""
        mesh = np.asarray(points, np.float64)
        return self.predict_proba(features_from_mesh(mesh.reshape(-1, *mesh.shape[-2:])))


@cache
def _load(path: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(Path(path).read_text())
    if "head" not in payload:
        raise ValueError(f"{path} holds no fitted head; run benchmarks/bench_au.py --write-head")
    return payload


_DEFAULT: Lazy[AUExpressionHead] = Lazy(AUExpressionHead)


def default_head() -> AUExpressionHead:
    """The process-wide head with the shipped coefficients."""
    return _DEFAULT.get()
