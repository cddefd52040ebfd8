"""The optional PyTorch runtime of the trainable networks, and their one weights format.

Several parts of facescope train small PyTorch networks (the learned weather restorer,
the micro-expression recogniser, the lip reader). Torch is the optional ``torch`` extra,
so each imports it through :func:`require_torch`, which names what needs it and how to
install it. They share one file format for their weights: an ``.npz`` of arrays
(``w:<state-dict key>``, no pickles) and a ``meta`` entry holding JSON (a format tag,
the architecture, the training provenance), written atomically and read with
``allow_pickle=False`` (:func:`write_weights`, :func:`read_weights`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError, ModelNotAvailableError

#: How to install the optional extra.
INSTALL_HINT = "install the optional extra with: pip install 'facescope[torch]'"


def torch_hint(purpose: str) -> str:
    """The message for a missing torch: `purpose` ("lip reading") needs it; how to install."""
    return f"{purpose} needs PyTorch, which is not installed; {INSTALL_HINT}"


def require_torch(purpose: str) -> Any:
    """The ``torch`` module, or ModelNotAvailableError naming `purpose` and the extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelNotAvailableError(torch_hint(purpose)) from exc
    return torch


def torch_available() -> bool:
    """Whether PyTorch can be imported."""
    try:
        require_torch("this")
    except ModelNotAvailableError:
        return False
    return True


@contextmanager
def torch_threads() -> Iterator[None]:
    """Run torch with ``FACESCOPE_THREADS`` intra-op threads (when set), then restore."""
    from facescope.models.runtime import onnx_threads

    torch = require_torch("this")
    wanted = onnx_threads()
    previous = torch.get_num_threads()
    if wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def state_arrays(model: Any, dtype: npt.DTypeLike = np.float32) -> dict[str, npt.NDArray[Any]]:
    """``w:<key>`` arrays of `model`'s state dict: floats as `dtype`, integers unchanged."""
    out: dict[str, npt.NDArray[Any]] = {}
    for key, value in model.state_dict().items():
        array = value.detach().cpu().numpy()
        out[f"w:{key}"] = array if array.dtype.kind in "iub" else array.astype(dtype)
    return out


def write_weights(
    path: str | os.PathLike[str], arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]
) -> Path:
    """Write `arrays` and `meta` (as JSON) to an ``.npz`` atomically; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.npz")
    entries: dict[str, Any] = {"meta": np.array(json.dumps(dict(meta), default=str)), **arrays}
    np.savez_compressed(tmp, **entries)
    tmp.replace(target)
    return target


def read_weights(
    path: str | os.PathLike[str],
    fmt: str,
    *,
    error: type[FacescopeError],
    what: str,
    make_with: str,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """(arrays, meta) of a weights file whose meta's format is `fmt`.

    Raises `error` (naming `what`, e.g. "a lip-reading weights file", and the command
    that makes one, `make_with`) for a missing, unreadable, pickled or foreign file.
    """
    file = Path(path)
    if not file.is_file():
        raise error(f"no weights file at {file}")
    with file.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise error(f"{file} is not {what}: cannot read it as an .npz (zip) archive")
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        why = "pickled data is refused" if "pickle" in str(exc) else str(exc)
        raise error(f"{file} is not {what} (.npz with a JSON meta): {why}") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise error(f"{file} is not a {fmt} file (format {found!r}); make one with `{make_with}`")
    return arrays, meta


def load_state(
    model: Any,
    arrays: Mapping[str, npt.NDArray[Any]],
    *,
    error: type[FacescopeError],
    source: str,
) -> Any:
    """Load the ``w:`` arrays into `model` (strict, finite), then eval mode without grads."""
    torch = require_torch("this")
    state = {k[2:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("w:")}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise error(f"{source} does not fit its architecture: {exc}") from exc
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise error(f"{source} holds non-finite weights")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


__all__ = [
    "INSTALL_HINT",
    "load_state",
    "read_weights",
    "require_torch",
    "state_arrays",
    "torch_available",
    "torch_hint",
    "torch_threads",
    "write_weights",
]
