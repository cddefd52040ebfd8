"""JSON-ready values and JSON files: the one conversion and writer every report and CLI uses."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Recursively convert to JSON-ready values: NaN/inf -> None, arrays -> lists.

    Mapping keys become strings (floats as ``f"{k:g}"``, so ``1e-3`` -> ``"0.001"``).
    """
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.str_):
        return str(value)
    return value


def _key(key: Any) -> str:
    if isinstance(key, float | np.floating):
        return f"{float(key):g}"
    return str(key)


def write_json(path: str | os.PathLike[str], document: Any, *, indent: int | None = 1) -> Path:
    """Write `document` as UTF-8 JSON, atomically: a partial file never replaces a good one.

    Floats are written with ``repr`` precision, so every number reads back exactly.
    The parent folder is created when missing; returns the path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps(document, indent=indent) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target


def read_json(path: str | os.PathLike[str], error: type[Exception]) -> Any:
    """The JSON document at `path`, or `error` with a message naming the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"cannot read {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"cannot read {path}: not JSON ({exc})") from None
