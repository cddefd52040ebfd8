"""The service's own tables in PostgreSQL: API keys, the audit log, settings, rate limits.

What :class:`facescope.service.state.ServiceState` keeps in ``service.sqlite3`` for an
embedded data folder, kept here in the schema ``<base>_service`` of a PostgreSQL
database, so that every service process on every machine shares it:

* **keys**: a key created or revoked through one process is known to every other at
  its next request. Each process caches the keys and re-reads them when the
  ``keys_version`` counter (bumped in the same transaction as every key change)
  differs from the one it read: one indexed single-row read per request.
* **audit log**: one table, appended by every process (a ``bigserial`` id orders it).
* **rate limits**: a token bucket per caller in a table, spent by one
  ``INSERT ... ON CONFLICT DO UPDATE`` on the database's clock, so N replicas hold
  the limit together instead of N times over.

The schema is versioned like the gallery's (``service_meta.schema_version``) and
migrated under an advisory lock on open.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from facescope.errors import GalleryError
from facescope.service.state import (
    _AUTH_KEYS,
    _AUTH_OPEN,
    ALL_COLLECTIONS,
    ApiKey,
    ApiKeyError,
    AuditEntry,
    KeyedState,
    _digest,
    audit_query,
    new_key,
)

SCHEMA_VERSION = 2
_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE {s}.api_keys (
            id text PRIMARY KEY,
            name text NOT NULL,
            digest text NOT NULL,
            scope text NOT NULL,
            collections jsonb NOT NULL,
            created_at double precision NOT NULL,
            revoked_at double precision)""",
        """CREATE TABLE {s}.audit (
            id bigserial PRIMARY KEY,
            at double precision NOT NULL,
            key_id text,
            client text,
            action text NOT NULL,
            collection text,
            subject text,
            outcome text NOT NULL,
            detail jsonb NOT NULL DEFAULT '{{}}')""",
        "CREATE INDEX audit_collection ON {s}.audit(collection, id)",
        "CREATE TABLE {s}.settings (key text PRIMARY KEY, value text NOT NULL)",
        "INSERT INTO {s}.settings(key, value) VALUES ('keys_version', '0')",
        """CREATE TABLE {s}.rate (
            bucket text PRIMARY KEY,
            tokens double precision NOT NULL,
            stamp double precision NOT NULL,
            allowed boolean NOT NULL)""",
        """CREATE TABLE {s}.collections (
            name text PRIMARY KEY,
            schema_name text NOT NULL UNIQUE,
            model text NOT NULL,
            created_at double precision NOT NULL)""",
    ],
    # the job board: every replica answers for a video job taken by any of them
    2: [
        """CREATE TABLE {s}.jobs (
            id text PRIMARY KEY,
            owner text NOT NULL,
            snapshot jsonb NOT NULL,
            finished boolean NOT NULL DEFAULT false,
            updated_at double precision NOT NULL)""",
        "CREATE INDEX jobs_owner ON {s}.jobs(owner, updated_at)",
    ],
}
_NOW = "extract(epoch from clock_timestamp())"


def split_dsn(uri: str) -> tuple[str, str]:
    """(DSN without the ``schema`` query parameter, base schema name; default facescope)."""
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    base = query.pop("schema", "facescope")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", base):
        raise GalleryError(f"invalid schema name {base!r} (use [a-z0-9_], at most 41 long)")
    return urlunsplit(parts._replace(query=urlencode(query))), base


def connect(dsn: str) -> Any:
    """A psycopg connection in autocommit mode, with a clear error without the extra."""
    try:
        import psycopg
    except ImportError as exc:
        raise GalleryError(
            'serving from PostgreSQL needs psycopg: pip install "facescope[postgres]"'
        ) from exc
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        where = urlsplit(dsn)
        raise GalleryError(
            f"cannot connect to postgresql://{where.hostname}:{where.port or 5432}"
            f"{where.path}: {exc}"
        ) from exc


def drop_service(dsn: str, base: str) -> list[str]:
    """Erase everything a service keeps under base schema `base` of the database at `dsn`:
    its galleries (``base``, ``base_c*``) and ``base_service``; the schemas dropped."""
    db = connect(dsn)
    try:
        rows = db.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (base, base.replace("_", r"\_") + r"\_%"),
        ).fetchall()
        for (name,) in rows:
            db.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        db.close()
    return [str(name) for (name,) in rows]


class PostgresServiceState(KeyedState):
    """API keys, the audit log and rate limits in PostgreSQL (thread-safe).

    The same methods as :class:`facescope.service.state.ServiceState`, plus
    :meth:`take_rate` (the shared rate limit) and the collections registry used by
    :class:`facescope.service.pg_collections.PostgresCollections`.
    """

    def __init__(self, uri: str) -> None:
        self.dsn, self.base = split_dsn(uri)
        self.schema = f"{self.base}_service"
        where = urlsplit(self.dsn)
        self.path = f"postgresql://{where.hostname}:{where.port or 5432}{where.path}#{self.schema}"
        self._lock = threading.Lock()
        self._db: Any = connect(self.dsn)
        self._keys: dict[str, tuple[str, ApiKey]] = {}
        self._keys_version: str | None = None
        self._auth_required = False
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _sql(self, text: str) -> str:
        return text.format(s=self.schema)

    def _migrate(self) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            self._db.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            self._db.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {s}.service_meta (key text PRIMARY KEY, value text)"
                )
            )
            row = self._db.execute(
                self._sql("SELECT value FROM {s}.service_meta WHERE key = 'schema_version'")
            ).fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise GalleryError(
                    f"{self.path}: service schema v{version} is newer than this facescope "
                    f"(v{SCHEMA_VERSION}); upgrade facescope"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    self._db.execute(self._sql(statement))
                self._db.execute(
                    self._sql(
                        "INSERT INTO {s}.service_meta(key, value) VALUES ('schema_version', %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                    ),
                    (str(target),),
                )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``{s}`` is the service schema) under the lock; its cursor."""
        with self._lock:
            return self._db.execute(self._sql(sql), params)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- keys ------------------------------------------------------------------------

    def create_key(
        self, name: str, scope: str, collections: Sequence[str] = (ALL_COLLECTIONS,)
    ) -> tuple[str, ApiKey]:
        """Make a key; return its secret token (shown once, never stored) and record."""
        key_id, token, names = new_key(name, scope, collections)
        with self._lock, self._db.transaction():
            row = self._db.execute(
                self._sql(
                    "INSERT INTO {s}.api_keys(id, name, digest, scope, collections, created_at)"
                    f" VALUES (%s, %s, %s, %s, %s, {_NOW}) RETURNING created_at"
                ),
                (key_id, name.strip(), _digest(token), scope, json.dumps(names)),
            ).fetchone()
            self._db.execute(
                self._sql(
                    "INSERT INTO {s}.settings(key, value) VALUES ('auth', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                (_AUTH_KEYS,),
            )
            self._bump_keys()
        return token, ApiKey(key_id, name.strip(), scope, names, float(row[0]), None)

    def _bump_keys(self) -> None:
        self._db.execute(
            self._sql(
                "UPDATE {s}.settings SET value = (value::bigint + 1)::text"
                " WHERE key = 'keys_version'"
            )
        )

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key; every process refuses it from its next request on."""
        with self._lock, self._db.transaction():
            cursor = self._db.execute(
                self._sql(
                    f"UPDATE {{s}}.api_keys SET revoked_at = {_NOW}"
                    " WHERE id = %s AND revoked_at IS NULL"
                ),
                (key_id,),
            )
            if cursor.rowcount == 0:
                exists = self._db.execute(
                    self._sql("SELECT 1 FROM {s}.api_keys WHERE id = %s"), (key_id,)
                ).fetchone()
                if exists is None:
                    raise ApiKeyError(f"no API key with id {key_id!r}")
                raise ApiKeyError(f"API key {key_id!r} is already revoked")
            self._bump_keys()
        return next(k for k in self.list_keys() if k.id == key_id)

    def _store_open(self) -> None:
        with self._lock, self._db.transaction():
            self._db.execute(
                self._sql(
                    "INSERT INTO {s}.settings(key, value) VALUES ('auth', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                (_AUTH_OPEN,),
            )
            self._bump_keys()

    def _load_keys(self) -> dict[str, tuple[str, ApiKey]]:
        """Keys by id, re-read only when ``keys_version`` moved (any process's change)."""
        with self._lock:
            rows = self._db.execute(
                self._sql(
                    "SELECT key, value FROM {s}.settings WHERE key IN ('keys_version', 'auth')"
                )
            ).fetchall()
            values = dict(rows)
            version = values.get("keys_version")
            if version != self._keys_version:
                found = self._db.execute(
                    self._sql(
                        "SELECT id, name, digest, scope, collections, created_at, revoked_at"
                        " FROM {s}.api_keys ORDER BY created_at, id"
                    )
                ).fetchall()
                self._keys = {
                    r[0]: (r[2], ApiKey(r[0], r[1], r[3], tuple(r[4]), r[5], r[6])) for r in found
                }
                self._auth_required = values.get("auth") == _AUTH_KEYS
                self._keys_version = version
            return self._keys

    # ---- rate limits -----------------------------------------------------------------

    def take_rate(self, caller: str, per_minute: int) -> float:
        """Spend one request of `caller`'s shared bucket; 0 if allowed, else seconds to wait."""
        rate = per_minute / 60.0
        refill = f"LEAST(%(cap)s, r.tokens + ({_NOW} - r.stamp) * %(rate)s)"
        row = self.execute(
            "INSERT INTO {s}.rate AS r(bucket, tokens, stamp, allowed)"
            f" VALUES (%(bucket)s, %(cap)s - 1, {_NOW}, true)"
            " ON CONFLICT (bucket) DO UPDATE SET"
            f" tokens = CASE WHEN {refill} >= 1 THEN {refill} - 1 ELSE {refill} END,"
            f" stamp = {_NOW}, allowed = {refill} >= 1"
            " RETURNING tokens, allowed",
            {"bucket": caller, "cap": float(per_minute), "rate": rate},  # type: ignore[arg-type]
        ).fetchone()
        tokens, allowed = float(row[0]), bool(row[1])
        if allowed:
            return 0.0
        return max(1.0, float(int((1.0 - tokens) / rate + 0.999)))

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
        """Append one entry to the audit log (committed before the response); its id."""
        row = self.execute(
            "INSERT INTO {s}.audit(at, key_id, client, action, collection, subject, outcome,"
            f" detail) VALUES ({_NOW}, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                key.id if key else None,
                client,
                action,
                collection,
                subject,
                outcome,
                json.dumps(detail or {}),
            ),
        ).fetchone()
        return int(row[0])

    def finish_audit(self, entry_id: int, outcome: str, detail: dict[str, Any]) -> None:
        """Record how the change audited by :meth:`begin_audit` ended."""
        self.execute(
            "UPDATE {s}.audit SET outcome = %s, detail = %s WHERE id = %s",
            (outcome, json.dumps(detail), entry_id),
        )

    def has_audit(self, collection: str) -> bool:
        """Whether the audit log has any entry for `collection` (also a deleted one)."""
        row = self.execute(
            "SELECT 1 FROM {s}.audit WHERE collection = %s LIMIT 1", (collection,)
        ).fetchone()
        return row is not None

    def audit_entries(
        self, *, collection: str | None = None, limit: int = 100, before: int | None = None
    ) -> list[AuditEntry]:
        """Newest entries first, optionally for one collection, paged by id."""
        query, params = audit_query("{s}.audit", "%s", collection, limit, before)
        rows = self.execute(query, params).fetchall()
        return [
            AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], dict(r[8]))
            for r in rows
        ]

    # ---- the job board ---------------------------------------------------------------

    def job_create(self, job_id: str, owner: str, snapshot: dict[str, Any]) -> None:
        """Publish a new job, so that every replica can answer for it."""
        self.execute(
            "INSERT INTO {s}.jobs(id, owner, snapshot, finished, updated_at)"
            f" VALUES (%s, %s, %s, false, {_NOW})",
            (job_id, owner, json.dumps(snapshot)),
        )

    def job_update(self, job_id: str, snapshot: dict[str, Any], finished: bool) -> bool:
        """Publish a job's state; False when the job was deleted meanwhile (by any replica)."""
        cursor = self.execute(
            f"UPDATE {{s}}.jobs SET snapshot = %s, finished = %s, updated_at = {_NOW}"
            " WHERE id = %s",
            (json.dumps(snapshot), finished, job_id),
        )
        return bool(cursor.rowcount)

    def job_get(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """(owner, last published state) of a job, or None."""
        row = self.execute(
            "SELECT owner, snapshot FROM {s}.jobs WHERE id = %s", (job_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), dict(row[1]))

    def job_list(self, owner: str) -> list[dict[str, Any]]:
        """The published state of `owner`'s jobs, newest first."""
        rows = self.execute(
            "SELECT snapshot FROM {s}.jobs WHERE owner = %s ORDER BY updated_at DESC LIMIT 500",
            (owner,),
        ).fetchall()
        return [dict(row[0]) for row in rows]

    def job_drop(self, job_id: str) -> None:
        """Forget a job (its replica stops it at its next progress check)."""
        self.execute("DELETE FROM {s}.jobs WHERE id = %s", (job_id,))

    def job_prune(self, keep_s: float) -> None:
        """Forget finished jobs older than `keep_s`, and unfinished ones silent for a day."""
        self.execute(
            f"DELETE FROM {{s}}.jobs WHERE (finished AND updated_at < {_NOW} - %s)"
            f" OR updated_at < {_NOW} - 86400",
            (keep_s,),
        )
