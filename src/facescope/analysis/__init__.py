"""Facial analysis: mesh, head pose, gaze, eye and mouth state, expressions, action units, quality.

``facescope.analyze(image)`` returns one
:class:`~facescope.analysis.result.FaceAnalysis` per face; see
:mod:`facescope.analysis.analyzer` for the data flow and each module for how a
measure is made. Names are imported on first use. Face quality lives in
:mod:`facescope.quality` (a lower layer the gallery uses); it is re-exported here.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "AnalyzeOptions": "facescope.analysis.analyzer",
    "Analyzer": "facescope.analysis.analyzer",
    "analyze": "facescope.analysis.analyzer",
    "FaceAnalysis": "facescope.analysis.result",
    "FrameAnalysis": "facescope.analysis.result",
    "VideoAnalysis": "facescope.analysis.result",
    "save_table": "facescope.analysis.result",
    "FaceQuality": "facescope.quality.assess",
    "assess_quality": "facescope.quality.assess",
    "DEFAULT_MIN_QUALITY": "facescope.quality.assess",
}


__getattr__ = lazy_exports("facescope.analysis", _EXPORTS)

__all__ = sorted(_EXPORTS)
