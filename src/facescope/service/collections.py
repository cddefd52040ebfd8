"""Collections: separate galleries in one data folder, each behind its own lock.

The ``default`` collection is the data folder's own gallery (the one the CLI's
``facescope enroll`` writes to); every other collection ``NAME`` lives in
``collections/NAME/``. A gallery's SQLite connection is used by one thread at a
time: :meth:`Collections.use` hands it out under the collection's lock, and the
service keeps detection and embedding (the slow, thread-safe part) outside it.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facescope.errors import CorruptGalleryError, FacescopeError, GalleryError
from facescope.gallery import Gallery
from facescope.gallery.gallery import DB_NAME

DEFAULT_COLLECTION = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownCollectionError(FacescopeError, KeyError):
    """No collection of that name exists."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown collection"


class CollectionExistsError(FacescopeError, ValueError):
    """A collection of that name exists already."""


class InvalidNameError(FacescopeError, ValueError):
    """A collection name with characters outside ``[A-Za-z0-9_.-]`` or too long."""


def check_name(name: str) -> str:
    """Return `name` if it is a valid collection name (1-64 of ``A-Za-z0-9_.-``)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InvalidNameError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


class Collections:
    """The galleries of one data folder, opened once and shared by request threads."""

    def __init__(self, data: Path, model: str = "sface") -> None:
        self._data = Path(data)
        self._model = model
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Gallery, threading.RLock]] = {}
        #: collections found damaged (by opening or by a request), with the reason
        self._broken: dict[str, str] = {}

    def _folder(self, name: str) -> Path:
        check_name(name)
        return self._data if name == DEFAULT_COLLECTION else self._data / "collections" / name

    def names(self) -> list[str]:
        """Existing collections, ``default`` first (it always exists)."""
        root = self._data / "collections"
        others = (
            sorted(
                p.name for p in root.iterdir() if (p / DB_NAME).is_file() and _NAME.match(p.name)
            )
            if root.is_dir()
            else []
        )
        return [DEFAULT_COLLECTION, *others]

    def exists(self, name: str) -> bool:
        return name == DEFAULT_COLLECTION or (self._folder(name) / DB_NAME).is_file()

    def create(self, name: str, model: str | None = None) -> None:
        """Create an empty collection (its gallery file) with `model` templates."""
        with self._lock:
            if self.exists(name):
                raise CollectionExistsError(f"collection {name!r} exists already")
            gallery = Gallery.open(self._folder(name), model=model or self._model)
            self._open[name] = (gallery, threading.RLock())

    def delete(self, name: str) -> None:
        """Erase a collection: its gallery, search cache and every template."""
        if name == DEFAULT_COLLECTION:
            raise GalleryError("the default collection cannot be deleted; remove its subjects")
        with self._lock:
            if not self.exists(name):
                raise UnknownCollectionError(f"unknown collection {name!r}")
            entry = self._open.pop(name, None)
            self._broken.pop(name, None)
            if entry is not None:
                with entry[1]:
                    entry[0].close()
            shutil.rmtree(self._folder(name))

    @contextmanager
    def use(self, name: str) -> Iterator[Gallery]:
        """The collection's gallery, held under its lock for the `with` block."""
        entry = self._get(name)
        with entry[1]:
            if self._open.get(name) is not entry:  # deleted while we waited for the lock
                raise UnknownCollectionError(f"unknown collection {name!r}")
            try:
                yield entry[0]
            except CorruptGalleryError as exc:
                self._broken[name] = str(exc)
                raise

    def broken(self) -> dict[str, str]:
        """Collections that cannot be used, with why: for the readiness check.

        Opens every collection not open yet (a file that does not open is
        reported), and adds those a request found damaged since.
        """
        for name in self.names():
            try:
                self._get(name)
            except GalleryError as exc:
                self._broken[name] = str(exc)
        return dict(self._broken)

    def model(self, name: str) -> str:
        """The collection's recognition model, without waiting for its lock."""
        return self._get(name)[0].model

    def _get(self, name: str) -> tuple[Gallery, threading.RLock]:
        with self._lock:
            entry = self._open.get(name)
            if entry is None:
                if not self.exists(name):
                    raise UnknownCollectionError(f"unknown collection {name!r}")
                try:
                    gallery = Gallery.open(self._folder(name))
                except CorruptGalleryError as exc:
                    self._broken[name] = str(exc)
                    raise
                entry = (gallery, threading.RLock())
                self._open[name] = entry
                self._broken.pop(name, None)
            return entry

    def close(self) -> None:
        with self._lock:
            for gallery, lock in self._open.values():
                with lock:
                    gallery.close()
            self._open.clear()
