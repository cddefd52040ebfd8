"""Provenance of fitted files: which script made them, from what data, how they scored.

Every shipped head and thresholds file carries one record with (at least) these keys:

* ``script``: the command that reproduces the file (``python scripts/fit_pad.py``);
* ``data``: what it was fitted on (data set, sizes);
* ``split``: which part of the data fitted it and which part measured it;
* ``seed``: the random seed (None when nothing was random);
* ``created``: when, UTC, ISO 8601;
* ``metrics``: held-out figures measured when it was fitted.

Extra keys (``converted_from``, ``notes``, ...) are kept as they are.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

#: The keys every shipped record has.
PROVENANCE_KEYS = ("script", "data", "split", "seed", "created", "metrics")


def utc_now() -> str:
    """Now, UTC, to the second (``2026-12-03T13:01:56Z``)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(
    *,
    script: str,
    data: str,
    split: str | None = None,
    seed: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    created: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A provenance record (``created`` defaults to now)."""
    return {
        "script": script,
        "data": data,
        "split": split,
        "seed": seed,
        "created": created or utc_now(),
        "metrics": dict(metrics or {}),
        **extra,
    }


def checked_provenance(value: Any) -> dict[str, Any]:
    """`value` (a document's ``provenance``) as a dict (absent -> empty), or ValueError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError("'provenance' must be an object with string keys")
    if "metrics" in value and not isinstance(value["metrics"], Mapping | None):
        raise ValueError("provenance 'metrics' must be an object")
    return dict(value)


__all__ = ["PROVENANCE_KEYS", "checked_provenance", "provenance", "utc_now"]
