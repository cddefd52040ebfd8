"""Facial expression: seven basic expressions from three offline models, and derived affect.

Public entry points:

* :class:`ExpressionEnsemble` -- ``predict_proba(rgb, faces) -> (n, 7)`` in
  :data:`EXPRESSIONS` order, members and weights from ``weights.json``;
  :func:`default_ensemble` is a shared instance.
* :func:`valence_arousal` -- ``(n, 7) -> (n, 2)``, derived from the
  probabilities with fixed circumplex coordinates (not measured).
* :class:`FerModel`, :class:`FacexModel`, :class:`WhatTheFaceModel` -- the
  members, ``predict_crops(grey_crops) -> (n, 7)``.
* :func:`expression_crop` / :func:`expression_crops` -- the eye-levelled grey crop.
* :func:`search_weights`, :func:`score_predictions`, :func:`combine` -- the
  weight search and scoring used by ``scripts/fit_expression_weights.py`` (which
  writes ``weights.json``) and ``benchmarks/bench_expression.py``.
"""

from facescope.analysis.expression.circumplex import CIRCUMPLEX_COORDINATES, valence_arousal
from facescope.analysis.expression.ensemble import (
    RULES,
    WEIGHTS_PATH,
    ExpressionEnsemble,
    ExpressionScores,
    WeightSearch,
    combine,
    default_ensemble,
    load_weights,
    score_predictions,
    search_weights,
)
from facescope.analysis.expression.labels import EXPRESSIONS, MODEL_ORDERS, reorder_index
from facescope.analysis.expression.models import (
    MODEL_NAMES,
    ExpressionModel,
    FacexModel,
    FerModel,
    WhatTheFaceModel,
    make_model,
)
from facescope.analysis.expression.preprocess import (
    DEFAULT_MARGIN,
    expression_crop,
    expression_crops,
)

__all__ = [
    "CIRCUMPLEX_COORDINATES",
    "DEFAULT_MARGIN",
    "EXPRESSIONS",
    "MODEL_NAMES",
    "MODEL_ORDERS",
    "RULES",
    "WEIGHTS_PATH",
    "ExpressionEnsemble",
    "ExpressionModel",
    "ExpressionScores",
    "FacexModel",
    "FerModel",
    "WeightSearch",
    "WhatTheFaceModel",
    "combine",
    "default_ensemble",
    "expression_crop",
    "expression_crops",
    "load_weights",
    "make_model",
    "reorder_index",
    "score_predictions",
    "search_weights",
    "valence_arousal",
]
