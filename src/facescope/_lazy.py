"""Process-wide lazy singletons: load a model once, on first use, thread-safely."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """Build a value on first `get()` and return the same object afterwards.

    Double-checked locking: concurrent first callers block until one of them
    has built the value; a failed build is not cached, so a fixed install can
    be retried in the same process.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """Return the value, building it if this is the first call."""
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._factory()
            return self._value

    @property
    def loaded(self) -> bool:
        """Whether the value has been built."""
        return self._value is not None


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports each exported name from its module on first use.

    Lets a package list its public names without importing heavy modules
    (MediaPipe, matplotlib) until one is asked for.
    """

    def attribute(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(module), name)

    return attribute
