"""Build time: the int8 SFace graph, and the calibration tool behind its shipped ranges.

:func:`quantize_sface_model` builds, in about half a second, an int8 model that ORT runs in
integers end to end (``QLinearConv``, ``QLinearAdd``, ``QGemm``; uint8 activations, int8
per-channel weights, as ORT's U8S8 QDQ format), faster than the fp32 one. It
runs once, when ``facescope models`` (``make install``) writes the result to the
converted-model cache (:mod:`facescope.models.converted`). It is the same network, rebuilt
from NumPy arrays: batch norms folded into the convolutions and the embedding ``Gemm``;
PRelu split as ``a*x + c*Relu(k*x)`` (the ReLU then is the uint8 saturation of the ``k``
convolution's output, so it costs nothing); each block's output channels rescaled by
shipped powers of ``2 ** (1/4)`` (activation equalisation: PRelu commutes with a positive
per-channel factor, the next layer absorbs its inverse), without which per-tensor
activation scales lose TAR. The activation ranges (99.999th percentile of
``|x|``, clipped to the observed extremes) and the equalisation factors come from 96
aligned face crops, computed once by :func:`calibrate_sface_int8` (a development tool) and
shipped as ``facescope/embed/sface_int8_calibration.json`` (20 KB), so users need no data.
ORT's own ``quantize_static`` on the PRelu graph was no faster than fp32 (PRelu runs in
float between ``DequantizeLinear`` and ``QuantizeLinear``) and lost TAR; dynamic
quantisation (``ConvInteger``) was slower than fp32. The int8 graph's measured accuracy
and what the alternatives cost are in the README ("Accuracy").

Caveat: ORT computes U8S8 products with ``VPMADDUBSW`` on x86 CPUs without VNNI, which
can saturate; the int8 accuracy was measured on a CPU with AVX-512 VNNI. Weights
limited to 7 bits (no saturation) lost TAR, so they were not used; use
``precision="fp32"`` where in doubt.

Any change to the output must bump the converter version of ``sface_int8`` in
:mod:`facescope.models.converted`; the calibration file is hashed into the cache key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facescope.embed.converters.sface_fp32 import _attributes, convert_sface_model
from facescope.embed.sface_onnx import CROP_SIZE, EMBEDDING_DIM
from facescope.embed.sface_onnx import INPUT_NAME as _INPUT_NAME
from facescope.embed.sface_onnx import OUTPUT_NAME as _OUTPUT_NAME
from facescope.errors import ModelFileError

__all__ = [
    "CALIBRATION_FILE",
    "CALIBRATION_PACKAGE",
    "calibrate_sface_int8",
    "load_int8_calibration",
    "quantize_sface_model",
]

CALIBRATION_PACKAGE: Final[str] = "facescope.embed"
"""Package that ships the calibration file (package data, read with importlib.resources)."""
CALIBRATION_FILE: Final[str] = "sface_int8_calibration.json"
_BATCH_DIM: Final[str] = "batch"
_CALIBRATION_FORMAT: Final[int] = 1
_EQUALISATION_STEPS: Final[int] = 4
"""Equalisation factors are stored as integer powers of ``2 ** (1 / _EQUALISATION_STEPS)``."""


@dataclass(frozen=True)
class _Block:
    """One ``Conv -> BatchNormalization -> PRelu`` block, the batch norm folded in."""

    weight: np.ndarray  # float64 (C_out, C_in / group, kh, kw)
    bias: np.ndarray  # float64 (C_out,)
    attributes: dict[str, Any]  # the Conv attributes
    slope: np.ndarray  # float64 (C_out,): the PRelu slopes

    @property
    def has_steep_slope(self) -> bool:
        """Whether some slope exceeds 1 (the split PRelu then needs a sign flip)."""
        return bool((self.slope > 1.0).any())


@dataclass(frozen=True)
class _SFaceSpec:
    """SFace as plain arrays: input normalisation, the conv blocks, the embedding layer."""

    input_offset: float
    input_multiplier: float
    blocks: tuple[_Block, ...]
    fc_weight: np.ndarray  # float64 (128, C * h * w), both batch norms folded in
    fc_bias: np.ndarray  # float64 (128,)


def _extract_spec(model_bytes: bytes) -> _SFaceSpec:
    """Read the shipped model into a :class:`_SFaceSpec`, checking its structure.

    Expects ``data -> Sub -> Mul``, then blocks of ``Conv -> BatchNormalization ->
    PRelu``, then ``BatchNormalization -> Dropout -> Flatten -> Gemm ->
    BatchNormalization -> fc1``. Batch norms are folded into the conv / Gemm in float64.
    """
    model = onnx.load_from_string(convert_sface_model(model_bytes, split_prelu=False))
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        if node.op_type == "Constant" and "value" in _attributes(node):
            constants[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def next_node(tensor: str, op_type: str) -> onnx.NodeProto:
        found = consumers.get(tensor, [])
        if len(found) != 1 or found[0].op_type != op_type:
            got = [node.op_type for node in found]
            raise ValueError(f"unexpected SFace graph: '{tensor}' feeds {got}, not one {op_type}")
        return found[0]

    def constant(name: str) -> np.ndarray:
        if name not in constants:
            raise ValueError(f"unexpected SFace graph: '{name}' is not a constant")
        return constants[name].astype(np.float64)

    def scalar(node: onnx.NodeProto) -> float:
        value = constant(node.input[1])
        if value.size != 1:
            raise ValueError(f"unexpected SFace graph: {node.op_type} by a non-scalar")
        return float(value.reshape(()))

    def batch_norm(node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
        gamma, beta, mean, variance = (constant(name) for name in node.input[1:5])
        scale = gamma / np.sqrt(variance + float(_attributes(node).get("epsilon", 1e-5)))
        return scale, beta - mean * scale

    sub = next_node(_INPUT_NAME, "Sub")
    mul = next_node(sub.output[0], "Mul")
    tensor = mul.output[0]
    blocks: list[_Block] = []
    while [node.op_type for node in consumers.get(tensor, [])] == ["Conv"]:
        conv = consumers[tensor][0]
        weight = constant(conv.input[1])
        bias = constant(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else 0.0
        norm = next_node(conv.output[0], "BatchNormalization")
        prelu = next_node(norm.output[0], "PRelu")
        scale, shift = batch_norm(norm)
        slope = constant(prelu.input[1]).reshape(-1)
        if weight.ndim != 4 or not scale.size == slope.size == weight.shape[0]:
            raise ValueError(f"unexpected SFace graph: block at '{conv.output[0]}'")
        blocks.append(
            _Block(
                weight=weight * scale[:, None, None, None],
                bias=bias * scale + shift,
                attributes=_attributes(conv),
                slope=slope,
            )
        )
        tensor = prelu.output[0]
    if not blocks:
        raise ValueError("unexpected SFace graph: no Conv -> BatchNormalization -> PRelu blocks")

    norm = next_node(tensor, "BatchNormalization")
    dropout = next_node(norm.output[0], "Dropout")  # identity at inference
    flatten = next_node(dropout.output[0], "Flatten")
    gemm = next_node(flatten.output[0], "Gemm")
    final_norm = next_node(gemm.output[0], "BatchNormalization")
    gemm_attributes = _attributes(gemm)
    if (
        int(_attributes(flatten).get("axis", 1)) != 1
        or gemm_attributes.get("transA", 0) != 0
        or gemm_attributes.get("transB", 0) != 1
        or gemm_attributes.get("alpha", 1.0) != 1.0
        or gemm_attributes.get("beta", 1.0) != 1.0
        or list(final_norm.output) != [_OUTPUT_NAME]
    ):
        raise ValueError("unexpected SFace graph: embedding layer")
    fc_weight = constant(gemm.input[1])
    fc_bias = constant(gemm.input[2]).reshape(-1)
    scale, shift = batch_norm(norm)
    spatial, remainder = divmod(fc_weight.shape[1], scale.size)
    if remainder or fc_weight.shape[0] != EMBEDDING_DIM or fc_bias.size != EMBEDDING_DIM:
        raise ValueError(f"unexpected SFace graph: embedding weight of shape {fc_weight.shape}")
    fc_bias = fc_bias + fc_weight @ np.repeat(shift, spatial)
    fc_weight = fc_weight * np.repeat(scale, spatial)[None, :]
    scale, shift = batch_norm(final_norm)
    return _SFaceSpec(
        input_offset=scalar(sub),
        input_multiplier=scalar(mul),
        blocks=tuple(blocks),
        fc_weight=fc_weight * scale[:, None],
        fc_bias=fc_bias * scale + shift,
    )


def _equalise(spec: _SFaceSpec, codes: Sequence[np.ndarray]) -> _SFaceSpec:
    """Divide block ``i``'s output channels by ``2 ** (codes[i] / steps)``; undo it downstream.

    PRelu commutes with a positive per-channel factor and the next layer is linear, so
    the network computes the same function; the factors even out the per-channel ranges
    of the activations, which int8 quantises with one scale per tensor.
    """
    if len(codes) != len(spec.blocks):
        raise ValueError(f"{len(codes)} equalisation vectors for {len(spec.blocks)} blocks")
    blocks = list(spec.blocks)
    fc_weight = spec.fc_weight
    for index, code in enumerate(codes):
        block = blocks[index]
        code_array = np.asarray(code, dtype=np.float64)
        if code_array.shape != block.bias.shape:
            raise ValueError(
                f"equalisation vector {index} has shape {code_array.shape}, "
                f"expected {block.bias.shape}"
            )
        factor = np.exp2(code_array / _EQUALISATION_STEPS)
        blocks[index] = replace(
            block, weight=block.weight / factor[:, None, None, None], bias=block.bias / factor
        )
        if index + 1 == len(blocks):
            rows = fc_weight.shape[0]
            fc_weight = (fc_weight.reshape(rows, factor.size, -1) * factor[None, :, None]).reshape(
                rows, -1
            )
            continue
        following = blocks[index + 1]
        group = int(following.attributes.get("group", 1))
        if group == 1:
            weight = following.weight * factor[None, :, None, None]
        elif group == factor.size and following.weight.shape[1] == 1:  # depthwise
            weight = following.weight * factor[:, None, None, None]
        else:
            raise ValueError(f"cannot equalise into the grouped conv of block {index + 1}")
        blocks[index + 1] = replace(following, weight=weight)
    return replace(spec, blocks=tuple(blocks), fc_weight=fc_weight)


def _activation_qparams(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """uint8 scale and zero point covering ``[low, high]`` (and 0), as ORT's quantiser."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = (high - low) / 255.0
    if scale < np.finfo(np.float32).tiny:
        return np.float32(1.0), np.uint8(0)
    return np.float32(scale), np.uint8(np.clip(np.round(-low / scale), 0, 255))


def _weight_qparams(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights in [-127, 127] and their float32 scales."""
    absmax = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
    scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    quantized = np.clip(np.round(weight / scale.astype(np.float64).reshape(shape)), -127, 127)
    return quantized.astype(np.int8), scale


def _per_channel(values: np.ndarray) -> np.ndarray:
    """Per-channel factors as the weight of a 1x1 depthwise convolution."""
    return values.reshape(-1, 1, 1, 1)


class _GraphBuilder:
    """Emits SFace with split PRelu, in fp32 or with QuantizeLinear / DequantizeLinear.

    With ``ranges`` (tensor key -> [low, high]) every activation gets a uint8 Q/DQ pair,
    weights are int8 per output channel and biases int32, the QDQ layout ORT fuses into
    ``QLinearConv``, ``QLinearAdd`` and ``QGemm``. Without, the same graph in fp32, whose
    tensors carry the keys (used to calibrate).
    """

    def __init__(self, ranges: Mapping[str, Sequence[float]] | None) -> None:
        self.ranges = ranges
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._scales: dict[str, np.float32] = {}

    def constant(self, name: str, value: np.ndarray | np.generic) -> str:
        array = np.asarray(value)  # (np.ascontiguousarray would make a scalar 1-D)
        self.initializers.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return name

    def add(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        node = helper.make_node(op_type, list(inputs), [output], name=output, **attributes)
        self.nodes.append(node)
        return output

    def quantize(self, tensor: str, key: str, *, relu: bool = False) -> tuple[str, str]:
        """Add Q and DQ after ``tensor`` with the range stored under ``key`` (int8 mode).

        ``relu`` clamps the range at 0: the zero point is then 0, so quantisation
        saturates negative values to 0 and performs the ReLU. Returns the quantized and
        dequantized tensor names (both ``tensor`` in fp32 mode).
        """
        if self.ranges is None:
            return tensor, tensor
        low, high = self.ranges[key]
        scale, zero_point = _activation_qparams(0.0 if relu else low, high)
        self.constant(f"{key}_scale", scale)
        self.constant(f"{key}_zero_point", zero_point)
        quantized = self.add(
            "QuantizeLinear", [tensor, f"{key}_scale", f"{key}_zero_point"], f"{key}_q"
        )
        return quantized, self.dequantize(quantized, key, scale)

    def dequantize(self, quantized: str, key: str, scale: np.float32) -> str:
        output = self.add(
            "DequantizeLinear", [quantized, f"{key}_scale", f"{key}_zero_point"], f"{quantized}_dq"
        )
        self._scales[output] = scale
        return output

    def parameters(
        self, name: str, weight: np.ndarray, bias: np.ndarray | None, input_tensor: str
    ) -> list[str]:
        """Weight (and bias) inputs of a Conv / Gemm: fp32, or int8 / int32 behind a DQ."""
        if self.ranges is None:
            names = [self.constant(f"{name}_weight", weight.astype(np.float32))]
            if bias is not None:
                names.append(self.constant(f"{name}_bias", bias.astype(np.float32)))
            return names
        quantized, scale = _weight_qparams(weight)
        channels = weight.shape[0]
        names = [
            self.add(
                "DequantizeLinear",
                [
                    self.constant(f"{name}_weight_q", quantized),
                    self.constant(f"{name}_weight_scale", scale),
                    self.constant(f"{name}_weight_zero_point", np.zeros(channels, np.int8)),
                ],
                f"{name}_weight",
                axis=0,
            )
        ]
        if bias is not None:
            bias_scale = (self._scales[input_tensor] * scale).astype(np.float32)
            limit = float(np.iinfo(np.int32).max)
            bias_q = np.clip(np.round(bias / bias_scale.astype(np.float64)), -limit, limit)
            names.append(
                self.add(
                    "DequantizeLinear",
                    [
                        self.constant(f"{name}_bias_q", bias_q.astype(np.int32)),
                        self.constant(f"{name}_bias_scale", bias_scale),
                        self.constant(f"{name}_bias_zero_point", np.zeros(channels, np.int32)),
                    ],
                    f"{name}_bias",
                    axis=0,
                )
            )
        return names

    def conv(
        self,
        tensor: str,
        name: str,
        weight: np.ndarray,
        bias: np.ndarray | None,
        attributes: Mapping[str, Any],
    ) -> str:
        inputs = [tensor, *self.parameters(name, weight, bias, tensor)]
        return self.add("Conv", inputs, name, **attributes)


def _build_split_graph(
    spec: _SFaceSpec, ranges: Mapping[str, Sequence[float]] | None = None
) -> bytes:
    """Serialize SFace with each PRelu as ``a*x + c*Relu(k*x)``; int8 QDQ when ranges given.

    With ``k = 1 - s`` and ``(a, c) = (s, 1)`` where ``k >= 0``, ``(1, -1)`` where ``k < 0``
    this is PRelu for any slope ``s``. ``k``, ``a`` and ``c`` are 1x1 depthwise convs; the
    ReLU follows the ``k`` conv directly, so in int8 it is the uint8 saturation of that
    conv's output, and ``c`` is only needed in blocks with a slope above 1.
    """
    builder = _GraphBuilder(ranges)
    offset = builder.constant("normalise_offset", np.float32(spec.input_offset))
    multiplier = builder.constant("normalise_multiplier", np.float32(spec.input_multiplier))
    centred = builder.add("Sub", [_INPUT_NAME, offset], "input_centred")
    quantized, tensor = builder.quantize(
        builder.add("Mul", [centred, multiplier], "input"), "input"
    )
    for index, block in enumerate(spec.blocks):
        prefix = f"b{index:02d}"
        _, x = builder.quantize(
            builder.conv(tensor, f"{prefix}_x", block.weight, block.bias, block.attributes),
            f"{prefix}_x",
        )
        k = 1.0 - block.slope
        depthwise = {"group": k.size, "kernel_shape": [1, 1]}
        scaled = builder.conv(x, f"{prefix}_scaled", _per_channel(k), None, depthwise)
        if ranges is None:
            relu = builder.add("Relu", [scaled], f"{prefix}_relu")
        else:
            _, relu = builder.quantize(scaled, f"{prefix}_relu", relu=True)
        if block.has_steep_slope:
            sign = _per_channel(np.where(k >= 0, 1.0, -1.0))
            signed = builder.conv(relu, f"{prefix}_relu_signed", sign, None, depthwise)
            _, relu = builder.quantize(signed, f"{prefix}_relu_signed")
        a = _per_channel(np.where(k >= 0, block.slope, 1.0))
        _, linear = builder.quantize(
            builder.conv(x, f"{prefix}_linear", a, None, depthwise), f"{prefix}_linear"
        )
        quantized, tensor = builder.quantize(
            builder.add("Add", [linear, relu], f"{prefix}_y"), f"{prefix}_y"
        )
    if ranges is None:
        flat = builder.add("Flatten", [tensor], "flatten", axis=1)
    else:  # flatten the uint8 tensor, then dequantise it: DQ -> Gemm becomes QGemm
        last = f"b{len(spec.blocks) - 1:02d}_y"
        flat = builder.add("Flatten", [quantized], "flatten_q", axis=1)
        flat = builder.dequantize(flat, last, _activation_qparams(*ranges[last])[0])
    fc_inputs = [flat, *builder.parameters("fc", spec.fc_weight, spec.fc_bias, flat)]
    builder.add("Gemm", fc_inputs, _OUTPUT_NAME, transB=1)

    graph = helper.make_graph(
        builder.nodes,
        "sface_int8" if ranges is not None else "sface_split",
        [
            helper.make_tensor_value_info(
                _INPUT_NAME, TensorProto.FLOAT, [_BATCH_DIM, 3, CROP_SIZE, CROP_SIZE]
            )
        ],
        [
            helper.make_tensor_value_info(
                _OUTPUT_NAME, TensorProto.FLOAT, [_BATCH_DIM, EMBEDDING_DIM]
            )
        ],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _range_keys(spec: _SFaceSpec) -> list[str]:
    """Names of the activation tensors that the int8 graph quantises, in graph order."""
    keys = ["input"]
    for index, block in enumerate(spec.blocks):
        prefix = f"b{index:02d}"
        keys += [f"{prefix}_x", f"{prefix}_relu"]
        if block.has_steep_slope:
            keys.append(f"{prefix}_relu_signed")
        keys += [f"{prefix}_linear", f"{prefix}_y"]
    return keys


def quantize_sface_model(model_bytes: bytes, calibration: Mapping[str, Any]) -> bytes:
    """Build the int8 SFace model, in memory, from the shipped model and a calibration.

    Deterministic: the same bytes in give the same bytes out. Takes about half a second.

    Args:
        model_bytes: the serialized ``face_recognition_sface_2021dec_int8bq.onnx`` model.
        calibration: what :func:`calibrate_sface_int8` returned for this model, normally
            :func:`load_int8_calibration`.

    Returns:
        The serialized int8 model, input ``data`` ``(batch, 3, 112, 112)`` float32 RGB
        0..255, output ``fc1`` ``(batch, 128)`` float32, like :func:`convert_sface_model`.

    Raises:
        ValueError: the calibration has another format, was made for other model bytes,
            or lacks a tensor; or the model is not the expected SFace graph.
    """
    if calibration.get("format") != _CALIBRATION_FORMAT:
        raise ValueError(f"unsupported SFace int8 calibration format {calibration.get('format')!r}")
    digest = hashlib.sha256(model_bytes).hexdigest()
    if calibration.get("source_sha256") != digest:
        raise ValueError(
            f"the int8 calibration was made for the SFace model with SHA-256 "
            f"{calibration.get('source_sha256')}, not {digest}"
        )
    if calibration.get("equalisation_steps_per_octave") != _EQUALISATION_STEPS:
        raise ValueError("int8 calibration: unsupported equalisation_steps_per_octave")
    spec = _extract_spec(model_bytes)
    codes = [
        np.frombuffer(base64.b64decode(text), dtype=np.int8) for text in calibration["equalisation"]
    ]
    spec = _equalise(spec, codes)
    ranges = calibration["ranges"]
    missing = [key for key in _range_keys(spec) if key not in ranges]
    if missing:
        raise ValueError(f"int8 calibration has no range for {missing[:3]}")
    return _build_split_graph(spec, ranges)


def load_int8_calibration() -> dict[str, Any]:
    """The activation ranges shipped with facescope for :func:`quantize_sface_model`.

    Raises:
        ModelFileError: the calibration file is missing or unreadable.
    """
    import importlib.resources

    resource = importlib.resources.files(CALIBRATION_PACKAGE) / CALIBRATION_FILE
    try:
        data: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(
            f"cannot read the SFace int8 calibration {CALIBRATION_FILE} ({exc}); "
            "reinstall facescope, or use precision='fp32'"
        ) from exc
    return data


def calibrate_sface_int8(
    model_bytes: bytes,
    crops: np.ndarray,
    *,
    percentile: float = 99.999,
    batch_size: int = 4,
    description: str = "",
) -> dict[str, Any]:
    """Compute the int8 calibration (a development tool; users never run it).

    1. Per-channel equalisation: each block's output channel ``c`` is divided by
       ``a_c / geomean(a)``, rounded to a power of ``2 ** (1/4)``, where ``a_c`` is the
       largest ``|PRelu input|`` or ``|PRelu output|`` of the channel over ``crops``.
    2. Activation ranges of the equalised split graph: ``[max(-p, min), min(p, max)]``
       with ``p`` the ``percentile`` of ``|x|`` (ORT's symmetric percentile calibration).

    Args:
        model_bytes: the serialized shipped SFace model.
        crops: ``(n, 112, 112, 3)`` uint8 RGB aligned face crops.
        percentile: percentile of ``|x|`` used as the clipping bound.
        batch_size: crops per ORT call (every activation of the batch is kept in memory).
        description: where the crops came from, stored in the result.

    Returns:
        A JSON-serialisable mapping for :func:`quantize_sface_model` (about 20 KB).
    """
    import onnxruntime as ort

    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
        raise ValueError(f"crops must be uint8 (n, {CROP_SIZE}, {CROP_SIZE}, 3), got {crops.shape}")
    blob = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)

    def activations(model_bytes: bytes, names: list[str]) -> Iterator[list[np.ndarray]]:
        model = onnx.load_from_string(model_bytes)
        for name in names:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        for start in range(0, len(blob), batch_size):
            yield session.run(names, {_INPUT_NAME: blob[start : start + batch_size]})

    spec = _extract_spec(model_bytes)
    names = [f"b{index:02d}_{role}" for index in range(len(spec.blocks)) for role in ("x", "y")]
    channel_max = [np.zeros(block.bias.size) for block in spec.blocks]
    for outputs in activations(_build_split_graph(spec), names):
        for index, value in enumerate(outputs):
            block = index // 2
            channel_max[block] = np.maximum(channel_max[block], np.abs(value).max(axis=(0, 2, 3)))
    codes = []
    for amax in channel_max:
        log2 = np.log2(np.maximum(amax, amax.max() * 1e-6))
        codes.append(np.clip(np.round(_EQUALISATION_STEPS * (log2 - log2.mean())), -127, 127))
    spec = _equalise(spec, codes)

    keys = _range_keys(spec)
    low = dict.fromkeys(keys, np.inf)
    high = dict.fromkeys(keys, -np.inf)
    tails: dict[str, np.ndarray] = {}
    for outputs in activations(_build_split_graph(spec), keys):
        for key, value in zip(keys, outputs, strict=True):
            low[key] = min(low[key], float(value.min()))
            high[key] = max(high[key], float(value.max()))
            # keep the largest |x| values: as many as lie above the percentile overall
            kept = max(
                1, int(len(blob) * (value.size // value.shape[0]) * (100 - percentile) / 100)
            )
            magnitudes = np.abs(value).reshape(-1)
            if key in tails:
                magnitudes = np.concatenate([tails[key], magnitudes])
            if magnitudes.size > kept:
                magnitudes = np.partition(magnitudes, magnitudes.size - kept)[-kept:]
            tails[key] = magnitudes
    ranges = {}
    for key in keys:
        bound = float(tails[key].min())
        ranges[key] = [max(-bound, low[key]), min(bound, high[key])]
    return {
        "format": _CALIBRATION_FORMAT,
        "source_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "description": description,
        "crops": len(blob),
        "percentile": percentile,
        "equalisation_steps_per_octave": _EQUALISATION_STEPS,
        "equalisation": [
            base64.b64encode(code.astype(np.int8).tobytes()).decode("ascii") for code in codes
        ],
        "ranges": ranges,
    }
