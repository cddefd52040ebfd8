"""Facial analysis: mesh, head pose, gaze, eye and mouth state, expressions, action units, quality.

``facescope.analyze(image)`` returns one
:class:`~facescope.analysis.result.FaceAnalysis` per face; see
:mod:`facescope.analysis.analyzer` for the data flow and each module for how a
measure is made. Names are imported on first use, so the gallery can use
:mod:`facescope.analysis.quality` without loading the rest.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "AnalyzeOptions": "facescope.analysis.analyzer",
    "Analyzer": "facescope.analysis.analyzer",
    "analyze": "facescope.analysis.analyzer",
    "FaceAnalysis": "facescope.analysis.result",
    "FrameAnalysis": "facescope.analysis.result",
    "VideoAnalysis": "facescope.analysis.result",
    "save_table": "facescope.analysis.result",
    "FaceQuality": "facescope.analysis.quality",
    "assess_quality": "facescope.analysis.quality",
    "DEFAULT_MIN_QUALITY": "facescope.analysis.quality",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'facescope.analysis' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)
