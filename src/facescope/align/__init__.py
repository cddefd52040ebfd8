"""Face alignment: 5-point similarity warp to the ArcFace 112x112 template."""

from facescope.align.template import ARCFACE_TEMPLATE_112, similarity_transform, warp_to_template

__all__ = ["ARCFACE_TEMPLATE_112", "similarity_transform", "warp_to_template"]
