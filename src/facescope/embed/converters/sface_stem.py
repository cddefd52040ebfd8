"""Build time: the first two blocks of the fp32 SFace graph, for the PAD texture cue.

Presentation-attack detection reads the statistics of SFace's earliest feature maps
(:mod:`facescope.models.stem`): ``conv_1_relu`` (32 channels) and ``conv_2_relu`` (64
channels), both at the full 112x112 resolution of the aligned crop. Those two blocks are
a learned bank of colour and texture filters; the rest of the network, which turns them
into identity, is not needed. :func:`extract_sface_stem` cuts the sub-graph from the
input ``data`` to those two outputs out of the converted fp32 graph
(:func:`facescope.embed.converters.sface_fp32.convert_sface_model`), so the runtime runs
about a tenth of the network. Deterministic, like every converter.
"""

from __future__ import annotations

import onnx
import onnx.shape_inference
import onnx.utils

from facescope.embed.converters.sface_fp32 import convert_sface_model

#: The feature maps the PAD stem returns, in this order.
STEM_OUTPUTS = ("conv_1_relu", "conv_2_relu")


def extract_sface_stem(source: bytes) -> bytes:
    """The stem graph (input ``data``, outputs :data:`STEM_OUTPUTS`) from the shipped SFace."""
    model = onnx.load_from_string(convert_sface_model(source))
    # the extractor needs every tensor's type, which shape inference records
    model = onnx.shape_inference.infer_shapes(model)
    names = {o for node in model.graph.node for o in node.output}
    missing = [n for n in STEM_OUTPUTS if n not in names]
    if missing:
        raise ValueError(f"the SFace graph has no tensor(s) {missing}")
    stem = onnx.utils.Extractor(model).extract_model(["data"], list(STEM_OUTPUTS))
    onnx.checker.check_model(stem)
    return bytes(stem.SerializeToString())


__all__ = ["STEM_OUTPUTS", "extract_sface_stem"]
