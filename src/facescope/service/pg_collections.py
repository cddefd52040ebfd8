"""Collections in PostgreSQL: one gallery schema per collection, a registry shared by all.

The ``default`` collection is the gallery in the base schema (``?schema=``, default
``facescope``: the one ``Gallery.open("postgresql://...")`` and ``facescope enroll -g
postgresql://...`` use); every other collection gets its own schema, named in the
registry table ``<base>_service.collections``. Every process reads the registry on
each use of a collection (one indexed row), so a collection created through one
replica is usable through every other at once, and one deleted through any replica
is refused by all from their next request: no process serves a stale gallery.

Galleries are opened once per process and shared by request threads; each gallery's
connection is used under its collection's lock, as with the embedded backend.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit, urlunsplit

from facescope.errors import CorruptGalleryError, GalleryError
from facescope.gallery import Gallery
from facescope.service.collections import (
    DEFAULT_COLLECTION,
    CollectionExistsError,
    UnknownCollectionError,
    check_name,
)
from facescope.service.pg_state import PostgresServiceState


class PostgresCollections:
    """The collections of one PostgreSQL database (the :class:`Collections` interface)."""

    def __init__(self, state: PostgresServiceState, model: str = "sface") -> None:
        self._state = state
        self._model = model
        self._lock = threading.Lock()
        #: name -> (schema it was opened from, gallery, its lock)
        self._open: dict[str, tuple[str, Gallery, threading.RLock]] = {}
        self._broken: dict[str, str] = {}

    def _uri(self, schema: str) -> str:
        parts = urlsplit(self._state.dsn)
        query = urlencode([*((k, v) for k, v in _query(parts.query)), ("schema", schema)])
        return urlunsplit(parts._replace(query=query))

    def _schema(self, name: str) -> str | None:
        """The schema of collection `name` now (None: no such collection)."""
        check_name(name)
        if name == DEFAULT_COLLECTION:
            return self._state.base
        row = self._state.execute(
            "SELECT schema_name FROM {s}.collections WHERE name = %s", (name,)
        ).fetchone()
        return None if row is None else str(row[0])

    def names(self) -> list[str]:
        """Existing collections, ``default`` first (it always exists)."""
        rows = self._state.execute("SELECT name FROM {s}.collections ORDER BY name").fetchall()
        return [DEFAULT_COLLECTION, *(str(r[0]) for r in rows)]

    def exists(self, name: str) -> bool:
        return self._schema(name) is not None

    def create(self, name: str, model: str | None = None) -> None:
        """Create an empty collection (its gallery schema) with `model` templates."""
        check_name(name)
        if name == DEFAULT_COLLECTION:
            raise CollectionExistsError(f"collection {name!r} exists already")
        schema = f"{self._state.base}_c{secrets.token_hex(6)}"
        chosen = model or self._model
        gallery = Gallery.open(self._uri(schema), model=chosen)  # creates the schema
        try:
            self._state.execute(
                "INSERT INTO {s}.collections(name, schema_name, model, created_at)"
                " VALUES (%s, %s, %s, extract(epoch from clock_timestamp()))"
                " ON CONFLICT (name) DO NOTHING",
                (name, schema, chosen),
            )
            if self._schema(name) != schema:  # another replica created it first
                raise CollectionExistsError(f"collection {name!r} exists already")
        except BaseException:
            gallery.close()
            self._state.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            raise
        with self._lock:
            self._open[name] = (schema, gallery, threading.RLock())

    def delete(self, name: str) -> None:
        """Erase a collection everywhere: its registry row, then its schema and templates."""
        if name == DEFAULT_COLLECTION:
            raise GalleryError("the default collection cannot be deleted; remove its subjects")
        check_name(name)
        row = self._state.execute(
            "DELETE FROM {s}.collections WHERE name = %s RETURNING schema_name", (name,)
        ).fetchone()
        if row is None:
            raise UnknownCollectionError(f"unknown collection {name!r}")
        with self._lock:
            entry = self._open.pop(name, None)
            self._broken.pop(name, None)
        if entry is not None:
            with entry[2]:
                entry[1].close()
        # other replicas refuse it from now on (the registry row is gone); their open
        # connections to the schema cannot block the drop of a schema they only read
        self._state.execute(f"DROP SCHEMA IF EXISTS {row[0]} CASCADE")

    @contextmanager
    def use(self, name: str) -> Iterator[Gallery]:
        """The collection's gallery, held under its lock for the `with` block."""
        _, gallery, lock = self._get(name)
        with lock:
            try:
                yield gallery
            except CorruptGalleryError as exc:
                self._broken[name] = str(exc)
                raise

    def broken(self) -> dict[str, str]:
        """Collections that cannot be used, with why (the readiness check)."""
        for name in self.names():
            try:
                self._get(name)
            except GalleryError as exc:
                self._broken[name] = str(exc)
        return dict(self._broken)

    def model(self, name: str) -> str:
        """The collection's recognition model, without waiting for its lock."""
        return self._get(name)[1].model

    def _get(self, name: str) -> tuple[str, Gallery, threading.RLock]:
        schema = self._schema(name)  # read on every use: deletions reach every replica
        if schema is None:
            with self._lock:
                stale = self._open.pop(name, None)
            if stale is not None:
                with stale[2]:
                    stale[1].close()
            raise UnknownCollectionError(f"unknown collection {name!r}")
        with self._lock:
            entry = self._open.get(name)
            if entry is not None and entry[0] != schema:  # deleted and re-created elsewhere
                self._open.pop(name)
                with entry[2]:
                    entry[1].close()
                entry = None
            if entry is None:
                try:
                    gallery = Gallery.open(self._uri(schema), model=self._model)
                except CorruptGalleryError as exc:
                    self._broken[name] = str(exc)
                    raise
                entry = (schema, gallery, threading.RLock())
                self._open[name] = entry
                self._broken.pop(name, None)
            return entry

    def close(self) -> None:
        with self._lock:
            for _, gallery, lock in self._open.values():
                with lock:
                    gallery.close()
            self._open.clear()


def _query(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return [(k, v) for k, v in parse_qsl(text) if k != "schema"]
