"""Renamed public names: the old one keeps working for one release, with a DeprecationWarning."""

from __future__ import annotations

import warnings
from typing import TypeVar

T = TypeVar("T")


def renamed_argument(
    owner: str,
    old: str,
    old_value: T | None,
    new: str,
    new_value: T,
    *,
    new_default: object = None,
    stacklevel: int = 3,
) -> T:
    """Resolve a keyword argument renamed from `old` (default None) to `new`.

    Warns when the old name is given; refuses both names with different values
    (`new_default` is the new name's default, taken as "not given").
    """
    if old_value is None:
        return new_value
    warnings.warn(
        f"{owner}: {old}= is deprecated, use {new}= (the old name goes in the next release)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    if new_value != new_default and new_value != old_value:
        raise TypeError(f"{owner}: give {new}= only, not also the deprecated {old}=")
    return old_value


def renamed_attribute(owner: str, old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that attribute `old` of `owner` is now `new`."""
    warnings.warn(
        f"{owner}.{old} is deprecated, use {owner}.{new} (the old name goes in the next release)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
