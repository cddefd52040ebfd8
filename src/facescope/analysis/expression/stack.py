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


class StackedFusion:
    """Members' probabilities -> (n, 7) probabilities in EXPRESSIONS order.

    Args:
        members: the members whose probabilities are the features, in order.
        head: a fitted :class:`LogisticHead` over :func:`stack_features`.
    """

    def __init__(self, members: Sequence[str], head: LogisticHead) -> None:
        self.members = tuple(members)
        self.head = head
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
        out = self.head.predict_proba(x)[:, self._order]
        return np.asarray(out, np.float32)

    @classmethod
    def fit(
        cls,
        probs: Mapping[str, npt.ArrayLike],
        labels: npt.ArrayLike,
        members: Sequence[str],
        *,
        l2: float = 1.0,
        sample_weight: npt.ArrayLike | None = None,
    ) -> StackedFusion:
        """Fit on members' probabilities and EXPRESSIONS-index labels."""
        y = np.asarray(labels, np.int64)
        x = stack_features(probs, members, len(y))
        head = LogisticHead(
            l2=l2, class_names=list(EXPRESSIONS), feature_names=feature_names(members)
        )
        head.fit(x, np.array(EXPRESSIONS)[y], sample_weight=sample_weight)
        return cls(members, head)

    def to_json(self) -> dict[str, Any]:
        """The head's JSON with the member list."""
        return {"members": list(self.members), "head": self.head.to_json()}

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str = "stack") -> StackedFusion:
        """Inverse of :meth:`to_json` (HeadError / ValueError on a bad document)."""
        members = document.get("members")
        if not isinstance(members, list) or not members:
            raise ValueError(f"{source}: 'members' must be a non-empty list")
        head = LogisticHead.from_json(document["head"], source)
        if head.n_features_in_ != 7 * len(members) + 1:
            raise ValueError(f"{source}: {head.n_features_in_} features for {members}")
        return cls([str(m) for m in members], head)

    @classmethod
    def load(cls, path: str | Path) -> StackedFusion:
        """Read a stacker file."""
        import json

        file = Path(path)
        return cls.from_json(json.loads(file.read_text(encoding="utf-8")), str(file))


__all__ = ["AU_MEMBER", "StackedFusion", "feature_names", "stack_features"]
