"""Face tracking across frames: which detection in this frame is which face from the last.

:class:`FaceTracker` links detections by IoU with the Hungarian assignment and
gives each face a stable id. It sits below video and analysis, so both use the
same tracker (``facescope.track`` and ``Analyzer.analyze_video``).
:class:`ShotDetector` finds shot cuts, where every track must end.
"""

from __future__ import annotations

from facescope.tracking.shots import ShotDetector
from facescope.tracking.tracker import FaceTracker, Track

__all__ = ["FaceTracker", "ShotDetector", "Track"]
