"""Face detection: RetinaFace (default), YuNet or opt-in SCRFD behind one scale handling."""

from facescope.detect.faces import DetectOptions, detect_faces

__all__ = ["DetectOptions", "detect_faces"]
