"""Trainable engagement classifiers: a :class:`~facescope.heads.LogisticHead` on window features.

The features come from our own windows (``facescope engagement VIDEO --csv`` plus
a ``person`` and a ``label`` column) or from a data set's released feature files
(landmarks, gaze, AUs, ... per frame or per sample), read through a
:class:`FeatureSchema`: a small JSON or TOML file naming the file's columns::

    # open.toml: a data set that releases features, not video
    person = "participant"        # required: who (cross-validation splits by it)
    label = "engagement"          # the class label column (needed to train)
    id = "sample"                 # optional: rows sharing it are one sample (averaged)
    time = "start_s"              # optional: kept for reference
    context = ["addressed"]       # optional: context columns, used as features
    positive = "1"                # optional: the engaged class of a binary label
    missing = "error"             # or "mean": fill NaN with the column mean
    [features]                    # file column -> feature name
    gaze_on_screen = "gaze_on_target"
    pose_Rx_std = "head_pose_std"

Feature names are ours (``windows.FEATURES``, the expression names, ``AU12``...)
when the column means the same thing, so a head trained on a data set can score
our videos; other names are allowed but then the head only scores files that
have them. Context columns become features: a numeric column as
``context.<column>``, a categorical one as one 0/1 feature per value,
``context.<column>=<value>`` (a value not seen in training sets none of them).

**Cross-validation is subject-independent**: folds hold out whole persons
(:func:`person_folds`), never frames or windows of a person seen in training,
so the figures say how the head does on new people. The head file is the
project's ``facescope-head/1`` JSON (never a pickle; ``docs/heads.md``); its
provenance carries the cross-validation figures and the schema.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facescope.engagement.errors import EngagementError
from facescope.heads import HeadError, LogisticHead, provenance

if TYPE_CHECKING:
    import pandas as pd

    from facescope.engagement.windows import WindowFeatures

FloatArray = npt.NDArray[np.float64]

_SCHEMA_KEYS = frozenset(
    {"person", "label", "id", "time", "context", "positive", "classes", "missing", "features"}
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:=+\- ]*$")
CONTEXT_PREFIX = "context."


@dataclass(frozen=True)
class FeatureSchema:
    """How a feature file's columns map onto engagement features (see the module docs).

    Attributes:
        features: file column -> feature name.
        person: the column naming the person (subject).
        label: the class label column (None: the file is only scored).
        id: rows sharing a value are one sample (features averaged).
        time: a time column (kept, not a feature).
        context: context columns, used as features.
        positive: the engaged class of a binary label (classes: other, positive).
        classes: all classes, least to most engaged (overrides `positive`).
        missing: ``"error"`` (NaN features are refused) or ``"mean"`` (filled).
    """

    features: dict[str, str]
    person: str = "person"
    label: str | None = "label"
    id: str | None = None
    time: str | None = None
    context: tuple[str, ...] = ()
    positive: str | None = None
    classes: tuple[str, ...] | None = None
    missing: str = "error"

    @classmethod
    def from_dict(cls, data: Any, where: str = "schema") -> FeatureSchema:
        """Validate a parsed schema document; :class:`EngagementError` names the bad key."""
        if not isinstance(data, Mapping):
            raise EngagementError(f"{where}: a schema is a table/object of keys")
        unknown = sorted(set(data) - _SCHEMA_KEYS)
        if unknown:
            raise EngagementError(
                f"{where}: unknown key(s) {unknown}; known: {sorted(_SCHEMA_KEYS)}"
            )

        def text(key: str, required: bool = False) -> str | None:
            value = data.get(key)
            if value is None:
                if required:
                    raise EngagementError(f"{where}: '{key}' (a column name) is required")
                return None
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
                raise EngagementError(f"{where}: '{key}' must be a column name, got {value!r}")
            return str(value)

        features = data.get("features")
        if not isinstance(features, Mapping) or not features:
            raise EngagementError(
                f"{where}: 'features' must map file columns to feature names, e.g. "
                '{"gaze_on_screen": "gaze_on_target"}'
            )
        mapping: dict[str, str] = {}
        for column, name in features.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise EngagementError(
                    f"{where}: feature name {name!r} (for column {column!r}) must be a name"
                )
            if name.startswith(CONTEXT_PREFIX):
                raise EngagementError(f"{where}: '{name}': context features go in 'context'")
            mapping[str(column)] = name
        repeated = sorted({n for n in mapping.values() if list(mapping.values()).count(n) > 1})
        if repeated:
            raise EngagementError(f"{where}: several columns map to {repeated}")
        context = data.get("context", [])
        if isinstance(context, str):
            context = [context]
        if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
            raise EngagementError(f"{where}: 'context' must be a list of column names")
        classes = data.get("classes")
        if classes is not None and (
            not isinstance(classes, list)
            or len(classes) < 2
            or len({str(c) for c in classes}) != len(classes)
        ):
            raise EngagementError(f"{where}: 'classes' must list two distinct labels or more")
        missing = data.get("missing", "error")
        if missing not in ("error", "mean"):
            raise EngagementError(f"{where}: 'missing' must be 'error' or 'mean', got {missing!r}")
        positive = data.get("positive")
        return cls(
            features=mapping,
            person=text("person", required=True) or "",
            label=text("label") or "label",
            id=text("id"),
            time=text("time"),
            context=tuple(context),
            positive=None if positive is None else str(positive),
            classes=None if classes is None else tuple(str(c) for c in classes),
            missing=str(missing),
        )

    @classmethod
    def native(cls, columns: Sequence[str], *, person: str = "person") -> FeatureSchema:
        """Our own window table (``facescope engagement --csv``) with person and label columns.

        Every column that is one of our features (``windows.FEATURES``, the
        expression probabilities, ``AU..``) is used; NaN (a window without the
        face has no gaze) is filled with the column mean.
        """
        from facescope.analysis.expression.labels import EXPRESSIONS
        from facescope.engagement.windows import FEATURES

        ours = [
            c for c in columns if c in FEATURES or c in EXPRESSIONS or re.fullmatch(r"AU\d+", c)
        ]
        if not ours:
            raise EngagementError(
                "the file has none of our feature columns (presence, gaze_on_target, ...): "
                "give a schema for a data set's feature file"
            )
        return cls(
            {c: c for c in ours},
            person=person,
            label="label",
            time="start" if "start" in columns else None,
            missing="mean",
        )

    def to_dict(self) -> dict[str, Any]:
        """The schema as a JSON/TOML-ready document (what :func:`load_schema` reads)."""
        out: dict[str, Any] = {"person": self.person, "features": dict(self.features)}
        for key in ("label", "id", "time", "positive"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.context:
            out["context"] = list(self.context)
        if self.classes is not None:
            out["classes"] = list(self.classes)
        out["missing"] = self.missing
        return out


def load_schema(path: str | Path) -> FeatureSchema:
    """Read a schema: ``.toml`` or ``.json``."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EngagementError(f"{target}: cannot read the schema ({exc})") from None
    try:
        data = tomllib.loads(text) if target.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if target.suffix.lower() == ".toml" else "JSON"
        raise EngagementError(f"{target}: not valid {kind} ({exc})") from None
    return FeatureSchema.from_dict(data, str(target))


@dataclass(frozen=True)
class FeatureDataset:
    """Samples ready for a head: x (n, d), labels, persons, and names.

    Attributes:
        x: features, NaN-free.
        labels: class label per sample (None when the schema has no label).
        persons: person per sample (cross-validation groups).
        ids: sample ids; times: sample times (NaN when none).
        feature_names: column names of x (context features last).
        classes: class order (least to most engaged), when labelled.
        schema: the schema that read the file.
    """

    x: FloatArray
    labels: npt.NDArray[np.str_] | None
    persons: npt.NDArray[np.str_]
    ids: npt.NDArray[np.str_]
    times: FloatArray
    feature_names: tuple[str, ...]
    classes: tuple[str, ...] | None
    schema: FeatureSchema

    def __len__(self) -> int:
        return len(self.x)


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise EngagementError(f"{path}: no such feature file")
    if path.stat().st_size == 0:
        raise EngagementError(f"{path}: the feature file is empty")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        elif suffix == ".json":
            table = pd.read_json(path, orient="records")
        else:
            table = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # pandas raises many kinds for malformed files
        raise EngagementError(f"{path}: cannot read the feature table ({exc})") from None
    if table.empty:
        raise EngagementError(f"{path}: the feature table has no rows")
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _numeric(table: pd.DataFrame, column: str, where: str) -> FloatArray:
    import pandas as pd

    raw = table[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = raw[values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")]
    if len(bad):
        raise EngagementError(
            f"{where}: column {column!r} holds non-numbers (row {bad.index[0]}: {bad.iloc[0]!r})"
        )
    return np.asarray(values, np.float64)


def load_features(
    path: str | Path,
    schema: FeatureSchema | None = None,
    *,
    require_label: bool = True,
    context_values: Mapping[str, Sequence[str]] | None = None,
) -> FeatureDataset:
    """Read a feature file (CSV, TSV, Parquet or JSON records) through a schema.

    Args:
        path: the file.
        schema: None: our own window table (:meth:`FeatureSchema.native`).
        require_label: the label column must be there (training).
        context_values: categorical context values to one-hot (default: those in the file).

    Raises:
        EngagementError: unreadable or empty file, a column the schema names that
            the file lacks, non-numeric or NaN features (with ``missing="error"``),
            a person, label or context that changes within one sample id.
    """
    target = Path(path)
    table = _read_table(target)
    where = str(target)
    if schema is None:  # ours: every feature column measured at least once
        schema = FeatureSchema.native([str(c) for c in table.columns if table[c].notna().any()])
    needed = [*schema.features, schema.person, *schema.context]
    needed += [c for c in (schema.id, schema.time) if c is not None]
    if require_label:
        if schema.label is None:
            raise EngagementError(f"{where}: the schema names no 'label' column to train on")
        needed.append(schema.label)
    absent = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if absent:
        raise EngagementError(
            f"{where}: unknown column(s) {absent} named by the schema; the file has "
            f"{list(table.columns)[:30]}"
        )
    features = np.stack([_numeric(table, c, where) for c in schema.features], axis=1)
    has_label = schema.label is not None and schema.label in table.columns
    keys = ["person", *(["label"] if has_label else []), *schema.context]
    text = {
        "person": table[schema.person].astype(str).str.strip().to_numpy(),
        **({"label": table[schema.label].astype(str).str.strip().to_numpy()} if has_label else {}),
        **{c: table[c].astype(str).str.strip().to_numpy() for c in schema.context},
    }
    times = _numeric(table, schema.time, where) if schema.time else np.full(len(table), np.nan)
    if schema.id is not None:
        ids_all = table[schema.id].astype(str).to_numpy()
        order = list(dict.fromkeys(ids_all.tolist()))
        rows = [np.flatnonzero(ids_all == sample) for sample in order]
        for key in keys:
            for sample, index in zip(order, rows, strict=True):
                if len(set(text[key][index].tolist())) > 1:
                    column = (
                        schema.person
                        if key == "person"
                        else schema.label
                        if key == "label"
                        else key
                    )
                    raise EngagementError(
                        f"{where}: column {column!r} changes within sample {sample!r}"
                    )
        with np.errstate(all="ignore"):
            features = np.stack([_nanmean(features[index]) for index in rows])
        text = {k: np.array([v[index[0]] for index in rows]) for k, v in text.items()}
        times = np.array(
            [
                np.nanmin(times[index]) if np.isfinite(times[index]).any() else np.nan
                for index in rows
            ]
        )
        ids = np.array(order)
    else:
        ids = np.array([str(i) for i in range(len(table))])
    names = list(schema.features.values())
    blocks = [features]
    for column in schema.context:
        values = text[column]
        numeric = _maybe_numeric(values)
        if numeric is not None and context_values is None:
            blocks.append(numeric[:, None])
            names.append(f"{CONTEXT_PREFIX}{column}")
            continue
        levels = (
            sorted(set(values.tolist()))
            if context_values is None
            else list(context_values.get(column, ()))
        )
        for level in levels:
            blocks.append((values == level).astype(np.float64)[:, None])
            names.append(f"{CONTEXT_PREFIX}{column}={level}")
    x = np.concatenate(blocks, axis=1)
    x = _fill_missing(x, names, schema.missing, where)
    labels = text.get("label")
    classes = _classes(labels, schema, where) if labels is not None else None
    return FeatureDataset(
        x, labels, text["person"], ids, np.asarray(times, np.float64), tuple(names), classes, schema
    )


def _nanmean(block: FloatArray) -> FloatArray:
    out = np.full(block.shape[1], np.nan)
    seen = np.isfinite(block).any(axis=0)
    out[seen] = np.nanmean(block[:, seen], axis=0)
    return out


def _maybe_numeric(values: npt.NDArray[np.str_]) -> FloatArray | None:
    try:
        out = np.array([float(v) for v in values.tolist()], np.float64)
    except ValueError:
        return None
    return out if np.isfinite(out).all() else None


def _fill_missing(x: FloatArray, names: Sequence[str], policy: str, where: str) -> FloatArray:
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    counts = {names[int(j)]: int(bad[:, j].sum()) for j in np.flatnonzero(bad.any(axis=0))}
    if policy != "mean":
        raise EngagementError(
            f"{where}: NaN or infinite features {counts}; fix the file or set "
            'missing = "mean" in the schema'
        )
    x = x.copy()
    for j in np.flatnonzero(bad.any(axis=0)):
        column = x[:, j]
        finite = column[np.isfinite(column)]
        if not len(finite):
            raise EngagementError(f"{where}: feature {names[int(j)]!r} is never measured")
        column[~np.isfinite(column)] = finite.mean()
    return x


def _classes(labels: npt.NDArray[np.str_], schema: FeatureSchema, where: str) -> tuple[str, ...]:
    found = sorted(set(labels.tolist()))
    if schema.classes is not None:
        unknown = sorted(set(found) - set(schema.classes))
        if unknown:
            raise EngagementError(f"{where}: labels {unknown} are not in the schema's classes")
        return schema.classes
    if schema.positive is not None:
        if schema.positive not in found:
            raise EngagementError(
                f"{where}: positive label {schema.positive!r} not among the labels {found}"
            )
        if len(found) != 2:
            raise EngagementError(
                f"{where}: 'positive' needs a binary label; found {found} (use 'classes')"
            )
        return (next(c for c in found if c != schema.positive), schema.positive)
    return tuple(found)


# ---- subject-independent cross-validation ------------------------------------------------


def person_folds(
    persons: Sequence[str] | npt.NDArray[Any], folds: int = 5, seed: int = 0
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """``(train, test)`` index pairs holding out whole persons (never one person on both sides).

    The persons are shuffled with `seed` and dealt into ``min(folds, n_persons)``
    folds of near-equal numbers of persons.
    """
    groups = np.asarray(persons).astype(str)
    unique = np.array(sorted(set(groups.tolist())))
    if len(unique) < 2:
        raise EngagementError(
            f"subject-independent cross-validation needs two persons or more; found {len(unique)}"
        )
    if folds < 2:
        raise EngagementError(f"folds must be >= 2, got {folds}")
    order = np.random.default_rng(seed).permutation(len(unique))
    out = []
    for held in np.array_split(unique[order], min(folds, len(unique))):
        test = np.flatnonzero(np.isin(groups, held))
        train = np.flatnonzero(~np.isin(groups, held))
        out.append((train.astype(np.int64), test.astype(np.int64)))
    return out


def _auc(scores: FloatArray, positive: npt.NDArray[np.bool_]) -> float:
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return math.nan
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _balanced(truth: npt.NDArray[np.str_], predicted: npt.NDArray[np.str_]) -> float:
    recalls = [float(np.mean(predicted[truth == c] == c)) for c in np.unique(truth)]
    return float(np.mean(recalls))


@dataclass(frozen=True)
class TrainingReport:
    """Subject-independent cross-validation figures of a trained head.

    Attributes:
        folds: per fold: held-out persons, samples, accuracy, balanced accuracy, AUC.
        accuracy, balanced_accuracy, auc: over all out-of-fold predictions
            (AUC: binary heads, of the engaged class).
        chance: the share of the most common class (what always guessing it scores).
        samples, persons: counts; classes, features: the head's.
        head: the head file written (None: not saved).
    """

    folds: list[dict[str, Any]]
    accuracy: float
    balanced_accuracy: float
    auc: float
    chance: float
    samples: int
    persons: int
    classes: tuple[str, ...]
    features: tuple[str, ...]
    head: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "samples": self.samples,
            "persons": self.persons,
            "classes": list(self.classes),
            "features": list(self.features),
            "split": "subject-independent: each fold holds out whole persons",
            "accuracy": _round(self.accuracy),
            "balanced_accuracy": _round(self.balanced_accuracy),
            "auc": _round(self.auc),
            "chance": _round(self.chance),
            "folds": self.folds,
            "head": None if self.head is None else str(self.head),
        }


def _round(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


@dataclass
class EngagementClassifier:
    """A trained engagement head applied to window features (ours or a data set's).

    Engagement in [0, 1] is p(engaged class) for a binary head; with k ordered
    classes (least to most engaged) it is the expected class index over k - 1.
    NaN inputs (a window without gaze) are filled with the training mean.
    """

    head: LogisticHead
    source: str | None = None
    _context_levels: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in self.features:
            if name.startswith(CONTEXT_PREFIX) and "=" in name:
                column, level = name[len(CONTEXT_PREFIX) :].split("=", 1)
                self._context_levels.setdefault(column, []).append(level)

    @property
    def features(self) -> tuple[str, ...]:
        """The head's input names, in order."""
        return tuple(self.head.feature_names_in_)

    @property
    def classes(self) -> tuple[str, ...]:
        """The head's classes, least to most engaged."""
        return tuple(self.head.classes_)

    @classmethod
    def load(cls, path: str | Path) -> EngagementClassifier:
        """Read a ``facescope-head/1`` file written by :func:`train_engagement`."""
        try:
            head = LogisticHead.load(path)
        except (HeadError, OSError) as exc:
            raise EngagementError(f"{path}: not an engagement head ({exc})") from None
        return cls(head, str(path))

    def save(self, path: str | Path) -> Path:
        """Write the head (JSON, ``facescope-head/1``)."""
        return self.head.save(path)

    def matrix(
        self, rows: Sequence[Mapping[str, float]], context: Mapping[str, Any] | None = None
    ) -> FloatArray:
        """(n, d) inputs from feature dicts plus the context (NaN -> training mean)."""
        context = dict(context or {})
        missing = sorted(
            {
                n
                for n in self.features
                if not n.startswith(CONTEXT_PREFIX) and any(n not in r for r in rows)
            }
        )
        needed = {
            n[len(CONTEXT_PREFIX) :].split("=", 1)[0]
            for n in self.features
            if n.startswith(CONTEXT_PREFIX)
        }
        missing += sorted(f"context {c!r} (--context {c}=VALUE)" for c in needed - set(context))
        if missing:
            raise EngagementError(f"the head needs features these windows lack: {missing}")
        x = np.empty((len(rows), len(self.features)))
        for j, name in enumerate(self.features):
            if name.startswith(CONTEXT_PREFIX):
                column, _, level = name[len(CONTEXT_PREFIX) :].partition("=")
                value = context[column]
                if level:
                    x[:, j] = float(str(value) == level)
                else:
                    try:
                        x[:, j] = float(value)
                    except (TypeError, ValueError):
                        raise EngagementError(
                            f"context {column!r} must be a number, got {value!r}"
                        ) from None
            else:
                x[:, j] = [float(r[name]) for r in rows]
        bad = ~np.isfinite(x)
        if bad.any():
            x[bad] = np.broadcast_to(self.head.mean_, x.shape)[bad]
        return x

    def predict_proba(
        self, rows: Sequence[Mapping[str, float]], context: Mapping[str, Any] | None = None
    ) -> FloatArray:
        """(n, n_classes) probabilities in :attr:`classes` order."""
        if not rows:
            return np.zeros((0, len(self.classes)))
        return self.head.predict_proba(self.matrix(rows, context))

    def engagement(self, probabilities: FloatArray) -> FloatArray:
        """Engagement in [0, 1] from probabilities (see the class docs)."""
        k = probabilities.shape[1]
        if k == 2:
            return np.asarray(probabilities[:, 1], np.float64)
        return np.asarray(probabilities @ (np.arange(k) / (k - 1)), np.float64)

    def score_windows(
        self, windows: Sequence[WindowFeatures], context: Mapping[str, Any] | None = None
    ) -> list[tuple[float, str]]:
        """``(engagement, label)`` per window of our own features."""
        probabilities = self.predict_proba([window_values(w) for w in windows], context)
        scores = self.engagement(probabilities)
        labels = [self.classes[i] for i in probabilities.argmax(axis=1)] if len(windows) else []
        return [(float(s), str(label)) for s, label in zip(scores, labels, strict=True)]


def window_values(window: WindowFeatures) -> dict[str, float]:
    """A window's numeric features, expression probabilities and AUs, by name."""
    return {**window.features, **(window.expressions or {}), **(window.action_units or {})}


def train_engagement(
    data: FeatureDataset,
    *,
    folds: int = 5,
    l2: float = 1.0,
    seed: int = 0,
    class_weight: str | None = "balanced",
    out: str | Path | None = None,
    script: str = "facescope engagement train",
) -> tuple[EngagementClassifier, TrainingReport]:
    """Cross-validate by person, then fit the head on every sample (and save it to `out`)."""
    if data.labels is None or data.classes is None:
        raise EngagementError("the feature file has no labels to train on")
    labels = data.labels
    weight: Any = class_weight

    def head() -> LogisticHead:
        return LogisticHead(
            l2=l2, class_weight=weight, class_names=data.classes, feature_names=data.feature_names
        )

    predicted = np.empty(len(data), dtype=object)
    scores = np.full(len(data), np.nan)
    fold_rows = []
    for number, (train, test) in enumerate(person_folds(data.persons, folds, seed)):
        missing = sorted(set(data.classes) - set(labels[train].tolist()))
        if missing:
            raise EngagementError(
                f"fold {number}: the training persons have no sample of {missing}; "
                "fewer folds or more persons per class are needed"
            )
        try:
            fitted = head().fit(data.x[train], labels[train])
        except HeadError as exc:
            raise EngagementError(f"fold {number}: {exc}") from None
        probabilities = fitted.predict_proba(data.x[test])
        predicted[test] = [data.classes[i] for i in probabilities.argmax(axis=1)]
        scores[test] = EngagementClassifier(fitted).engagement(probabilities)
        truth = labels[test]
        guess = predicted[test].astype(str)
        fold_rows.append(
            {
                "fold": number,
                "persons": sorted(set(data.persons[test].tolist())),
                "samples": len(test),
                "accuracy": _round(float(np.mean(guess == truth))),
                "balanced_accuracy": _round(_balanced(truth, guess)),
                "auc": _round(_auc(scores[test], truth == data.classes[-1]))
                if len(data.classes) == 2
                else None,
            }
        )
    guess = predicted.astype(str)
    shares = [float(np.mean(labels == c)) for c in data.classes]
    report_values = {
        "accuracy": float(np.mean(guess == labels)),
        "balanced_accuracy": _balanced(labels, guess),
        "auc": _auc(scores, labels == data.classes[-1]) if len(data.classes) == 2 else math.nan,
        "chance": max(shares),
    }
    final = head()
    try:
        final.fit(data.x, labels)
    except HeadError as exc:
        raise EngagementError(str(exc)) from None
    persons = len(set(data.persons.tolist()))
    final.set_provenance(
        **provenance(
            script=script,
            data=f"{len(data)} samples of {persons} persons",
            split=f"subject-independent {len(fold_rows)}-fold cross-validation by person; "
            "the head itself is fitted on every sample",
            seed=seed,
            metrics={k: _round(v) for k, v in report_values.items()},
            engagement_schema=data.schema.to_dict(),
        )
    )
    classifier = EngagementClassifier(final)
    written = classifier.save(out) if out is not None else None
    report = TrainingReport(
        fold_rows,
        report_values["accuracy"],
        report_values["balanced_accuracy"],
        report_values["auc"],
        report_values["chance"],
        len(data),
        persons,
        data.classes,
        data.feature_names,
        written,
    )
    return classifier, report


__all__ = [
    "CONTEXT_PREFIX",
    "EngagementClassifier",
    "FeatureDataset",
    "FeatureSchema",
    "TrainingReport",
    "load_features",
    "load_schema",
    "person_folds",
    "train_engagement",
    "window_values",
]
