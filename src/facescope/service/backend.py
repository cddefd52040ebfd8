"""Where a service keeps its data: a folder (embedded, the default) or a PostgreSQL database.

``facescope serve --data DIR`` keeps the galleries, API keys, audit log and rate limits
in files under DIR (SQLite), shared by the processes of one machine;
``--data postgresql://user@host/db[?schema=name]`` keeps all of them in that database,
shared by every process on every machine (:mod:`facescope.service.pg_state`,
:mod:`facescope.service.pg_collections`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facescope.service.collections import Collections
    from facescope.service.pg_collections import PostgresCollections
    from facescope.service.pg_state import PostgresServiceState
    from facescope.service.state import ServiceState

#: URI schemes of a database location (anything else is a folder).
DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database(data: str | os.PathLike[str]) -> bool:
    """Whether `data` names a PostgreSQL database rather than a folder."""
    return isinstance(data, str) and data.startswith(DATABASE_SCHEMES)


def data_location(data: str | os.PathLike[str]) -> Path | str:
    """`data` as the service keeps it: the URI of a database, else a folder path.

    A URI-looking location of another scheme is refused rather than taken for a folder
    named ``mysql:`` (say) that would silently hold a local gallery.
    """
    text = os.fspath(data)
    if text.startswith(DATABASE_SCHEMES):
        return text
    if "://" in text:
        raise ValueError(
            f"--data {text!r}: not a folder and not a PostgreSQL URI "
            "(postgresql://user@host/db[?schema=name])"
        )
    return Path(text)


def open_state(data: Path | str) -> ServiceState | PostgresServiceState:
    """The keys, audit log and rate limits of `data`."""
    if is_database(data):
        from facescope.service.pg_state import PostgresServiceState

        return PostgresServiceState(str(data))
    from facescope.service.state import ServiceState

    return ServiceState(Path(data))


def open_collections(data: Path | str, state: Any, model: str) -> Collections | PostgresCollections:
    """The collections of `data` (a database's registry lives with its `state`)."""
    if is_database(data):
        from facescope.service.pg_collections import PostgresCollections

        return PostgresCollections(state, model)
    from facescope.service.collections import Collections

    return Collections(Path(data), model)


def describe(data: Path | str) -> str:
    """`data` for a log line or a message: a database without its password."""
    if not is_database(data):
        return str(data)
    from urllib.parse import urlsplit

    parts = urlsplit(str(data))
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{user}{parts.hostname}{port}{parts.path}{query}"
