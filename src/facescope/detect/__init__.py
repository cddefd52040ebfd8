"""Face detection (YuNet) with downscaling, tiling and tight-crop handling."""

from facescope.detect.yunet import DetectOptions, detect_faces

__all__ = ["DetectOptions", "detect_faces"]
