"""SQLite store of subjects and templates: the gallery's source of truth.

WAL journal mode lets several processes read while one writes; each write is
one transaction, so an enrolment is either wholly stored or not at all, even
if the process is killed. The schema is versioned with ``PRAGMA user_version``
and migrated forward on open.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import DuplicateTemplateError, GalleryError, UnknownSubjectError
from facescope.gallery.crypto import KEY_ENV, SCHEME, GalleryKeyError, TemplateCipher, new_salt
from facescope.match.ranking import best_per_subject

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE subjects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        embedding BLOB NOT NULL,
        norm REAL NOT NULL,
        quality REAL NOT NULL,
        source TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (subject_id, content_hash)
    );
    CREATE INDEX templates_subject ON templates(subject_id);
    """,
}


@dataclass(frozen=True)
class TemplateRecord:
    """One enrolled template, as stored."""

    embedding: npt.NDArray[np.float32]
    norm: float
    quality: float
    source: str
    content_hash: str


@dataclass(frozen=True)
class SubjectInfo:
    """A subject and how many templates it has."""

    name: str
    metadata: dict[str, Any]
    n_templates: int
    created_at: float


class SQLiteStore:
    """Subjects and templates in one SQLite file (WAL mode, foreign keys on)."""

    def __init__(self, path: Path, secret: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{path}: not a facescope gallery database ({exc})") from exc
        self._cipher = self._setup_encryption(secret)
        self._index: tuple[list[str], npt.NDArray[np.float32]] | None = None
        self._index_version = -1

    def _setup_encryption(self, secret: str | None) -> TemplateCipher | None:
        """Encrypt a new gallery when a secret is given; check the key of an existing one."""
        scheme = self.get_meta("encryption")
        is_new = self.get_meta("model") is None
        if scheme is None:
            if secret is None:
                return None
            if not is_new:
                raise GalleryKeyError(
                    f"{self.path}: this gallery was created without encryption; unset "
                    f"{KEY_ENV} to open it, or export and import it into a new, encrypted one"
                )
            salt = new_salt()
            cipher = TemplateCipher(secret, salt)
            self.set_meta(
                {
                    "encryption": SCHEME,
                    "kdf_salt": base64.b64encode(salt).decode("ascii"),
                    "key_check": cipher.key_check(),
                }
            )
            return cipher
        if secret is None:
            raise GalleryKeyError(f"{self.path}: this gallery is encrypted; set {KEY_ENV}")
        cipher = TemplateCipher(secret, base64.b64decode(self.get_meta("kdf_salt") or ""))
        cipher.verify_key_check(self.get_meta("key_check") or "")
        return cipher

    @property
    def encrypted(self) -> bool:
        """Whether templates are stored encrypted."""
        return self._cipher is not None

    def _seal(self, vector: npt.NDArray[np.float32], content_hash: str) -> bytes:
        raw = np.asarray(vector, "<f4").tobytes()
        if self._cipher is None:
            return raw
        return self._cipher.encrypt(raw, content_hash.encode("ascii"))

    def _open(self, blob: bytes, content_hash: str) -> npt.NDArray[np.float32]:
        raw = blob if self._cipher is None else self._cipher.decrypt(blob, content_hash.encode())
        return np.frombuffer(raw, dtype="<f4")

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: gallery schema v{version} is newer than this facescope "
                f"(v{SCHEMA_VERSION}); upgrade facescope"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # statement by statement: executescript would commit the open transaction
            with self._transaction():
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={target}")

    def _transaction(self) -> _Commit:
        self._db.execute("BEGIN IMMEDIATE")
        return _Commit(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get_meta(self, key: str) -> str | None:
        """A gallery-wide setting, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        """Store gallery-wide settings (insert or replace) in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items())
            )

    def add_templates(
        self,
        subject: str,
        records: Sequence[TemplateRecord],
        model: str,
        model_version: str,
        metadata: dict[str, Any] | None = None,
    ) -> list[int]:
        """Create the subject if needed and add its templates, all in one transaction.

        Raises:
            DuplicateTemplateError: a record's photo is already enrolled for this
                subject (nothing from this call is stored).
        """
        now = time.time()
        with self._transaction():
            row = self._db.execute("SELECT id FROM subjects WHERE name = ?", (subject,)).fetchone()
            if row is None:
                cursor = self._db.execute(
                    "INSERT INTO subjects(name, metadata, created_at) VALUES (?, ?, ?)",
                    (subject, json.dumps(metadata or {}), now),
                )
                subject_id = int(cursor.lastrowid or 0)
            else:
                subject_id = int(row[0])
                if metadata:
                    self._db.execute(
                        "UPDATE subjects SET metadata = ? WHERE id = ?",
                        (json.dumps(metadata), subject_id),
                    )
            ids = []
            for record in records:
                try:
                    cursor = self._db.execute(
                        "INSERT INTO templates(subject_id, model, model_version, embedding, norm,"
                        " quality, source, content_hash, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            subject_id,
                            model,
                            model_version,
                            self._seal(record.embedding, record.content_hash),
                            float(record.norm),
                            float(record.quality),
                            record.source,
                            record.content_hash,
                            now,
                        ),
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateTemplateError(
                        f"{record.source}: this photo is already enrolled for {subject!r}"
                    ) from None
                ids.append(int(cursor.lastrowid or 0))
        self._index = None
        return ids

    def search(self, probes: npt.NDArray[np.float32], top_k: int) -> list[list[tuple[str, float]]]:
        """Per probe, the `top_k` subjects ranked by their best template's cosine score.

        Exact search over an in-memory matrix, rebuilt from the database after
        every write, so it never disagrees with what is stored.
        """
        # data_version changes when another connection commits: the cache follows
        # writes by other processes as well as our own
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._index is None or version != self._index_version:
            self._index = self._load_index()
            self._index_version = version
        names, matrix = self._index
        if not names:
            return [[] for _ in range(len(probes))]
        return [best_per_subject(names, row, top_k) for row in probes @ matrix.T]

    def _load_index(self) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Names and one contiguous (n, 128) matrix, read straight from the rows."""
        rows = self._db.execute(
            "SELECT s.name, t.embedding, t.content_hash FROM templates t"
            " JOIN subjects s ON s.id = t.subject_id ORDER BY t.id"
        ).fetchall()
        matrix = np.empty((len(rows), 128), np.float32)
        for index, (_, blob, content_hash) in enumerate(rows):
            matrix[index] = self._open(blob, content_hash)
        return [str(r[0]) for r in rows], matrix

    def count(self) -> tuple[int, int]:
        """(subjects, templates)."""
        row = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM subjects), (SELECT COUNT(*) FROM templates)"
        ).fetchone()
        return int(row[0]), int(row[1])

    def has_content(self, subject: str, content_hash: str) -> bool:
        """Whether this subject already has a template from a photo with this hash."""
        row = self._db.execute(
            "SELECT 1 FROM templates t JOIN subjects s ON s.id = t.subject_id"
            " WHERE s.name = ? AND t.content_hash = ?",
            (subject, content_hash),
        ).fetchone()
        return row is not None

    def remove_subject(self, subject: str) -> int:
        """Delete a subject and every template of it; return how many templates went."""
        with self._transaction():
            row = self._db.execute("SELECT id FROM subjects WHERE name = ?", (subject,)).fetchone()
            if row is None:
                raise UnknownSubjectError(f"unknown subject {subject!r}")
            count = self._db.execute(
                "SELECT COUNT(*) FROM templates WHERE subject_id = ?", (row[0],)
            ).fetchone()[0]
            self._db.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
        self._index = None
        return int(count)

    def subjects(self) -> list[SubjectInfo]:
        """Every subject with its template count, by name."""
        rows = self._db.execute(
            "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM subjects s"
            " LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.name"
        ).fetchall()
        return [SubjectInfo(r[0], json.loads(r[1]), int(r[2]), float(r[3])) for r in rows]

    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]:
        """(template ids, subject names, (n, d) embeddings, records), optionally for one subject."""
        query = (
            "SELECT t.id, s.name, t.embedding, t.norm, t.quality, t.source, t.content_hash"
            " FROM templates t JOIN subjects s ON s.id = t.subject_id"
        )
        params: tuple[str, ...] = ()
        if subject is not None:
            query += " WHERE s.name = ?"
            params = (subject,)
        rows = self._db.execute(query + " ORDER BY t.id", params).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        names = [str(r[1]) for r in rows]
        vectors = [self._open(r[2], str(r[6])) for r in rows]
        matrix = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
        records = [
            TemplateRecord(v, float(r[3]), float(r[4]), str(r[5]), str(r[6]))
            for v, r in zip(vectors, rows, strict=True)
        ]
        return ids, names, matrix, records

    def integrity_check(self) -> str:
        """SQLite's own integrity check: "ok" when the file is sound."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


class _Commit:
    """Commit a transaction begun with BEGIN IMMEDIATE, or roll it back on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
