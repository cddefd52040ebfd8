"""Faces in video: decode (files, streams, cameras), track, identify per track, write.

``facescope.track(source)`` yields each frame's faces with track ids;
``facescope.VideoRecognizer(gallery).run(source)`` gives one identity per track.
Names are imported on first use (PyAV, scipy).
"""

from __future__ import annotations

from facescope._lazy import lazy_exports

_EXPORTS = {
    "FaceTracker": "facescope.tracking.tracker",
    "Frame": "facescope.io.video",
    "TrackResult": "facescope.video.recognizer",
    "TrackedFrame": "facescope.video.recognizer",
    "VideoError": "facescope.io.video",
    "VideoRecognizer": "facescope.video.recognizer",
    "VideoSource": "facescope.io.video",
    "VideoWriter": "facescope.video.writer",
    "open_video": "facescope.io.video",
    "track": "facescope.video.recognizer",
}

__getattr__ = lazy_exports("facescope.video", _EXPORTS)

__all__ = sorted(_EXPORTS)
