"""Build-time model converters: never imported by the runtime's normal path.

``facescope models`` (which ``make install`` runs) converts each graph listed in
:data:`facescope.models.converted.CONVERTED_MODELS` once and writes it to the
converted-model cache; the runtime only loads and verifies the cached file. This package
needs ``onnx``, which is not a runtime dependency: install it with the ``build`` extra
(``pip install "facescope[build]"``).

* :mod:`~facescope.embed.converters.sface_fp32`: the shipped int8-block SFace graph rewritten
  into an fp32 graph with a dynamic batch that ONNX Runtime runs;
* :mod:`~facescope.embed.converters.sface_int8`: the integer-only SFace graph, and the
  calibration tool that made ``facescope/embed/sface_int8_calibration.json``;
* :mod:`~facescope.embed.converters.sface_stem`: SFace's first two blocks, whose feature
  maps are the learned texture cue of presentation-attack detection.

Each builder takes the verified source model's bytes and returns the converted model's
bytes, deterministically.
"""

from __future__ import annotations

try:
    import onnx  # noqa: F401  (fail here, with the install command, not deep inside)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "facescope.embed.converters converts model graphs and needs onnx: "
        'pip install "facescope[build]"'
    ) from exc

from facescope.embed.converters.sface_fp32 import convert_sface_model
from facescope.embed.converters.sface_int8 import (
    calibrate_sface_int8,
    load_int8_calibration,
    quantize_sface_model,
)
from facescope.embed.converters.sface_stem import extract_sface_stem

__all__ = [
    "build_sface_fp32",
    "build_sface_int8",
    "build_sface_stem",
    "calibrate_sface_int8",
    "convert_sface_model",
    "extract_sface_stem",
    "load_int8_calibration",
    "quantize_sface_model",
]


def build_sface_fp32(source: bytes) -> bytes:
    """The exact fp32 SFace graph (split PRelu, dynamic batch) from the shipped model."""
    return convert_sface_model(source)


def build_sface_int8(source: bytes) -> bytes:
    """The int8 SFace graph from the shipped model and the shipped calibration."""
    return quantize_sface_model(source, load_int8_calibration())


def build_sface_stem(source: bytes) -> bytes:
    """SFace's first two blocks (outputs ``conv_1_relu``, ``conv_2_relu``) for PAD."""
    return extract_sface_stem(source)
