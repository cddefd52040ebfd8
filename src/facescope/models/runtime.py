"""ONNX Runtime sessions for the pinned models: one way to open them, one thread setting."""

from __future__ import annotations

import os
from typing import Any

from facescope.errors import ModelFileError

#: Environment variable: ONNX Runtime intra-op threads (unset: its default).
THREADS_ENV = "FACESCOPE_THREADS"


def onnx_threads() -> int | None:
    """ONNX Runtime intra-op threads from ``FACESCOPE_THREADS`` (None: its default)."""
    value = os.environ.get(THREADS_ENV)
    return int(value) if value else None


def cpu_session(
    model: bytes | str,
    what: str,
    *,
    intra_op_threads: int | None = None,
    quiet: bool = False,
) -> Any:
    """An optimised CPU ``InferenceSession`` of `model` (ONNX bytes or a path).

    `intra_op_threads` None takes :func:`onnx_threads`; `quiet` hides ONNX Runtime's
    warnings (a graph that declares a fixed output batch warns on every batched call).

    Raises:
        ModelFileError: ONNX Runtime cannot load it (the message names `what`).
    """
    import onnxruntime as ort

    threads = onnx_threads() if intra_op_threads is None else intra_op_threads
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if quiet:
        options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception hierarchy
        raise ModelFileError(f"ONNX Runtime cannot load {what}: {exc}") from exc
