"""JSON-ready values: the one conversion every report and CLI uses."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
