"""A small expression head on the geometric action-unit measures, trained on CK+.

:class:`AUExpressionHead` wraps a multinomial :class:`~facescope.heads.LogisticHead`
on the raw geometric measures of :mod:`facescope.analysis.au` (millimetres on the
canonical-aligned mesh; standardised with the training mean and spread). It was
fitted on the CK+ ``fit`` subjects (``scripts/fit_au_head.py``) for the six
expressions CK+ holds; CK+ has no neutral frames, so the head cannot tell
neutral apart: its neutral column is always 0 and the expression ensemble
decides neutral. The head is the ``head`` block (a ``facescope-head/1``
document, with its provenance) of ``au_head.json``; prediction is plain numpy.

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
from facescope.heads import HEAD_FORMAT, HeadError, LogisticHead

FloatArray = npt.NDArray[np.float64]

#: The coefficients shipped with the package.
HEAD_PATH = Path(__file__).with_name("au_head.json")


def features_from_mesh(points: npt.ArrayLike) -> FloatArray:
    """The head's features: raw measures of a mesh (478, 3) -> (m,), or (n, 478, 3) -> (n, m)."""
    return geometric_measures(points)


class AUExpressionHead:
    """Seven-expression probabilities from the geometric measures (six CK+ classes).

    Args:
        path: the JSON file with the ``head`` block (default: the shipped one).

    Attributes:
        head_: the fitted :class:`~facescope.heads.LogisticHead`.
        classes_: the classes the head knows, in its output order.
        mean_, scale_: feature standardisation.
        coef_: (n_classes, n_features) weights; ``intercept_``: (n_classes,).
        provenance_: how the coefficients were made.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = path
        self.head_ = _load(str(Path(path) if path is not None else HEAD_PATH))
        self._columns = [EXPRESSIONS.index(name) for name in self.classes_]

    @property
    def classes_(self) -> tuple[str, ...]:
        return self.head_.classes_

    @property
    def mean_(self) -> FloatArray:
        return self.head_.mean_

    @property
    def scale_(self) -> FloatArray:
        return self.head_.scale_

    @property
    def coef_(self) -> FloatArray:
        return self.head_.coef_

    @property
    def intercept_(self) -> FloatArray:
        return self.head_.intercept_

    @property
    def provenance_(self) -> dict[str, Any]:
        return self.head_.provenance_

    def decision_function(self, features: npt.ArrayLike) -> FloatArray:
        """(n, n_classes) logits of features (n, m) or (m,)."""
        return self.head_.decision_function(features)

    def predict_proba(self, features: npt.ArrayLike) -> FloatArray:
        """(n, 7) probabilities in EXPRESSIONS order; neutral (and any unknown class) is 0.

        Rows with non-finite features (a failed mesh) are all zero.
        """
        x = np.atleast_2d(np.asarray(features, np.float64))
        out = np.zeros((x.shape[0], len(EXPRESSIONS)), np.float64)
        good = np.isfinite(x).all(axis=1)
        if good.any():
            out[np.ix_(np.flatnonzero(good), np.asarray(self._columns))] = self.head_.predict_proba(
                x[good]
            )
        return out

    def predict_mesh(self, points: npt.ArrayLike) -> FloatArray:
        """(n, 7) probabilities of meshes (n, 478, 3) or one mesh (478, 3), image pixels."""
        mesh = np.asarray(points, np.float64)
        return self.predict_proba(features_from_mesh(mesh.reshape(-1, *mesh.shape[-2:])))


@cache
def _load(path: str) -> LogisticHead:
    payload: dict[str, Any] = json.loads(Path(path).read_text())
    block = payload.get("head")
    if not isinstance(block, dict):
        raise HeadError(f"{path} holds no fitted head; run scripts/fit_au_head.py")
    if "format" not in block:  # written before the shared head format: convert on read
        block = _legacy_document(block)
    head = LogisticHead.from_json(block, f"{path}, head")
    if head.feature_names_in_ != MEASURE_NAMES:
        raise HeadError(f"{path} was fitted on other measures; rerun scripts/fit_au_head.py")
    unknown = sorted(set(head.classes_) - set(EXPRESSIONS))
    if unknown:
        raise HeadError(f"{path}: classes {unknown} are not expressions {list(EXPRESSIONS)}")
    return head


def _legacy_document(block: dict[str, Any]) -> dict[str, Any]:
    """A ``head`` block of the first au_head.json layout as a ``facescope-head/1`` document."""
    return {
        "format": HEAD_FORMAT,
        "classes": block["classes"],
        "features": block["features"],
        "mean": block["mean"],
        "scale": block["scale"],
        "coef": block["coef"],
        "intercept": block["intercept"],
        "provenance": block.get("provenance", {}),
    }


_DEFAULT: Lazy[AUExpressionHead] = Lazy(AUExpressionHead)


def default_head() -> AUExpressionHead:
    """The process-wide head with the shipped coefficients."""
    return _DEFAULT.get()
