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
