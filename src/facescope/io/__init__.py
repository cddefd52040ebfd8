"""Image input: decode files, bytes, arrays and PIL images into RGB ``uint8`` arrays."""

from facescope.io.image import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, ImageInput, load_image

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "ImageInput", "load_image"]
