"""SFace rebuilt in PyTorch from the converted fp32 graph: a differentiable identity critic.

:class:`SFaceTorch` is the network of the converted fp32 SFace graph
(:mod:`facescope.embed.sface_onnx`, built by
:mod:`facescope.embed.converters.sface_fp32`) written out as a ``torch.nn.Module``, so a
learned restorer can be trained with an identity loss through it. The graph is a plain
MobileNet-v1-style chain of depthwise and pointwise convolutions (no residuals, no
expansion, no global depthwise conv) with an insightface-style "E" embedding head (BN,
dropout, fully connected, BN), all from MXNet:

* input ``(x - 127.5) * 0.0078125`` (the graph's ``Sub`` and ``Mul`` nodes);
* ``conv_1``: 3x3 conv 3 -> 32, stride 1, + BatchNorm + PReLU;
* ``conv_2`` .. ``conv_14``: each a 3x3 depthwise conv (``conv_k_dw``, stride 2 at
  ``conv_3``, ``conv_5``, ``conv_7`` and ``conv_13``, so 112 -> 7) + BatchNorm + PReLU,
  then a 1x1 pointwise conv (``conv_k``) + BatchNorm + PReLU; channels 32, 64, 128, 128,
  256, 256, 512 (x6), 1024, 1024; no conv has a bias, every BatchNorm has eps 1e-3;
* ``bn1`` (BatchNorm, eps 2e-5), ``dropout5`` (p 0.4, identity in eval mode), flatten
  (1024 x 7 x 7 = 50176), ``pre_fc1`` (fully connected to 128, with bias) and ``fc1``
  (BatchNorm1d, eps 2e-5): the raw 128-d feature.

The converter rewrote each ``PRelu`` as ``s * x + (1 - s) * Relu(x)`` (two 1x1 depthwise
convolutions and an ``Add``); here it is a ``torch.nn.PReLU`` again, with the slope ``s``
read from the rewritten graph (stored exactly), which is the same function to within one
float rounding. :func:`load_sface_torch` walks the graph node by node, checks every op,
stride, pad, group, kernel and epsilon against this architecture (a mismatch raises
:class:`~facescope.errors.ModelFileError` rather than giving wrong features), and copies
the initializers into the module by name. The weights come from the pinned SFace file
through the verified converted-model cache; nothing is downloaded or shipped anew.

It needs PyTorch (the ``torch`` extra) and, to read the graph, ``onnx`` (the ``build``
extra). Without PyTorch this module still imports; building the network raises
:class:`~facescope.errors.ModelNotAvailableError` with the install hint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from facescope.embed.sface_onnx import (
    CROP_SIZE,
    EMBEDDING_DIM,
    INPUT_NAME,
    OUTPUT_NAME,
    converted_key,
)
from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models import converted as converted_models
from facescope.models.registry import MODEL_FILES, verified_path

if TYPE_CHECKING:
    import torch
    from torch import nn

    _ModuleBase = nn.Module
else:
    try:
        import torch
        from torch import nn

        _ModuleBase = nn.Module
    except ImportError:  # the module imports; building the network raises the hint
        torch = None
        nn = None

        class _ModuleBase:
            """Stands in for ``torch.nn.Module`` without PyTorch: constructing raises."""

            def __init__(self, *args: object, **kwargs: object) -> None:
                raise ModelNotAvailableError(TORCH_HINT)


__all__ = [
    "BLOCKS",
    "MODEL_KEY",
    "ONNX_HINT",
    "TORCH_HINT",
    "SFaceTorch",
    "load_sface_torch",
]

MODEL_KEY: Final[str] = "sface"
"""Registry key of the pinned SFace file the weights come from."""

TORCH_HINT: Final[str] = (
    "the differentiable SFace needs PyTorch, which is not installed; "
    'install the optional extra with: pip install "facescope[torch]"'
)
ONNX_HINT: Final[str] = (
    "the differentiable SFace reads its weights from the converted SFace graph with onnx, "
    'which is not installed; install it with: pip install "facescope[build]"'
)

BLOCKS: Final[tuple[tuple[str, int, int, int, int], ...]] = (
    # (graph prefix, in channels, out channels, kernel, stride); a kernel-3 block whose
    # prefix ends with "_dw" is depthwise (groups = channels), the others are dense.
    ("conv_1", 3, 32, 3, 1),
    ("conv_2_dw", 32, 32, 3, 1),
    ("conv_2", 32, 64, 1, 1),
    ("conv_3_dw", 64, 64, 3, 2),
    ("conv_3", 64, 128, 1, 1),
    ("conv_4_dw", 128, 128, 3, 1),
    ("conv_4", 128, 128, 1, 1),
    ("conv_5_dw", 128, 128, 3, 2),
    ("conv_5", 128, 256, 1, 1),
    ("conv_6_dw", 256, 256, 3, 1),
    ("conv_6", 256, 256, 1, 1),
    ("conv_7_dw", 256, 256, 3, 2),
    ("conv_7", 256, 512, 1, 1),
    ("conv_8_dw", 512, 512, 3, 1),
    ("conv_8", 512, 512, 1, 1),
    ("conv_9_dw", 512, 512, 3, 1),
    ("conv_9", 512, 512, 1, 1),
    ("conv_10_dw", 512, 512, 3, 1),
    ("conv_10", 512, 512, 1, 1),
    ("conv_11_dw", 512, 512, 3, 1),
    ("conv_11", 512, 512, 1, 1),
    ("conv_12_dw", 512, 512, 3, 1),
    ("conv_12", 512, 512, 1, 1),
    ("conv_13_dw", 512, 512, 3, 2),
    ("conv_13", 512, 1024, 1, 1),
    ("conv_14_dw", 1024, 1024, 3, 1),
    ("conv_14", 1024, 1024, 1, 1),
)
"""The conv + BatchNorm + PReLU blocks of SFace, in order, named as in the graph."""

_BLOCK_EPS: Final[float] = 1e-3
_HEAD_EPS: Final[float] = 2e-5
_DROPOUT: Final[float] = 0.4
_FINAL_CHANNELS: Final[int] = BLOCKS[-1][2]
_FINAL_SIDE: Final[int] = CROP_SIZE // 16  # four stride-2 convolutions: 112 -> 7
_FLAT: Final[int] = _FINAL_CHANNELS * _FINAL_SIDE * _FINAL_SIDE


def _groups(prefix: str, channels_in: int) -> int:
    return channels_in if prefix.endswith("_dw") else 1


class SFaceTorch(_ModuleBase):  # type: ignore[misc, unused-ignore]
    """The SFace network in PyTorch: ``(n, 3, 112, 112)`` RGB 0..255 -> ``(n, 128)`` raw features.

    Constructed bare it has untrained weights; :func:`load_sface_torch` builds it with the
    pinned SFace weights. It starts in eval mode (BatchNorm uses the stored statistics,
    dropout is off) with every parameter frozen (``requires_grad=False``): it is meant as
    a fixed identity critic, and gradients still flow to the input. Calling ``.train()``
    would switch BatchNorm to batch statistics and turn dropout on, which changes the
    features; ``requires_grad_(True)`` unfreezes it for fine-tuning.

    The input is what the ONNX graph takes (``SFaceSession`` feeds the same): RGB, float
    0..255, NCHW, aligned like ``cv2.FaceRecognizerSF.alignCrop``; the mean (127.5) and
    scale (1/128) are buffers of the module. The output is not normalised (as
    ``SFaceSession.run``); normalise it for cosine similarity.

    Raises:
        ModelNotAvailableError: PyTorch is not installed (on construction).
    """

    input_mean: torch.Tensor
    input_scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.full((1,), 127.5))
        self.register_buffer("input_scale", torch.full((1,), 0.0078125))
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for prefix, channels_in, channels_out, kernel, stride in BLOCKS:
            blocks[prefix] = nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(
                        channels_in,
                        channels_out,
                        kernel,
                        stride=stride,
                        padding=kernel // 2,
                        groups=_groups(prefix, channels_in),
                        bias=False,
                    ),
                    bn=nn.BatchNorm2d(channels_out, eps=_BLOCK_EPS),
                    prelu=nn.PReLU(channels_out),
                )
            )
        self.features = nn.Sequential(blocks)
        self.bn1 = nn.BatchNorm2d(_FINAL_CHANNELS, eps=_HEAD_EPS)
        self.dropout = nn.Dropout(_DROPOUT)
        self.pre_fc1 = nn.Linear(_FLAT, EMBEDDING_DIM)
        self.fc1 = nn.BatchNorm1d(EMBEDDING_DIM, eps=_HEAD_EPS)
        self.eval()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw SFace features of ``x``: ``(n, 3, 112, 112)`` float RGB 0..255 -> ``(n, 128)``.

        Differentiable with respect to ``x``.

        Raises:
            ValueError: ``x`` is not of shape ``(n, 3, 112, 112)``.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, CROP_SIZE, CROP_SIZE):
            raise ValueError(
                f"SFace input must have shape (n, 3, {CROP_SIZE}, {CROP_SIZE}) "
                f"(RGB 0..255, NCHW), got {tuple(x.shape)}"
            )
        out = (x - self.input_mean) * self.input_scale
        out = self.features(out)
        out = self.dropout(self.bn1(out))
        out = self.pre_fc1(torch.flatten(out, 1))
        result: torch.Tensor = self.fc1(out)
        return result


def load_sface_torch(*, device: str | torch.device = "cpu") -> SFaceTorch:
    """SFace in PyTorch with the pinned weights, in eval mode, parameters frozen.

    The weights are read from the converted fp32 graph (``sface_fp32`` in the
    converted-model cache, SHA-256 checked, converted now once if missing and ``onnx`` is
    installed) of the pinned, verified SFace file. Its features match
    ``SFaceSession(precision="fp32").run`` on the same crops to float rounding.

    Args:
        device: where to put the module (``"cpu"``, ``"cuda"``, a ``torch.device``).

    Raises:
        ModelNotAvailableError: PyTorch or ``onnx`` is not installed (the message gives the
            extra to install), or the SFace carrier file is missing.
        ModelFileError: the SFace file or its converted graph is altered, or the graph is
            not the architecture :class:`SFaceTorch` mirrors.
    """
    if torch is None:
        raise ModelNotAvailableError(TORCH_HINT)
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ModelNotAvailableError(ONNX_HINT) from exc

    source = verified_path(MODEL_KEY)
    key = converted_key("fp32")
    data = converted_models.load(key, source, MODEL_FILES[MODEL_KEY].sha256)
    try:
        graph = onnx.load_from_string(data).graph
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise ModelFileError(f"cannot parse the converted SFace graph {key}: {exc}") from exc
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state = _state_from_graph(graph, arrays)

    model = SFaceTorch()
    tensors = {name: torch.from_numpy(value) for name, value in state.items()}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:  # a shape mismatch
        raise ModelFileError(f"the converted SFace graph {key} does not fit: {exc}") from exc
    model.eval()
    model.requires_grad_(False)
    return model.to(device)


class _Graph:
    """Lookups into the converted graph, each failing with a :class:`ModelFileError`."""

    def __init__(self, graph: Any, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.producers: dict[str, Any] = {out: node for node in graph.node for out in node.output}
        self.inputs = [value.name for value in graph.input]
        self.outputs = [value.name for value in graph.output]
        self.counts: dict[str, int] = {}
        for node in graph.node:
            self.counts[node.op_type] = self.counts.get(node.op_type, 0) + 1

    def node(self, output: str, op_type: str) -> Any:
        """The node producing ``output``, which must be an ``op_type`` of the default domain."""
        node = self.producers.get(output)
        if node is None or node.op_type != op_type or node.domain not in ("", "ai.onnx"):
            found = "nothing" if node is None else f"{node.op_type} {node.name!r}"
            raise _mismatch(f"'{output}' should come from a {op_type} node, found {found}")
        return node

    def array(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A float32 initializer, optionally of an exact shape."""
        value = self.arrays.get(name)
        if value is None or value.dtype != np.float32:
            raise _mismatch(f"'{name}' should be a float32 initializer")
        if shape is not None and value.shape != shape:
            raise _mismatch(f"'{name}' has shape {value.shape}, expected {shape}")
        return value

    def scalar(self, name: str) -> float:
        """The value of a one-element float32 initializer."""
        value = self.array(name)
        if value.size != 1:
            raise _mismatch(f"'{name}' should hold one value, has shape {value.shape}")
        return float(value.reshape(()))


def _mismatch(detail: str) -> ModelFileError:
    return ModelFileError(
        f"the converted SFace graph is not the architecture SFaceTorch mirrors: {detail}"
    )


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _check_attributes(node: Any, expected: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Every attribute of ``node`` is known and, with ``defaults`` filled in, as expected."""
    found = {**defaults, **_attributes(node)}
    unknown = set(found) - set(expected)
    if unknown:
        raise _mismatch(f"{node.op_type} {node.name!r} has unexpected attributes {sorted(unknown)}")
    for name, value in expected.items():
        actual = found.get(name)
        if isinstance(value, float):
            same = isinstance(actual, float) and abs(actual - value) <= 1e-6 * abs(value)
        else:
            same = actual == value
        if not same:
            raise _mismatch(
                f"{node.op_type} {node.name!r}: {name} is {actual!r}, expected {value!r}"
            )


def _batchnorm(
    graph: _Graph, output: str, source: str, channels: int, eps: float, prefix: str
) -> dict[str, np.ndarray]:
    """State of the BatchNormalization producing ``output`` from ``source``."""
    node = graph.node(output, "BatchNormalization")
    if len(node.input) != 5 or node.input[0] != source:
        raise _mismatch(f"BatchNormalization {node.name!r} should read '{source}'")
    _check_attributes(
        node,
        {"epsilon": eps, "momentum": 0.9, "training_mode": 0},
        {"momentum": 0.9, "training_mode": 0},
    )
    names = ("weight", "bias", "running_mean", "running_var")
    return {
        f"{prefix}.{name}": graph.array(value, (channels,))
        for name, value in zip(names, node.input[1:], strict=True)
    }


def _conv(graph: _Graph, output: str, source: str, weight_shape: tuple[int, ...]) -> Any:
    """The bias-free Conv producing ``output`` from ``source`` with a weight of that shape."""
    node = graph.node(output, "Conv")
    if len(node.input) != 2 or node.input[0] != source:
        raise _mismatch(f"Conv {node.name!r} should read '{source}' and have no bias")
    graph.array(node.input[1], weight_shape)
    return node


def _prelu_slope(graph: _Graph, output: str, source: str, channels: int) -> np.ndarray:
    """Slope of the PReLU producing ``output`` from ``source``: shipped or split."""
    node = graph.producers.get(output)
    depthwise = (channels, 1, 1, 1)
    if node is not None and node.op_type == "PRelu":  # a graph converted with split_prelu=False
        if node.input[0] != source:
            raise _mismatch(f"PRelu {node.name!r} should read '{source}'")
        return graph.array(node.input[1]).reshape(channels).copy()
    # s * x + (1 - s) * Relu(x), each product a 1x1 depthwise Conv (converters.sface_fp32)
    add = graph.node(output, "Add")
    convs = [graph.node(name, "Conv") for name in add.input]
    linear = [conv for conv in convs if conv.input[0] == source]
    scaled = [conv for conv in convs if conv.input[0] != source]
    if len(linear) != 1 or len(scaled) != 1:
        raise _mismatch(f"Add {add.name!r} should sum s * x and (1 - s) * Relu(x) of '{source}'")
    relu = graph.node(scaled[0].input[0], "Relu")
    if list(relu.input) != [source]:
        raise _mismatch(f"Relu {relu.name!r} should read '{source}'")
    for conv in (linear[0], scaled[0]):
        if len(conv.input) != 2:
            raise _mismatch(f"Conv {conv.name!r} of a split PRelu should have no bias")
        _check_attributes(
            conv,
            {
                "group": channels,
                "kernel_shape": [1, 1],
                "strides": [1, 1],
                "pads": [0, 0, 0, 0],
                "dilations": [1, 1],
            },
            {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1]},
        )
    slope = graph.array(linear[0].input[1], depthwise).astype(np.float64)
    one_minus = graph.array(scaled[0].input[1], depthwise).astype(np.float64)
    if not np.allclose(one_minus, 1.0 - slope, rtol=0.0, atol=1e-6):
        raise _mismatch(f"the weights of the split PRelu '{output}' are not s and 1 - s")
    return slope.astype(np.float32).reshape(channels)


def _state_from_graph(graph: Any, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The :class:`SFaceTorch` state dict from the converted graph, its structure checked.

    Walks the chain from the output ``fc1`` back to the input ``data`` through the names
    the graph uses (``conv_k_dw_conv2d``, ``conv_k_batchnorm``, ``conv_k_relu``, ``bn1``,
    ``pre_fc1``, ...), checking each node's type, inputs and attributes.
    """
    lookup = _Graph(graph, arrays)
    if lookup.inputs != [INPUT_NAME] or lookup.outputs != [OUTPUT_NAME]:
        raise _mismatch(f"inputs {lookup.inputs} and outputs {lookup.outputs}")
    state: dict[str, np.ndarray] = {}

    # input normalisation: (data - mean) * scale
    sub = lookup.node("_minusscalar0", "Sub")
    mul = lookup.node("_mulscalar0", "Mul")
    if sub.input[0] != INPUT_NAME or list(mul.input[:1]) != [sub.output[0]]:
        raise _mismatch("the input should be normalised by Sub then Mul")
    mean, scale = lookup.scalar(sub.input[1]), lookup.scalar(mul.input[1])
    state["input_mean"] = np.array([mean], np.float32)
    state["input_scale"] = np.array([scale], np.float32)

    source = mul.output[0]
    for prefix, channels_in, channels_out, kernel, stride in BLOCKS:
        groups = _groups(prefix, channels_in)
        weight_shape = (channels_out, channels_in // groups, kernel, kernel)
        conv = _conv(lookup, f"{prefix}_conv2d", source, weight_shape)
        pad = kernel // 2
        _check_attributes(
            conv,
            {
                "group": groups,
                "kernel_shape": [kernel, kernel],
                "strides": [stride, stride],
                "pads": [pad] * 4,
                "dilations": [1, 1],
            },
            {"group": 1, "strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1]},
        )
        name = f"features.{prefix}"
        state[f"{name}.conv.weight"] = lookup.array(conv.input[1])
        bn_out = f"{prefix}_batchnorm"
        state.update(
            _batchnorm(lookup, bn_out, conv.output[0], channels_out, _BLOCK_EPS, f"{name}.bn")
        )
        state[f"{name}.prelu.weight"] = _prelu_slope(lookup, f"{prefix}_relu", bn_out, channels_out)
        source = f"{prefix}_relu"

    state.update(_batchnorm(lookup, "bn1", source, _FINAL_CHANNELS, _HEAD_EPS, "bn1"))
    dropout = lookup.node("dropout5", "Dropout")
    if dropout.input[0] != "bn1" or len(dropout.input) > 2:
        raise _mismatch(f"Dropout {dropout.name!r} should read 'bn1' (ratio only)")
    flatten = lookup.node("flatten_254", "Flatten")
    if list(flatten.input) != [dropout.output[0]]:
        raise _mismatch(f"Flatten {flatten.name!r} should read '{dropout.output[0]}'")
    _check_attributes(flatten, {"axis": 1}, {"axis": 1})
    gemm = lookup.node("pre_fc1", "Gemm")
    if len(gemm.input) != 3 or gemm.input[0] != flatten.output[0]:
        raise _mismatch(f"Gemm {gemm.name!r} should read '{flatten.output[0]}' with a bias")
    _check_attributes(
        gemm,
        {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1},
        {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    )
    state["pre_fc1.weight"] = lookup.array(gemm.input[1], (EMBEDDING_DIM, _FLAT))
    state["pre_fc1.bias"] = lookup.array(gemm.input[2], (EMBEDDING_DIM,))
    state.update(_batchnorm(lookup, OUTPUT_NAME, "pre_fc1", EMBEDDING_DIM, _HEAD_EPS, "fc1"))
    # BatchNorm's step counter: not in the graph, unused in eval mode
    for name in [key for key in state if key.endswith(".running_var")]:
        state[name.removesuffix("running_var") + "num_batches_tracked"] = np.array(0, np.int64)

    expected_ops = {
        "Sub": 1,
        "Mul": 1,
        "Conv": len(BLOCKS) * (1 + 2 * int("Add" in lookup.counts)),
        "BatchNormalization": len(BLOCKS) + 2,
        "Dropout": 1,
        "Flatten": 1,
        "Gemm": 1,
    }
    if "Add" in lookup.counts:
        expected_ops.update(Relu=len(BLOCKS), Add=len(BLOCKS))
    else:
        expected_ops["PRelu"] = len(BLOCKS)
    found_ops = {op: n for op, n in lookup.counts.items() if op != "Constant"}
    if found_ops != expected_ops:  # nodes off the chain walked above
        raise _mismatch(f"op counts {found_ops}, expected {expected_ops}")
    return {name: np.array(value, copy=True, order="C") for name, value in state.items()}
