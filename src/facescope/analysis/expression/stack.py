"""Stacked fusion: a logistic head over the members' log-probabilities.

One weight per member cannot serve posed and in-the-wild faces at once: the member that
is best in the wild (fer, trained on FER2013) is the worst on posed CK+ faces, and the
best posed one (facex) the worst in the wild. A stacker learns from the members' whole
probability vectors which member to trust for which kind of answer. Its features are,
for each member in :attr:`StackedFusion.members`, ``log(clip(p, 1e-4, 1))`` (7 columns);
for the geometric AU head, the same where a face has a mesh and zeros elsewhere, plus a
``has_mesh`` flag. The head is a :class:`~facescope.heads.LogisticHead` (standardised
features, L2), fitted by ``scripts/fit_expression_ensemble.py`` and stored as the
head's JSON (``stack.json`` next to ``weights.json``).

**Gated** (a mixture of experts): posed and in-the-wild faces need different trust in
the members, so an optional *gate*, a binary :class:`~facescope.heads.LogisticHead` on
the same features, estimates how posed a face looks (``g``, fitted on posed CK+ rows
against in-the-wild FER2013 rows). The head then sees ``[x, g * x, g]``: one set of
weights for in-the-wild faces and a correction that grows with ``g``. It is fitted on
out-of-fold gate values (:func:`out_of_fold_gate`), as the gate will be at run time on
faces it never saw. On the fit halves' 5-fold CV the gate moved the trade-off by about
a point (``scripts/fit_expression_ensemble.py``).

Where a crop member is missing (a plain install without the torch extra has no conv-cut
or what-the-face), the ensemble falls back to its weighted pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.heads import LogisticHead

FloatArray = npt.NDArray[np.float32]
#: The geometric member, whose probabilities exist only where a face has a mesh.
AU_MEMBER = "au_head"
#: Probabilities are clipped to this before the log.
FLOOR = 1e-4
#: The gate's two classes: in the wild, posed.
GATE_CLASSES = ("wild", "posed")


def stack_features(
    probs: Mapping[str, npt.ArrayLike], members: Sequence[str], n: int
) -> FloatArray:
    """(n, 7 * len(members) + 1) features; the AU head's rows are NaN or absent where no mesh."""
    columns: list[npt.NDArray[np.float64]] = []
    has_mesh = np.zeros(n, bool)
    for name in members:
        if name == AU_MEMBER:
            au = np.asarray(probs[name], np.float64) if name in probs else np.full((n, 7), np.nan)
            has_mesh = np.isfinite(au).all(axis=1)
            logs = np.log(np.clip(np.where(has_mesh[:, None], au, 1.0), FLOOR, 1.0))
            columns.append(logs * has_mesh[:, None])
        else:
            p = np.asarray(probs[name], np.float64).reshape(n, len(EXPRESSIONS))
            columns.append(np.log(np.clip(p, FLOOR, 1.0)))
    columns.append(has_mesh[:, None].astype(np.float64))
    return np.asarray(np.concatenate(columns, axis=1), np.float32)


def feature_names(members: Sequence[str]) -> list[str]:
    """Names of the :func:`stack_features` columns."""
    names = [f"log_{m}_{e}" for m in members for e in EXPRESSIONS]
    return [*names, "has_mesh"]


def gated_features(x: npt.ArrayLike, posed: npt.ArrayLike) -> FloatArray:
    """``[x, posed * x, posed]``: the features a gated head reads."""
    x = np.asarray(x, np.float64)
    g = np.asarray(posed, np.float64).reshape(-1, 1)
    return np.asarray(np.concatenate([x, x * g, g], axis=1), np.float32)


def gated_names(names: Sequence[str]) -> list[str]:
    """Names of the :func:`gated_features` columns."""
    return [*names, *(f"posed_x_{n}" for n in names), "posed"]


def fit_gate(x: npt.ArrayLike, posed: npt.ArrayLike, *, l2: float = 10.0) -> LogisticHead:
    """The gate: a binary head telling posed rows (True) from in-the-wild ones."""
    flags = np.asarray(posed, bool)
    if flags.all() or not flags.any():
        raise ValueError("the gate needs both posed and in-the-wild rows")
    gate = LogisticHead(l2=l2, class_names=list(GATE_CLASSES))
    gate.fit(np.asarray(x, np.float32), np.array(GATE_CLASSES)[flags.astype(int)])
    return gate


def posed_share(gate: LogisticHead, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The gate's probability that each row is posed."""
    column = list(gate.classes_).index("posed")
    return np.asarray(gate.predict_proba(np.asarray(x, np.float32))[:, column], np.float64)


def out_of_fold_gate(
    x: npt.ArrayLike, posed: npt.ArrayLike, folds: npt.ArrayLike, *, l2: float = 10.0
) -> npt.NDArray[np.float64]:
    """Each row's gate value from a gate fitted on the other folds (no row sees itself)."""
    x, flags, folds = np.asarray(x, np.float32), np.asarray(posed, bool), np.asarray(folds)
    out = np.zeros(len(x))
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = posed_share(fit_gate(x[~held], flags[~held], l2=l2), x[held])
    return out


class StackedFusion:
    """Members' probabilities -> (n, 7) probabilities in EXPRESSIONS order.

    Args:
        members: the members whose probabilities are the features, in order.
        head: a fitted :class:`LogisticHead` over :func:`stack_features` (over
            :func:`gated_features` of them when there is a `gate`).
        gate: an optional fitted gate (:func:`fit_gate`).
    """

    def __init__(
        self, members: Sequence[str], head: LogisticHead, gate: LogisticHead | None = None
    ) -> None:
        self.members = tuple(members)
        self.head = head
        self.gate = gate
        missing = sorted(set(EXPRESSIONS) - set(head.classes_))
        if missing:
            raise ValueError(f"the stacking head lacks the classes {missing}")
        self._order = [list(head.classes_).index(e) for e in EXPRESSIONS]

    @property
    def crop_members(self) -> tuple[str, ...]:
        """The members that need a model (all but the AU head)."""
        return tuple(m for m in self.members if m != AU_MEMBER)

    def predict(self, probs: Mapping[str, npt.ArrayLike]) -> FloatArray:
        """(n, 7) probabilities; ``probs`` holds every crop member (the AU head optional)."""
        n = len(np.asarray(probs[self.crop_members[0]]))
        x = stack_features(probs, self.members, n)
        if self.gate is not None:
            x = gated_features(x, posed_share(self.gate, x))
        out = self.head.predict_proba(x)[:, self._order]
        return np.asarray(out, np.float32)

    def posed(self, probs: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64] | None:
        """The gate's probability that each face is posed (None: no gate)."""
        if self.gate is None:
            return None
        n = len(np.asarray(probs[self.crop_members[0]]))
        return posed_share(self.gate, stack_features(probs, self.members, n))

    @classmethod
    def fit(
        cls,
        probs: Mapping[str, npt.ArrayLike],
        labels: npt.ArrayLike,
        members: Sequence[str],
        *,
        l2: float = 1.0,
        sample_weight: npt.ArrayLike | None = None,
        posed: npt.ArrayLike | None = None,
        folds: npt.ArrayLike | None = None,
        gate_l2: float = 10.0,
    ) -> StackedFusion:
        """Fit on members' probabilities and EXPRESSIONS-index labels.

        `posed` (a flag per row) adds the gate: fitted on every row, while the head is
        fitted on out-of-fold gate values over `folds` (required with `posed`).
        """
        y = np.asarray(labels, np.int64)
        x = stack_features(probs, members, len(y))
        names = feature_names(members)
        gate = None
        if posed is not None:
            if folds is None:
                raise ValueError("a gated stacker needs folds for its out-of-fold gate")
            gate = fit_gate(x, posed, l2=gate_l2)
            x = gated_features(x, out_of_fold_gate(x, posed, folds, l2=gate_l2))
            names = gated_names(names)
        head = LogisticHead(l2=l2, class_names=list(EXPRESSIONS), feature_names=names)
        head.fit(x, np.array(EXPRESSIONS)[y], sample_weight=sample_weight)
        return cls(members, head, gate)

    def to_json(self) -> dict[str, Any]:
        """The head's JSON with the member list (and the gate's, when there is one)."""
        out = {"members": list(self.members), "head": self.head.to_json()}
        if self.gate is not None:
            out["gate"] = self.gate.to_json()
        return out

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str = "stack") -> StackedFusion:
        """Inverse of :meth:`to_json` (HeadError / ValueError on a bad document)."""
        members = document.get("members")
        if not isinstance(members, list) or not members:
            raise ValueError(f"{source}: 'members' must be a non-empty list")
        head = LogisticHead.from_json(document["head"], source)
        plain = 7 * len(members) + 1
        gate = None
        if document.get("gate") is not None:
            gate = LogisticHead.from_json(document["gate"], f"{source} (gate)")
            if gate.n_features_in_ != plain or set(gate.classes_) != set(GATE_CLASSES):
                raise ValueError(f"{source}: the gate does not fit {members}")
        wanted = 2 * plain + 1 if gate is not None else plain
        if head.n_features_in_ != wanted:
            raise ValueError(f"{source}: {head.n_features_in_} features for {members}")
        return cls([str(m) for m in members], head, gate)

    @classmethod
    def load(cls, path: str | Path) -> StackedFusion:
        """Read a stacker file."""
        import json

        file = Path(path)
        return cls.from_json(json.loads(file.read_text(encoding="utf-8")), str(file))


__all__ = [
    "AU_MEMBER",
    "GATE_CLASSES",
    "StackedFusion",
    "feature_names",
    "fit_gate",
    "gated_features",
    "out_of_fold_gate",
    "posed_share",
    "stack_features",
]
