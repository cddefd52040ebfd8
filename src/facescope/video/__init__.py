"""Faces in video: decode (files, streams, cameras), track, identify per track, write.

``facescope.track(source)`` yields each frame's faces with track ids;
``facescope.VideoRecognizer(gallery).run(source)`` gives one identity per track.
"""

from facescope.video.recognizer import TrackedFrame, TrackResult, VideoRecognizer, track
from facescope.video.source import Frame, VideoError, VideoSource, open_video
from facescope.video.tracker import FaceTracker
from facescope.video.writer import VideoWriter

__all__ = [
    "FaceTracker",
    "Frame",
    "TrackResult",
    "TrackedFrame",
    "VideoError",
    "VideoRecognizer",
    "VideoSource",
    "VideoWriter",
    "open_video",
    "track",
]
