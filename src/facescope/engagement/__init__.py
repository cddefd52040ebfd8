"""Engagement over time: per tracked person and per time window, from facial analysis.

``facescope.engagement.measure_engagement(video_analysis)`` turns the per-frame
results of :meth:`facescope.analysis.Analyzer.analyze_video` into, per person
and per window, face presence, gaze towards the camera (or a configured screen),
head-pose stability, blink rate, eye openness, expression, valence and arousal
(derived), action units, facial motion energy, speaking activity (from mouth
motion) and an engagement estimate in [0, 1] with a label.

Two estimators: the interpretable :mod:`baseline <facescope.engagement.baseline>`
(documented weights, no training) and :class:`EngagementClassifier`, a
:class:`~facescope.heads.LogisticHead` trained with subject-independent
cross-validation on our own window features or on a data set's released feature
files (:mod:`facescope.engagement.training`). See ``docs/engagement.md``.
Names are imported on first use.
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "BASELINE_WEIGHTS": "facescope.engagement.baseline",
    "baseline_engagement": "facescope.engagement.baseline",
    "EngagementError": "facescope.engagement.errors",
    "FrameRecord": "facescope.engagement.features",
    "GazeTarget": "facescope.engagement.features",
    "RecordBuilder": "facescope.engagement.features",
    "frame_records": "facescope.engagement.features",
    "FEATURES": "facescope.engagement.windows",
    "WindowFeatures": "facescope.engagement.windows",
    "WindowSpec": "facescope.engagement.windows",
    "aggregate_windows": "facescope.engagement.windows",
    "parse_window": "facescope.engagement.windows",
    "EngagementResult": "facescope.engagement.result",
    "PersonEngagement": "facescope.engagement.result",
    "EngagementWindow": "facescope.engagement.result",
    "EngagementOptions": "facescope.engagement.measure",
    "measure_engagement": "facescope.engagement.measure",
    "engagement_video": "facescope.engagement.measure",
    "EngagementClassifier": "facescope.engagement.training",
    "FeatureSchema": "facescope.engagement.training",
    "FeatureDataset": "facescope.engagement.training",
    "TrainingReport": "facescope.engagement.training",
    "load_features": "facescope.engagement.training",
    "load_schema": "facescope.engagement.training",
    "person_folds": "facescope.engagement.training",
    "train_engagement": "facescope.engagement.training",
    "plot_timeline": "facescope.engagement.plot",
}

__getattr__ = lazy_exports("facescope.engagement", _EXPORTS)

__all__ = sorted(_EXPORTS)
