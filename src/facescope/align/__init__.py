"""Face alignment: 5-point similarity warp to the ArcFace 112x112 template, and the
photometric correction of dark aligned crops."""

from facescope.align.photometric import normalise_crops, normalise_illumination
from facescope.align.template import ARCFACE_TEMPLATE_112, similarity_transform, warp_to_template

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "normalise_crops",
    "normalise_illumination",
    "similarity_transform",
    "warp_to_template",
]
