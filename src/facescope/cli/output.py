"""The one output convention of every command: ``emit(result, as_json=..., render=...)``.

A command computes a result (a dataclass, a dict, a list, anything with ``to_dict()``)
and ends with :func:`emit`: with ``--json`` the result goes to standard output as one
JSON document (and nothing else does); otherwise ``render`` yields what people read
(strings with rich markup, tables), printed through rich. Errors, warnings, progress
bars and "wrote FILE" notes go to standard error in both cases. Files are written
with ``--out`` through :func:`write_document`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import RenderableType
from rich.text import Text

from facescope._json import jsonable, write_json
from facescope.cli._common import console

T = TypeVar("T")

#: Turns a result into what a person reads: lines (rich markup) and tables, in order.
Render = Callable[[T], Iterable[RenderableType]]


def to_document(value: Any) -> Any:
    """`value` as JSON-ready data: ``to_dict()``, dataclasses, paths, numpy, NaN -> null."""
    return jsonable(_plain(value))


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return _plain(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return [_plain(item) for item in sorted(value, key=str)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def dumps(value: Any) -> str:
    """The JSON text of `value` (see :func:`to_document`)."""
    return json.dumps(to_document(value), indent=2, default=str)


def print_json(value: Any) -> None:
    """Write `value` to standard output as one JSON document."""
    typer.echo(dumps(value))


def write_document(path: str | os.PathLike[str], value: Any) -> Path:
    """Write `value` as a JSON file (atomically; folders created); return the path."""
    return write_json(path, to_document(value), indent=2)


def plain(text: str) -> Text:
    """`text` exactly as given, without markup (secrets, names that may hold brackets)."""
    return Text(text)


def emit(result: T, *, as_json: bool, render: Render[T] | None = None) -> None:
    """Print a command's result: JSON on stdout with `as_json`, else the human rendering.

    Without a `render`, the human output is the JSON document too. Lines (``str``,
    :class:`~rich.text.Text`) are printed whole, never wrapped; tables fit the terminal.
    """
    if as_json or render is None:
        print_json(result)
        return
    for part in render(result):
        # lines are never wrapped (a path or a key stays whole); tables fit the terminal
        console.print(part, highlight=False, soft_wrap=isinstance(part, str | Text))


def print_json_line(value: Any) -> None:
    """Write `value` to standard output as one line of JSON (a JSON Lines record), flushed."""
    typer.echo(json.dumps(to_document(value), default=str))
