"""Faces in video: decode (files, streams, cameras), track, identify per track, write.

``facescope.track(source)`` yields each frame's faces with track ids;
``facescope.VideoRecognizer(gallery).run(source)`` gives one identity per track.
Names are imported on first use (PyAV, scipy).
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "FaceTracker": "facescope.video.tracker",
    "Frame": "facescope.video.source",
    "TrackResult": "facescope.video.recognizer",
    "TrackedFrame": "facescope.video.recognizer",
    "VideoError": "facescope.video.source",
    "VideoRecognizer": "facescope.video.recognizer",
    "VideoSource": "facescope.video.source",
    "VideoWriter": "facescope.video.writer",
    "open_video": "facescope.video.source",
    "track": "facescope.video.recognizer",
}

__getattr__ = lazy_exports("facescope.video", _EXPORTS)

__all__ = sorted(_EXPORTS)
