"""Weights we trained and ship inside the package: found, and checked against a pinned SHA-256.

A file of ours (the learned restorer, the weather-adapted SFace, ...) is package data next
to the module that loads it, pinned by a SHA-256 constant in that module, and may be
replaced by a file that an environment variable names (not checked: the user chose it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models.registry import sha256_of

T = TypeVar("T")


@contextmanager
def verified_shipped(package: str, name: str, sha256: str, what: str) -> Iterator[Path]:
    """The path of the packaged file `name` of `package`, once its SHA-256 is `sha256`.

    Raises:
        ModelNotAvailableError: the file is not installed.
        ModelFileError: it was altered (its SHA-256 is not the pinned one).
    """
    source = resources.files(package).joinpath(name)
    with resources.as_file(source) as file:
        if not file.is_file():
            raise ModelNotAvailableError(
                f"the {what} weights {name} are missing; reinstall facescope"
            )
        if sha256_of(file) != sha256:
            raise ModelFileError(
                f"the shipped {name} ({what}) does not match its pinned SHA-256 (reinstall)"
            )
        yield file


def shipped_or_named_exists(package: str, name: str, env: str) -> bool:
    """Whether the file the variable `env` names exists, else whether `name` is installed."""
    named = os.environ.get(env)
    if named:
        return Path(named).is_file()
    return resources.files(package).joinpath(name).is_file()


def read_shipped_or_named(
    path: str | os.PathLike[str] | None,
    read: Callable[[Path], T],
    *,
    package: str,
    name: str,
    sha256: str,
    what: str,
) -> tuple[T, str]:
    """(`read` of the file at `path`, or of the shipped `name` once its SHA-256 is verified;
    where it came from, for error messages)."""
    if path is None:
        with verified_shipped(package, name, sha256, what) as file:
            return read(file), f"the shipped {name}"
    return read(Path(path)), str(path)


__all__ = ["read_shipped_or_named", "shipped_or_named_exists", "verified_shipped"]
