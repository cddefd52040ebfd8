"""SQLite store of subjects and templates: the gallery's source of truth.

WAL journal mode lets several processes read while one writes; each write is
one transaction, so an enrolment is either wholly stored or not at all, even
if the process is killed. The schema is versioned with ``PRAGMA user_version``
and migrated forward on open.

Search runs over a :class:`~facescope.gallery.vector_index.VectorIndex`, a cache
of the templates that is checked against the database row by row (id, subject,
photo fingerprint) on open and whenever another connection has committed, so it
can never disagree with what is stored. Large galleries keep that cache in a file
beside the database (``<db>.index``, encrypted like the templates) so that
opening them does not re-read every template; a missing, stale, truncated or
tampered cache file is simply rebuilt from the database.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.errors import (
    DuplicateTemplateError,
    GalleryError,
    UnknownSubjectError,
    UnknownTemplateError,
)
from facescope.gallery.crypto import KEY_ENV, SCHEME, GalleryKeyError, TemplateCipher, new_salt
from facescope.gallery.vector_index import VectorIndex, chunks, fingerprint

SCHEMA_VERSION = 2
DIM = 128
#: Galleries with at least this many templates keep their search cache on disk.
PERSIST_MIN = 20_000
_CACHE_AAD = b"facescope-index-cache"

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
    # the capture spectrum of each template (vis, nir, thermal); templates enrolled
    # before it was recorded were all made from colour photos
    2: """
    ALTER TABLE templates ADD COLUMN spectrum TEXT NOT NULL DEFAULT 'vis';
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
    #: capture spectrum (:class:`facescope.spectral.Spectrum` value: vis, nir, thermal);
    #: stored in clear, also in encrypted galleries
    spectrum: str = "vis"


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
            # one connection, used by one thread at a time: callers that share a
            # store across threads (the REST service) serialise access with a lock
            self._db = sqlite3.connect(
                path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            # erased templates are overwritten, not left in free pages (right to erasure)
            self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{path}: not a facescope gallery database ({exc})") from exc
        self._cipher = self._setup_encryption(secret)
        self._index: VectorIndex | None = None
        self._index_version = -1
        self._index_dirty = False
        self._counts: tuple[int, tuple[int, int]] | None = None

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
        self._counts = None  # our own commits do not change data_version
        self._db.execute("BEGIN IMMEDIATE")
        return _Commit(self._db)

    def close(self) -> None:
        """Save the search cache of a large gallery, then close the connection."""
        try:
            if self._index is not None and self._index_dirty:
                self._save_cache()
        finally:
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
                        " quality, source, content_hash, created_at, spectrum)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                            str(record.spectrum),
                        ),
                    )
                except sqlite3.IntegrityError:
                    raise DuplicateTemplateError(
                        f"{record.source}: this photo is already enrolled for {subject!r}"
                    ) from None
                ids.append(int(cursor.lastrowid or 0))
        if self._index is not None and ids:
            self._index.add(
                np.array(ids, np.int64),
                np.full(len(ids), subject_id, np.int64),
                np.array([fingerprint(r.content_hash) for r in records], np.int64),
                np.stack([np.asarray(r.embedding, np.float32) for r in records]),
            )
            self._index_dirty = True
        return ids

    def search(self, probes: npt.NDArray[np.float32], top_k: int) -> list[list[tuple[str, float]]]:
        """Per probe, the `top_k` subjects ranked by their best template's cosine score."""
        index = self._current_index()
        wanted = max(1, top_k)
        results = []
        for probe in np.asarray(probes, np.float32).reshape(-1, DIM):
            take = wanted * 16
            while True:
                hits = index.search(probe, take)
                ranked: dict[int, float] = {}
                for subject_id, score in zip(
                    hits.subject_ids.tolist(), hits.scores.tolist(), strict=True
                ):
                    ranked.setdefault(subject_id, score)
                    if len(ranked) == wanted:
                        break
                if len(ranked) == wanted or take >= len(index):
                    break
                take *= 4
            results.append(self._named(ranked))
        return results

    def _named(self, ranked: dict[int, float]) -> list[tuple[str, float]]:
        """Subject ids to names, in rank order (ids deleted meanwhile drop out)."""
        if not ranked:
            return []
        marks = ",".join("?" * len(ranked))
        names = dict(
            self._db.execute(
                f"SELECT id, name FROM subjects WHERE id IN ({marks})", list(ranked)
            ).fetchall()
        )
        return [(str(names[i]), float(s)) for i, s in ranked.items() if i in names]

    def _current_index(self) -> VectorIndex:
        """The search index, caught up with the database's last committed state."""
        # data_version changes when another connection commits: the cache follows
        # writes by other processes; our own writes update it directly
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._index is None:
            self._index = self._load_cache() or VectorIndex(DIM)
            self._catch_up(self._index)
        elif version != self._index_version:
            self._catch_up(self._index)
        self._index_version = version
        return self._index

    def _catch_up(self, index: VectorIndex) -> None:
        """Make `index` hold exactly the stored templates (one read snapshot)."""
        self._db.execute("BEGIN")
        try:
            self._sync(index)
        finally:
            self._db.execute("COMMIT")

    def _sync(self, index: VectorIndex) -> None:
        """Catch-up inside an open transaction: drop stale rows, add missing ones."""
        rows = self._db.execute("SELECT id, subject_id, content_hash FROM templates").fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        subject_ids = np.array([r[1] for r in rows], np.int64)
        prints = np.array([fingerprint(r[2]) for r in rows], np.int64)
        missing, stale = index.diff(ids, subject_ids, prints)
        index.remove(stale)
        index.add(*self._fetch(missing, bulk=len(missing) > len(rows) // 2))
        if len(missing) or len(stale):
            self._index_dirty = True

    def _fetch(
        self, ids: npt.NDArray[np.int64], bulk: bool
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]
    ]:
        """(ids, subject ids, fingerprints, vectors) of these templates, streamed."""
        select = "SELECT id, subject_id, embedding, content_hash FROM templates"
        if bulk:
            wanted = set(ids.tolist())
            cursors: Iterator[Any] = (
                r for r in self._db.execute(select + " ORDER BY id") if r[0] in wanted
            )
        else:
            cursors = itertools.chain.from_iterable(
                self._db.execute(f"{select} WHERE id IN ({','.join('?' * len(part))})", part)
                for part in chunks(ids)
            )
        out_ids = np.empty(len(ids), np.int64)
        out_subjects = np.empty(len(ids), np.int64)
        out_prints = np.empty(len(ids), np.int64)
        vectors = np.empty((len(ids), DIM), np.float32)
        count = 0
        for template_id, subject_id, blob, content_hash in cursors:
            out_ids[count], out_subjects[count] = template_id, subject_id
            out_prints[count] = fingerprint(content_hash)
            vectors[count] = self._open(blob, content_hash)
            count += 1
        return out_ids[:count], out_subjects[:count], out_prints[:count], vectors[:count]

    # ---- the search cache file ---------------------------------------------------------

    @property
    def cache_path(self) -> Path:
        """Where a large gallery keeps its search cache."""
        return self.path.with_name(self.path.name + ".index")

    def _load_cache(self) -> VectorIndex | None:
        """The cache file's index, or None if absent or unreadable (then it is rebuilt)."""
        try:
            data = self.cache_path.read_bytes()
        except OSError:
            return None
        try:
            if self._cipher is not None:
                data = self._cipher.decrypt(data, _CACHE_AAD)
            return VectorIndex.from_bytes(data, DIM)
        except (GalleryKeyError, ValueError, RuntimeError):
            return None

    def _save_cache(self) -> None:
        """Write the cache of a large gallery atomically, under the write lock.

        Holding the lock while catching up and writing means that a concurrent
        erasure either happens before (and is caught up) or after (and deletes
        the file). The cache is optional: failing to write it is not an error.
        """
        index = self._index
        if index is None:
            return
        if len(index) < PERSIST_MIN:
            self._drop_cache()
            return
        tmp: str | None = None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._sync(index)
            data = index.to_bytes()
            if self._cipher is not None:
                data = self._cipher.encrypt(data, _CACHE_AAD)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.cache_path.name)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.cache_path)
            tmp = None
            self._index_dirty = False
        except OSError:
            pass
        finally:
            self._db.execute("COMMIT")
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _drop_cache(self) -> None:
        """Delete the cache file (it may hold erased templates)."""
        self.cache_path.unlink(missing_ok=True)

    def count(self) -> tuple[int, int]:
        """(subjects, templates), cached until this or another connection writes.

        COUNT(*) walks the whole table (about 0.17 s at a million rows), and
        every identification needs the subject count for its threshold.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._counts is None or self._counts[0] != version:
            row = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM subjects), (SELECT COUNT(*) FROM templates)"
            ).fetchone()
            self._counts = (version, (int(row[0]), int(row[1])))
        return self._counts[1]

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
            template_ids = np.array(
                [
                    r[0]
                    for r in self._db.execute(
                        "SELECT id FROM templates WHERE subject_id = ?", (row[0],)
                    )
                ],
                np.int64,
            )
            self._db.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
        # erasure reaches every copy: the search index, the cache file and the WAL
        if self._index is not None:
            self._index.remove(template_ids)
            self._index_dirty = True
        self._drop_cache()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(template_ids)

    def remove_template(self, subject: str, template_id: int) -> int:
        """Delete one template of a subject; a subject left with none goes too.

        Returns how many templates the subject has left.
        """
        with self._transaction():
            row = self._db.execute(
                "SELECT t.subject_id FROM templates t JOIN subjects s ON s.id = t.subject_id"
                " WHERE s.name = ? AND t.id = ?",
                (subject, int(template_id)),
            ).fetchone()
            if row is None:
                raise UnknownTemplateError(f"subject {subject!r} has no template {template_id}")
            self._db.execute("DELETE FROM templates WHERE id = ?", (int(template_id),))
            left = int(
                self._db.execute(
                    "SELECT COUNT(*) FROM templates WHERE subject_id = ?", (row[0],)
                ).fetchone()[0]
            )
            if left == 0:
                self._db.execute("DELETE FROM subjects WHERE id = ?", (row[0],))
        if self._index is not None:
            self._index.remove(np.array([int(template_id)], np.int64))
            self._index_dirty = True
        self._drop_cache()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return left

    def subjects(self, limit: int | None = None, offset: int = 0) -> list[SubjectInfo]:
        """Subjects with their template counts, by name; a page of them with `limit`."""
        rows = self._db.execute(
            "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM subjects s"
            " LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.name"
            " LIMIT ? OFFSET ?",
            (-1 if limit is None else int(limit), max(0, int(offset))),
        ).fetchall()
        return [SubjectInfo(r[0], json.loads(r[1]), int(r[2]), float(r[3])) for r in rows]

    def subject(self, name: str) -> SubjectInfo | None:
        """One subject with its template count (an index lookup), or None."""
        row = self._db.execute(
            "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM subjects s"
            " LEFT JOIN templates t ON t.subject_id = s.id WHERE s.name = ? GROUP BY s.id",
            (name,),
        ).fetchone()
        return (
            None
            if row is None
            else SubjectInfo(row[0], json.loads(row[1]), int(row[2]), float(row[3]))
        )

    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]:
        """(template ids, subject names, (n, d) embeddings, records), optionally for one subject."""
        query = (
            "SELECT t.id, s.name, t.embedding, t.norm, t.quality, t.source, t.content_hash,"
            " t.spectrum FROM templates t JOIN subjects s ON s.id = t.subject_id"
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
            TemplateRecord(v, float(r[3]), float(r[4]), str(r[5]), str(r[6]), str(r[7]))
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
