"""The one trainable head: a standardised, L2-regularised logistic regression.

:class:`LogisticHead` follows scikit-learn's estimator conventions: the
hyper-parameters are the ``__init__`` arguments and nothing is learned there;
:meth:`~LogisticHead.fit` learns ``coef_``, ``intercept_``, ``classes_``,
``mean_``, ``scale_`` (every learned attribute ends in ``_``); then
:meth:`~LogisticHead.decision_function`, :meth:`~LogisticHead.predict_proba`,
:meth:`~LogisticHead.predict` and :meth:`~LogisticHead.score`. Two classes give a
binary head (one coefficient row, for ``classes_[1]``); more give a multinomial
(softmax) head with one row per class, as scikit-learn's ``LogisticRegression``.

The default fit is Newton's method with a backtracking line search, in numpy,
run to convergence: the objective is strictly convex, so the result is its unique
minimum. ``solver="lbfgs"`` hands the same problem to scikit-learn's
``LogisticRegression`` (lbfgs, stopped at its tolerance, near the minimum): the
heads fitted that way before this format existed are reproduced bit for bit.

A fitted head is stored as plain numbers in JSON (:meth:`~LogisticHead.to_json`,
format ``facescope-head/1``) with its class names, feature names,
hyper-parameters and provenance; loading validates every field and runs no code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from facescope._json import read_json, write_json
from facescope.heads.errors import HeadError, NotFittedError
from facescope.heads.provenance import checked_provenance

FloatArray = npt.NDArray[np.float64]
#: The file format :meth:`LogisticHead.to_json` writes and :meth:`LogisticHead.from_json` reads.
HEAD_FORMAT = "facescope-head/1"
#: Standard deviations below this are taken as 1 (a constant feature is left unscaled).
_MIN_SCALE = 1e-9
#: Hyper-parameters a document keeps as its "classes" and "features", not in "params".
_NAMES = frozenset({"class_names", "feature_names"})
_DEFAULT_TOL = {"newton": 1e-8, "lbfgs": 1e-4}
_FITTED = ("coef_", "intercept_", "classes_", "mean_", "scale_", "provenance_")


class LogisticHead:
    """Standardise, then a binary or multinomial logistic regression.

    The fit minimises ``sum_i w_i * log_loss_i + l2 / 2 * ||coef_||^2`` over the
    standardised features, where ``w_i`` is the sample weight times the class
    weight (the intercepts are not penalised); scikit-learn's ``C`` is ``1 / l2``.

    Args:
        l2: strength of the L2 penalty on the coefficients (> 0).
        standardize: centre and scale each feature by the training mean and
            standard deviation first (False: ``mean_`` 0, ``scale_`` 1).
        class_weight: None, ``"balanced"`` (per class, the total sample weight
            over ``n_classes`` times the class's, as scikit-learn) or
            ``{class name: weight}``.
        coef_sign: binary heads only: per feature ``+1`` (coefficient >= 0),
            ``-1`` (<= 0) or ``0`` (free); a coefficient fitted the wrong way is
            fixed at 0 and the others refitted until all agree (so the score is
            monotone in each constrained feature).
        solver: ``"newton"`` (numpy, to convergence) or ``"lbfgs"`` (scikit-learn's
            ``LogisticRegression``; no ``coef_sign``).
        max_iter: iterations at most (Newton: per active set).
        tol: convergence tolerance; None: the solver's default (Newton: no
            parameter moves by more than 1e-8 in a step; lbfgs: scikit-learn's 1e-4).
        class_names: the classes in output order (default: the sorted labels).
        feature_names: one name per input column (default ``x0``, ``x1``, ...).

    Attributes:
        classes_: class names, in the column order of :meth:`predict_proba`.
        coef_: (1, n_features) for two classes (the weights of ``classes_[1]``),
            else (n_classes, n_features); on standardised features.
        intercept_: (1,) or (n_classes,).
        mean_, scale_: the standardisation, (n_features,).
        n_features_in_: number of input columns.
        feature_names_in_: their names.
        n_iter_: Newton iterations the fit took.
        provenance_: how the head was made (see :mod:`facescope.heads.provenance`).
    """

    if TYPE_CHECKING:
        classes_: tuple[str, ...]
        coef_: FloatArray
        intercept_: FloatArray
        mean_: FloatArray
        scale_: FloatArray
        n_features_in_: int
        feature_names_in_: tuple[str, ...]
        n_iter_: int
        provenance_: dict[str, Any]

    def __init__(
        self,
        *,
        l2: float = 1.0,
        standardize: bool = True,
        class_weight: Literal["balanced"] | Mapping[str, float] | None = None,
        coef_sign: Sequence[int] | None = None,
        solver: Literal["newton", "lbfgs"] = "newton",
        max_iter: int = 100,
        tol: float | None = None,
        class_names: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.l2 = l2
        self.standardize = standardize
        self.class_weight = class_weight
        self.coef_sign = coef_sign
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_names = class_names
        self.feature_names = feature_names

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # only reached when normal lookup fails: a learned attribute before fit
            if name.endswith("_") and not name.startswith("_"):
                raise NotFittedError(
                    f"{type(self).__name__}.{name} is not set: the head is not fitted yet "
                    "(call fit(x, y), or LogisticHead.load(path))"
                )
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        changed = {
            k: v
            for k, v in self.get_params().items()
            if v != _DEFAULTS.get(k) and k != "feature_names"
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ---- hyper-parameters -----------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as given to ``__init__`` (JSON-ready)."""
        weight = self.class_weight
        return {
            "l2": float(self.l2),
            "standardize": bool(self.standardize),
            "class_weight": dict(weight) if isinstance(weight, Mapping) else weight,
            "coef_sign": None if self.coef_sign is None else [int(s) for s in self.coef_sign],
            "solver": self.solver,
            "max_iter": int(self.max_iter),
            "tol": None if self.tol is None else float(self.tol),
            "class_names": None if self.class_names is None else list(self.class_names),
            "feature_names": None if self.feature_names is None else list(self.feature_names),
        }

    # ---- fitting ----------------------------------------------------------------------

    def fit(
        self, x: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> LogisticHead:
        """Learn the head from features `x` (n, n_features) and class labels `y` (n,); returns self.

        Labels are compared as strings with ``class_names`` (when given). Rows
        with zero weight take no part. Raises :class:`HeadError` on NaN, shape
        mismatches, a missing class or bad hyper-parameters.
        """
        data = _matrix(x, "x")
        n, d = data.shape
        labels = np.asarray(y).astype(str).reshape(-1)
        if len(labels) != n:
            raise HeadError(f"y has {len(labels)} labels for {n} rows of x")
        classes = self._classes(labels)
        names = self._feature_names(d)
        weight = self._weights(sample_weight, labels, classes, n)
        if not (np.isfinite(self.l2) and self.l2 > 0):
            raise HeadError(f"l2 must be a positive number, got {self.l2}")
        if self.solver not in ("newton", "lbfgs"):
            raise HeadError(f"solver must be 'newton' or 'lbfgs', got {self.solver!r}")
        tol = _DEFAULT_TOL[self.solver] if self.tol is None else float(self.tol)
        if self.max_iter < 1 or not tol > 0:
            raise HeadError("max_iter must be >= 1 and tol > 0")
        if self.standardize:
            mean = data.mean(axis=0)
            scale = data.std(axis=0)
            scale[scale < _MIN_SCALE] = 1.0
        else:
            mean, scale = np.zeros(d), np.ones(d)
        z = (data - mean) / scale
        position = {c: i for i, c in enumerate(classes)}
        index = np.array([position[c] for c in labels.tolist()], np.int64)
        if self.solver == "lbfgs":
            coef, intercept, iterations = self._fit_lbfgs(z, index, classes, sample_weight, tol)
        elif len(classes) == 2:
            sign = self._signs(d)
            target = (index == 1).astype(np.float64)
            coef, intercept, iterations = _fit_binary(
                z, target, weight, float(self.l2), sign, self.max_iter, tol
            )
        else:
            if self.coef_sign is not None:
                raise HeadError("coef_sign applies to two-class heads only")
            onehot = np.zeros((n, len(classes)))
            onehot[np.arange(n), index] = 1.0
            coef, intercept, iterations = _fit_softmax(
                z, onehot, weight, float(self.l2), self.max_iter, tol
            )
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.mean_ = mean
        self.scale_ = scale
        self.n_features_in_ = d
        self.feature_names_in_ = names
        self.n_iter_ = iterations
        self.provenance_ = {}
        return self

    def _fit_lbfgs(
        self,
        z: FloatArray,
        index: npt.NDArray[np.int64],
        classes: tuple[str, ...],
        sample_weight: npt.ArrayLike | None,
        tol: float,
    ) -> tuple[FloatArray, FloatArray, int]:
        from sklearn.linear_model import LogisticRegression

        if self.coef_sign is not None:
            raise HeadError("coef_sign needs solver='newton'")
        given = self.class_weight
        weight: Any = given
        if isinstance(given, Mapping):
            weight = {i: float(given.get(c, 1.0)) for i, c in enumerate(classes)}
        model = LogisticRegression(
            C=1.0 / float(self.l2), max_iter=self.max_iter, tol=tol, class_weight=weight
        )
        model.fit(z, index, sample_weight=sample_weight)
        return (
            np.ascontiguousarray(model.coef_, np.float64),
            np.ascontiguousarray(model.intercept_, np.float64),
            int(np.max(model.n_iter_)),
        )

    def _classes(self, labels: npt.NDArray[np.str_]) -> tuple[str, ...]:
        found = sorted(set(labels.tolist()))
        if self.class_names is None:
            classes = tuple(found)
        else:
            classes = tuple(str(c) for c in self.class_names)
            if len(set(classes)) != len(classes):
                raise HeadError(f"class_names repeat a class: {list(classes)}")
            unknown = sorted(set(found) - set(classes))
            if unknown:
                raise HeadError(f"y holds labels {unknown} that are not in class_names")
        if len(classes) < 2:
            raise HeadError(f"a head needs two classes or more; y holds only {found}")
        missing = [c for c in classes if c not in set(found)]
        if missing:
            raise HeadError(f"y has no sample of class(es) {missing}")
        return classes

    def _feature_names(self, d: int) -> tuple[str, ...]:
        if self.feature_names is None:
            return tuple(f"x{i}" for i in range(d))
        names = tuple(str(f) for f in self.feature_names)
        if len(names) != d or len(set(names)) != d:
            raise HeadError(f"feature_names must be {d} distinct names, got {len(names)}")
        return names

    def _signs(self, d: int) -> FloatArray | None:
        if self.coef_sign is None:
            return None
        sign = np.asarray(self.coef_sign, np.float64).reshape(-1)
        if len(sign) != d or not np.isin(sign, (-1.0, 0.0, 1.0)).all():
            raise HeadError(f"coef_sign must hold {d} values among -1, 0, +1")
        return sign

    def _weights(
        self,
        sample_weight: npt.ArrayLike | None,
        labels: npt.NDArray[np.str_],
        classes: tuple[str, ...],
        n: int,
    ) -> FloatArray:
        weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if weight.shape != (n,) or not np.isfinite(weight).all() or (weight < 0).any():
            raise HeadError(f"sample_weight must be {n} finite non-negative numbers")
        if self.class_weight is None:
            per_class = dict.fromkeys(classes, 1.0)
        elif self.class_weight == "balanced":
            totals = {c: float(weight[labels == c].sum()) for c in classes}
            if min(totals.values()) <= 0:
                raise HeadError("class_weight='balanced' needs weight on every class")
            total = float(weight.sum())
            per_class = {c: total / (len(classes) * totals[c]) for c in classes}
        elif isinstance(self.class_weight, Mapping):
            per_class = {c: float(self.class_weight.get(c, 1.0)) for c in classes}
        else:
            raise HeadError(
                f"class_weight must be None, 'balanced' or a mapping, got {self.class_weight!r}"
            )
        weight = weight * np.array([per_class[c] for c in labels.tolist()])
        if not weight.sum() > 0:
            raise HeadError("the sample weights sum to zero")
        return np.asarray(weight, np.float64)

    # ---- prediction -------------------------------------------------------------------

    def _require_fitted(self) -> None:
        if any(name not in self.__dict__ for name in _FITTED):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(x, y), "
                "or LogisticHead.load(path)"
            )

    def _check(self, x: npt.ArrayLike) -> FloatArray:
        self._require_fitted()
        data = np.asarray(x, np.float64)
        if data.ndim == 1:
            data = data[None, :]
        if data.ndim != 2 or data.shape[1] != self.n_features_in_:
            raise HeadError(
                f"x has shape {np.shape(x)}; this head takes (n, {self.n_features_in_}) "
                f"features ({', '.join(self.feature_names_in_[:4])}, ...)"
            )
        return data

    def decision_function(self, x: npt.ArrayLike) -> FloatArray:
        """Class scores before the logistic/softmax link.

        `x` is (n, n_features), or one sample (n_features,). Returns (n,) logits
        of ``classes_[1]`` for a binary head, (n, n_classes) otherwise.
        """
        z = (self._check(x) - self.mean_) / self.scale_
        if len(self.classes_) == 2:
            return np.asarray(z @ self.coef_[0] + self.intercept_[0], np.float64)
        return np.asarray(z @ self.coef_.T + self.intercept_, np.float64)

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Class probabilities, (n, n_classes) in ``classes_`` order; rows sum to 1."""
        scores = self.decision_function(x)
        if len(self.classes_) == 2:
            positive = _sigmoid(scores)
            return np.stack([1.0 - positive, positive], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return np.asarray(p / p.sum(axis=1, keepdims=True), np.float64)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """The most probable class name of each row, (n,)."""
        names: npt.NDArray[np.str_] = np.asarray(self.classes_)[
            self.predict_proba(x).argmax(axis=1)
        ]
        return names

    def score(
        self, x: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> float:
        """Mean (weighted) accuracy of :meth:`predict` against labels `y`."""
        right = self.predict(x) == np.asarray(y).astype(str).reshape(-1)
        weight = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        return float(np.average(right, weights=weight))

    # ---- provenance and files ---------------------------------------------------------

    def set_provenance(self, **fields: Any) -> LogisticHead:
        """Add provenance fields (``script``, ``data``, ``split``, ``seed``, ``metrics``...)."""
        self._require_fitted()
        self.provenance_ = {**self.provenance_, **fields}
        return self

    def to_json(self) -> dict[str, Any]:
        """The ``facescope-head/1`` document: numbers, names, hyper-parameters, provenance."""
        self._require_fitted()
        return {
            "format": HEAD_FORMAT,
            "classes": list(self.classes_),
            "features": list(self.feature_names_in_),
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
            "coef": [[float(v) for v in row] for row in self.coef_],
            "intercept": [float(v) for v in self.intercept_],
            "params": {k: v for k, v in self.get_params().items() if k not in _NAMES},
            "provenance": self.provenance_,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any], source: str = "head") -> LogisticHead:
        """A fitted head from a ``facescope-head/1`` document; :class:`HeadError` if unusable."""
        if not isinstance(document, Mapping):
            raise HeadError(
                f"{source}: a head document is a JSON object, got {type(document).__name__}"
            )
        found = document.get("format")
        if found != HEAD_FORMAT:
            version = str(found).removeprefix("facescope-head/")
            newer = (
                str(found).startswith("facescope-head/") and version.isdigit() and int(version) > 1
            )
            raise HeadError(
                f"{source}: not a {HEAD_FORMAT} document (format {found!r})"
                + ("; it was written by a newer facescope" if newer else "")
            )
        try:
            classes = _names(document["classes"], "classes")
            features = _names(document["features"], "features")
            d, k = len(features), len(classes)
            rows = 1 if k == 2 else k
            mean = _array(document["mean"], (d,), "mean")
            scale = _array(document["scale"], (d,), "scale")
            coef = _array(document["coef"], (rows, d), "coef")
            intercept = _array(document["intercept"], (rows,), "intercept")
            if k < 2:
                raise ValueError(f"'classes' must name two classes or more, got {classes}")
            if (scale <= 0).any():
                raise ValueError("'scale' must be positive")
            params = dict(document.get("params") or {})
            unknown = sorted(set(params) - set(_DEFAULTS) | set(params) & _NAMES)
            if unknown:
                raise ValueError(f"unknown hyper-parameter(s) {unknown}")
            provenance = checked_provenance(document.get("provenance"))
        except KeyError as exc:
            raise HeadError(f"{source}: the head document lacks {exc}") from None
        except (TypeError, ValueError) as exc:
            raise HeadError(f"{source}: {exc}") from None
        head = cls(**params, class_names=classes, feature_names=features)
        head.classes_ = classes
        head.coef_ = coef
        head.intercept_ = intercept
        head.mean_ = mean
        head.scale_ = scale
        head.n_features_in_ = d
        head.feature_names_in_ = features
        head.n_iter_ = 0
        head.provenance_ = provenance
        return head

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to `path` (atomically); returns the path."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LogisticHead:
        """Read a head written by :meth:`save`; :class:`HeadError` when unusable."""
        return cls.from_json(read_json(path, HeadError), str(path))


_DEFAULTS: dict[str, Any] = LogisticHead().get_params()


def _names(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{field}' must be a list of names")
    if len(set(value)) != len(value) or not value:
        raise ValueError(f"'{field}' must be distinct names, got {value}")
    return tuple(value)


def _array(value: Any, shape: tuple[int, ...], field: str) -> FloatArray:
    try:
        array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"'{field}' must hold numbers") from None
    if array.shape != shape:
        raise ValueError(f"'{field}' has shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"'{field}' holds NaN or infinite values")
    return array


def _matrix(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        data = np.asarray(values, np.float64)
    except (TypeError, ValueError) as exc:
        raise HeadError(f"{name} must be numbers ({exc})") from None
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise HeadError(
            f"{name} must be a non-empty (n_samples, n_features) array, got {data.shape}"
        )
    if not np.isfinite(data).all():
        raise HeadError(f"{name} holds NaN or infinite values")
    return data


def _sigmoid(t: FloatArray) -> FloatArray:
    small = np.exp(-np.abs(t))
    return np.asarray(np.where(t >= 0, 1.0 / (1.0 + small), small / (1.0 + small)), np.float64)


def _newton(objective: Any, theta: FloatArray, max_iter: int, tol: float) -> tuple[FloatArray, int]:
    """Minimise a smooth convex `objective(theta) -> (value, gradient, hessian)` from `theta`."""
    value, gradient, hessian = objective(theta, True)
    for iteration in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        slope = float(gradient @ step)
        size = 1.0
        for _ in range(60):  # backtracking (Armijo); a flat objective takes the step
            candidate = theta - size * step
            new_value = objective(candidate, False)[0]
            if new_value <= value - 1e-4 * size * slope or new_value - value <= 1e-13 * max(
                1.0, abs(value)
            ):
                break
            size *= 0.5
        theta = candidate
        if float(np.max(np.abs(size * step))) < tol:
            return theta, iteration
        value, gradient, hessian = objective(theta, True)
    return theta, max_iter


def _fit_binary(
    z: FloatArray,
    target: FloatArray,
    weight: FloatArray,
    l2: float,
    sign: FloatArray | None,
    max_iter: int,
    tol: float,
) -> tuple[FloatArray, FloatArray, int]:
    n, d = z.shape
    design = np.hstack([z, np.ones((n, 1))])
    active = np.ones(d, bool)
    total = 0
    while True:
        columns = np.append(np.flatnonzero(active), d)
        a = design[:, columns]
        penalty = np.full(len(columns), l2)
        penalty[-1] = 0.0

        def objective(
            theta: FloatArray, second: bool, a: FloatArray = a, penalty: FloatArray = penalty
        ) -> tuple[float, FloatArray, FloatArray]:
            t = a @ theta
            value = float(weight @ (np.logaddexp(0.0, t) - target * t))
            value += 0.5 * float(penalty @ theta**2)
            if not second:
                return value, theta, theta
            p = _sigmoid(t)
            gradient = a.T @ (weight * (p - target)) + penalty * theta
            hessian = (a * (weight * p * (1.0 - p))[:, None]).T @ a + np.diag(penalty)
            return value, gradient, hessian

        theta, iterations = _newton(objective, np.zeros(len(columns)), max_iter, tol)
        total += iterations
        coef = np.zeros(d)
        coef[active] = theta[:-1]
        wrong = np.zeros(d, bool) if sign is None else coef * sign < 0
        if not wrong.any():
            return coef[None, :], theta[-1:], total
        active &= ~wrong


def _fit_softmax(
    z: FloatArray, onehot: FloatArray, weight: FloatArray, l2: float, max_iter: int, tol: float
) -> tuple[FloatArray, FloatArray, int]:
    n, d = z.shape
    k = onehot.shape[1]
    a = np.hstack([z, np.ones((n, 1))])
    width = d + 1
    penalty = np.tile(np.append(np.full(d, l2), 0.0), k)
    # the softmax is unchanged by adding one constant to every intercept: a tiny ridge
    # there keeps the Newton system regular without moving the minimum
    ridge = np.tile(np.append(np.zeros(d), 1e-10 * max(float(weight.sum()), 1.0)), k)

    def objective(theta: FloatArray, second: bool) -> tuple[float, FloatArray, FloatArray]:
        scores = a @ theta.reshape(k, width).T
        log_norm = np.logaddexp.reduce(scores, axis=1)
        value = float(weight @ (log_norm - (onehot * scores).sum(axis=1)))
        value += 0.5 * float(penalty @ theta**2)
        if not second:
            return value, theta, theta
        p = np.exp(scores - log_norm[:, None])
        gradient = ((weight[:, None] * (p - onehot)).T @ a).ravel() + penalty * theta
        hessian = np.empty((k * width, k * width))
        for i in range(k):
            for j in range(i, k):
                c = weight * p[:, i] * ((i == j) - p[:, j])
                block = (a * c[:, None]).T @ a
                hessian[i * width : (i + 1) * width, j * width : (j + 1) * width] = block
                hessian[j * width : (j + 1) * width, i * width : (i + 1) * width] = block.T
        hessian[np.diag_indices_from(hessian)] += penalty + ridge
        return value, gradient, hessian

    theta, iterations = _newton(objective, np.zeros(k * width), max_iter, tol)
    params = theta.reshape(k, width)
    intercept = params[:, -1] - params[:, -1].mean()
    return np.ascontiguousarray(params[:, :-1]), intercept, iterations


__all__ = ["HEAD_FORMAT", "LogisticHead"]
