"""Trained heads and decision thresholds: one convention for every trainable part.

* :class:`LogisticHead`: a standardised L2 logistic regression (binary or
  multinomial) with scikit-learn's estimator API, stored as a
  ``facescope-head/1`` JSON document with feature names, class names,
  hyper-parameters and provenance;
* :class:`Thresholds`: the decision thresholds of one score at target error
  rates, per condition, stored as a ``facescope-thresholds/2`` document;
* :func:`provenance`: the record every fitted file carries.

This package imports only numpy and the standard library (scikit-learn only
for ``solver="lbfgs"`` fits), so every layer may use it. Shipped heads are
refitted by ``scripts/fit_*.py``; see ``docs/heads.md``.
"""

from __future__ import annotations

from facescope.heads.errors import HeadError, NotFittedError, ThresholdsError
from facescope.heads.logistic import HEAD_FORMAT, LogisticHead
from facescope.heads.provenance import PROVENANCE_KEYS, provenance, utc_now
from facescope.heads.thresholds import THRESHOLDS_FORMAT, ThresholdPoint, Thresholds

__all__ = [
    "HEAD_FORMAT",
    "PROVENANCE_KEYS",
    "THRESHOLDS_FORMAT",
    "HeadError",
    "LogisticHead",
    "NotFittedError",
    "ThresholdPoint",
    "Thresholds",
    "ThresholdsError",
    "provenance",
    "utc_now",
]
