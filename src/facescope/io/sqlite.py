"""A SQLite transaction as a context manager, shared by the embedded stores."""

from __future__ import annotations

import sqlite3


class Transaction:
    """Commit a transaction begun by the caller (``BEGIN IMMEDIATE``) or roll it back on error.

    ``with Transaction(db):`` after ``db.execute("BEGIN IMMEDIATE")``: the block's
    writes are committed together, or none of them when it raises.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
