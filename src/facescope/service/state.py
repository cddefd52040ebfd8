"""The service's own database: API keys and the audit log.

``service.sqlite3`` lives in the data folder beside the galleries it guards
(WAL mode, one transaction per write). Keys are stored as SHA-256 digests of
their 256-bit random secrets, never in clear: a stolen database gives no usable key.

Access mode: a data folder with no key ever created is *open* (the server then
listens on loopback only). Creating a key makes it *keyed* for good: revoking
every key does not reopen it (requests are refused with "no active key" until
an admin creates a key), and only an explicit :meth:`ServiceState.reopen`
(``facescope keys open``) makes it open again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facescope.errors import FacescopeError

DB_NAME = "service.sqlite3"
KEY_PREFIX = "fsk"
ALL_COLLECTIONS = "*"

#: Scopes, weakest first; each includes the ones before it.
SCOPES = ("read", "enrol", "admin")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    scope TEXT NOT NULL,
    collections TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    key_id TEXT,
    client TEXT,
    action TEXT NOT NULL,
    collection TEXT,
    subject TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_collection ON audit(collection, id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, updated_at);
"""

#: ``settings.auth``: "keys" once a key was created, "open" after an explicit reopen.
_AUTH_KEYS, _AUTH_OPEN = "keys", "open"
#: Outcome of an audit entry written before its change (:meth:`ServiceState.begin_audit`).
PENDING = "pending"


class ApiKeyError(FacescopeError, ValueError):
    """A key operation was refused (unknown id, bad scope or collection list)."""


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored (without its secret).

    Attributes:
        id: public identifier, the middle part of ``fsk_<id>_<secret>``.
        name: who or what the key is for.
        scope: ``read``, ``enrol`` or ``admin``; each includes the weaker ones.
        collections: the collections it may touch, or ``("*",)`` for all.
    """

    id: str
    name: str
    scope: str
    collections: tuple[str, ...]
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str, collection: str | None) -> bool:
        """Whether this key may do something needing `scope` on `collection`."""
        if SCOPES.index(self.scope) < SCOPES.index(scope):
            return False
        if collection is None:
            return True
        return ALL_COLLECTIONS in self.collections or collection in self.collections

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "collections": list(self.collections),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One audited operation: who did what to which collection, and how it ended."""

    id: int
    at: float
    key_id: str | None
    client: str | None
    action: str
    collection: str | None
    subject: str | None
    outcome: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "key_id": self.key_id,
            "client": self.client,
            "action": self.action,
            "collection": self.collection,
            "subject": self.subject,
            "outcome": self.outcome,
            "detail": self.detail,
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key(name: str, scope: str, collections: Sequence[str]) -> tuple[str, str, tuple[str, ...]]:
    """Check a key request; return (key id, secret token, collections) for a new key."""
    if scope not in SCOPES:
        raise ApiKeyError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    names = tuple(dict.fromkeys(c.strip() for c in collections if c.strip()))
    if not names:
        raise ApiKeyError("a key needs at least one collection (or '*' for all)")
    if not name.strip():
        raise ApiKeyError("a key needs a name saying who it is for")
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}", names


def audit_query(
    table: str, mark: str, collection: str | None, limit: int, before: int | None
) -> tuple[str, list[Any]]:
    """The newest-first audit page query and its parameters (`mark`: the placeholder)."""
    query = (
        f"SELECT id, at, key_id, client, action, collection, subject, outcome, detail FROM {table}"
    )
    clauses: list[str] = []
    params: list[Any] = []
    if collection is not None:
        clauses.append(f"collection = {mark}")
        params.append(collection)
    if before is not None:
        clauses.append(f"id < {mark}")
        params.append(before)
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    query += f" ORDER BY id DESC LIMIT {mark}"
    params.append(max(1, min(int(limit), 1000)))
    return query, params


class KeyedState(ABC):
    """What both stores of the service's own data share: reading keys and auth mode.

    A subclass keeps the keys (:meth:`_load_keys`, which also sets `_auth_required`),
    records the open mode (:meth:`_store_open`) and the audit log (:meth:`audit`).
    """

    _auth_required: bool = False

    @abstractmethod
    def _load_keys(self) -> dict[str, tuple[str, ApiKey]]:
        """Implemented by each store."""

    @abstractmethod
    def _store_open(self) -> None:
        """Implemented by each store."""

    @abstractmethod
    def audit(
        self,
        action: str,
        *,
        key: ApiKey | None,
        client: str | None,
        collection: str | None,
        subject: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Implemented by each store."""

    def list_keys(self) -> list[ApiKey]:
        """Every key, active and revoked, oldest first."""
        return [record for _, record in self._load_keys().values()]

    def has_keys(self) -> bool:
        """Whether any active key exists."""
        return any(record.active for _, record in self._load_keys().values())

    def auth_required(self) -> bool:
        """Whether every API request must carry a key.

        True once any key was created, even after all of them were revoked (the
        service is then closed to everyone until a key is created), and False
        only for a data folder that never had a key or was explicitly reopened.
        """
        self._load_keys()
        return self._auth_required

    def reopen(self) -> None:
        """Make a keyed service open again (no key needed, loopback only).

        Refused while an active key exists: revoke them first, so that opening
        is always a deliberate act and never a side effect of a revocation.
        """
        if self.has_keys():
            active = sum(record.active for _, record in self._load_keys().values())
            raise ApiKeyError(
                f"{active} active API key(s) exist; revoke them before opening the service "
                "to unauthenticated loopback use"
            )
        self._store_open()

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key this token is, or None."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        found = self._load_keys().get(parts[1])
        if found is None:
            return None
        digest, record = found
        if not hmac.compare_digest(digest, _digest(token)) or not record.active:
            return None
        return record

    def begin_audit(
        self,
        action: str,
        *,
        key: ApiKey | None,
        client: str | None,
        collection: str | None,
        subject: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Write a :data:`PENDING` entry before a change is made; return its id.

        The audit log and the galleries are separate databases (a PostgreSQL
        collection is not even SQLite), and SQLite does not commit WAL-mode
        databases atomically together, so the entry cannot share the change's
        transaction. Writing it first means a process killed mid-change leaves
        a ``pending`` entry, never a change with no entry; ``finish_audit``
        records the outcome.
        """
        return self.audit(
            action,
            key=key,
            client=client,
            collection=collection,
            subject=subject,
            outcome=PENDING,
            detail=detail,
        )


class ServiceState(KeyedState):
    """API keys and the audit log in ``<data>/service.sqlite3`` (thread-safe)."""

    def __init__(self, data: Path) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self.path = data / DB_NAME
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._keys_version = -1
        self._keys: dict[str, tuple[str, ApiKey]] = {}
        self._auth_required = False
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(_SCHEMA)
        self._connection = connection
        self._keys_version = -1
        return connection

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, reopened after :meth:`close` (an app restarted in-process)."""
        return self._connection if self._connection is not None else self._connect()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ---- keys ------------------------------------------------------------------------

    def create_key(
        self, name: str, scope: str, collections: Sequence[str] = (ALL_COLLECTIONS,)
    ) -> tuple[str, ApiKey]:
        """Make a key; return its secret token (shown once, never stored) and record."""
        key_id, token, names = new_key(name, scope, collections)
        record = ApiKey(key_id, name.strip(), scope, names, time.time(), None)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO api_keys(id, name, digest, scope, collections, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key_id,
                        record.name,
                        _digest(token),
                        scope,
                        json.dumps(names),
                        record.created_at,
                    ),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO settings(key, value) VALUES ('auth', ?)", (_AUTH_KEYS,)
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return token, record

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key at once; requests with it are refused from the next one on."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            )
            if cursor.rowcount == 0:
                exists = self._db.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,))
                if exists.fetchone() is None:
                    raise ApiKeyError(f"no API key with id {key_id!r}")
                raise ApiKeyError(f"API key {key_id!r} is already revoked")
        return next(k for k in self.list_keys() if k.id == key_id)

    def _store_open(self) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO settings(key, value) VALUES ('auth', ?)", (_AUTH_OPEN,)
            )

    def _load_keys(self) -> dict[str, tuple[str, ApiKey]]:
        """Keys by id, re-read only when the database changed (another process, a revoke)."""
        with self._lock:
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            total = self._db.execute("SELECT total_changes()").fetchone()[0]
            stamp = hash((version, total))
            if stamp != self._keys_version:
                rows = self._db.execute(
                    "SELECT id, name, digest, scope, collections, created_at, revoked_at"
                    " FROM api_keys ORDER BY created_at"
                ).fetchall()
                self._keys = {
                    r[0]: (r[2], ApiKey(r[0], r[1], r[3], tuple(json.loads(r[4])), r[5], r[6]))
                    for r in rows
                }
                mode = self._db.execute("SELECT value FROM settings WHERE key = 'auth'").fetchone()
                # folders keyed before the mode was recorded: any key ever made closes them
                self._auth_required = (mode[0] == _AUTH_KEYS) if mode else bool(rows)
                self._keys_version = stamp
            return self._keys

    # ---- audit -----------------------------------------------------------------------

    def audit(
        self,
        action: str,
        *,
        key: ApiKey | None,
        client: str | None,
        collection: str | None,
        subject: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Append one entry to the audit log (committed before the response is sent); its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO audit(at, key_id, client, action, collection, subject, outcome,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    key.id if key else None,
                    client,
                    action,
                    collection,
                    subject,
                    outcome,
                    json.dumps(detail or {}),
                ),
            )
            return int(cursor.lastrowid or 0)

    def finish_audit(self, entry_id: int, outcome: str, detail: dict[str, Any]) -> None:
        """Record how the change audited by :meth:`begin_audit` ended."""
        with self._lock:
            self._db.execute(
                "UPDATE audit SET outcome = ?, detail = ? WHERE id = ?",
                (outcome, json.dumps(detail), entry_id),
            )

    def has_audit(self, collection: str) -> bool:
        """Whether the audit log has any entry for `collection` (also a deleted one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM audit WHERE collection = ? LIMIT 1", (collection,)
            ).fetchone()
        return row is not None

    def audit_entries(
        self, *, collection: str | None = None, limit: int = 100, before: int | None = None
    ) -> list[AuditEntry]:
        """Newest entries first, optionally for one collection, paged by id."""
        query, params = audit_query("audit", "?", collection, limit, before)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
            for r in rows
        ]

    # ---- the job board ---------------------------------------------------------------

    def job_create(self, job_id: str, owner: str, snapshot: dict[str, Any]) -> None:
        """Publish a new job, so that every process of this data folder can answer for it."""
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs(id, owner, snapshot, finished, updated_at)"
                " VALUES (?, ?, ?, 0, ?)",
                (job_id, owner, json.dumps(snapshot), time.time()),
            )

    def job_update(self, job_id: str, snapshot: dict[str, Any], finished: bool) -> bool:
        """Publish a job's state; False when the job was deleted meanwhile (by any process)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET snapshot = ?, finished = ?, updated_at = ? WHERE id = ?",
                (json.dumps(snapshot), int(finished), time.time(), job_id),
            )
            return cursor.rowcount > 0

    def job_get(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """(owner, last published state) of a job, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT owner, snapshot FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else (str(row[0]), json.loads(row[1]))

    def job_list(self, owner: str) -> list[dict[str, Any]]:
        """The published state of `owner`'s jobs, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT snapshot FROM jobs WHERE owner = ? ORDER BY updated_at DESC LIMIT 500",
                (owner,),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def job_drop(self, job_id: str) -> None:
        """Forget a job (its process stops it at its next progress check)."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def job_prune(self, keep_s: float) -> None:
        """Forget finished jobs older than `keep_s`, and unfinished ones silent for a day
        (their process was killed)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "DELETE FROM jobs WHERE (finished = 1 AND updated_at < ?) OR updated_at < ?",
                (now - keep_s, now - 86_400.0),
            )
