"""ONNX Runtime sessions for the pinned models: one way to open them, one thread setting."""

from __future__ import annotations

import os
from typing import Any

from facescope.errors import ModelFileError

#: Environment variable: ONNX Runtime intra-op threads (unset: its default).
THREADS_ENV = "FACESCOPE_THREADS"
#: Environment variable: "1" lets ONNX Runtime's idle threads spin (see :func:`ort_spinning`).
SPIN_ENV = "FACESCOPE_ORT_SPIN"


def onnx_threads() -> int | None:
    """ONNX Runtime intra-op threads from ``FACESCOPE_THREADS`` (None: its default)."""
    value = os.environ.get(THREADS_ENV)
    return int(value) if value else None


def ort_spinning() -> str:
    """ONNX Runtime's ``allow_spinning`` ("0" unless ``FACESCOPE_ORT_SPIN=1``).

    With spinning, a session's idle intra-op threads busy-wait after each run. facescope
    runs several sessions one after another, so one's spinning threads took the cores
    the next one needed. At two threads (``FACESCOPE_THREADS=2``), identify answered one
    client at p50 46-54 ms with spinning and 33-36 ms without, and in process it took
    72 ms against 35 ms (``benchmarks/bench_service.py --clients 1 --threads 2``, with
    ``FACESCOPE_ORT_SPIN`` 1 and unset, two runs each).
    """
    return "1" if os.environ.get(SPIN_ENV) == "1" else "0"


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
    # idle pool threads sleep instead of spinning: facescope runs several sessions in turn
    # (detector, recogniser, ...) and each one's spinning pool starved the next one's
    options.add_session_config_entry("session.intra_op.allow_spinning", ort_spinning())
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception hierarchy
        raise ModelFileError(f"ONNX Runtime cannot load {what}: {exc}") from exc
