"""SQLite store of subjects and templates: the gallery's source of truth.

WAL journal mode lets several processes read while one writes; each write is
one transaction, so an enrolment is either wholly stored or not at all, even
if the process is killed. The schema is versioned with ``PRAGMA user_version``
and migrated forward on open. A new gallery file is built under a temporary
name and linked into place whole, so a gallery file of 0 bytes is never a new
gallery but a truncated one, and is refused.

Search runs over a :class:`~facescope.gallery.vector_index.VectorIndex`, a cache
of the templates that is checked against the database row by row (id, subject,
photo fingerprint) on open and whenever another connection has committed, so it
can never disagree with what is stored. Large galleries keep that cache in a file
beside the database (``<db>.index``, encrypted like the templates) so that
opening them does not re-read every template. That file carries an HMAC-SHA256
of its content under a random per-gallery key kept in the database, so vectors
changed in it are detected too; a missing, stale, truncated, foreign or
tampered cache file is simply rebuilt from the database.

Every row read is checked: a template whose embedding is not the gallery model's
length (128; 512 for arcface) of finite values of unit norm (NaN, zeros, wrong
length written with SQL), or whose ciphertext does not authenticate with its
subject's name and its row id, raises
:class:`~facescope.errors.CorruptGalleryError` naming the file and the template
instead of ranking garbage or the wrong person. SQLite's own errors on a damaged
file become CorruptGalleryError too, and a lock held too long by another process
GalleryBusyError: never a raw ``sqlite3`` traceback.

Erasure reaches every copy: the row (``secure_delete`` overwrites it), the
search cache and the write-ahead log, which a ``wal_checkpoint(TRUNCATE)``
empties. While another connection holds an older read snapshot the log cannot
be emptied; the erasure is then recorded as pending (:attr:`SQLiteStore.erasure_pending`,
and a ``meta`` flag other processes see) and finished by a later operation,
:meth:`SQLiteStore.finish_erasure` or :meth:`SQLiteStore.close`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import os
import secrets
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from facescope.errors import (
    CorruptGalleryError,
    DuplicateTemplateError,
    GalleryBusyError,
    GalleryError,
    InvalidEmbeddingError,
    UnknownSubjectError,
    UnknownTemplateError,
)
from facescope.gallery.crypto import (
    KEY_ENV,
    SCHEME,
    GalleryKeyError,
    TemplateAuthenticationError,
    TemplateCipher,
    new_salt,
)
from facescope.gallery.store import (
    NORM_TOLERANCE,
    SubjectInfo,
    TemplateRecord,
    check_embedding,
    dim_for,
    name_key,
    vector_problem,
)
from facescope.gallery.vector_index import VectorIndex, chunks, fingerprint
from facescope.io.sqlite import Transaction

SCHEMA_VERSION = 4
#: Galleries with at least this many templates keep their search cache on disk.
PERSIST_MIN = 20_000
#: Seconds an operation waits for another process's lock before GalleryBusyError.
BUSY_TIMEOUT_S = 30.0
_CACHE_AAD = b"facescope-index-cache"
#: The cache file: this magic, the HMAC-SHA256 of everything after it, the index.
_CACHE_MAGIC = b"FSCACHE2\n"
_MAC_BYTES = 32
#: meta keys: the cache's HMAC key; set while an erasure may still have copies in the WAL
_CACHE_KEY = "cache_mac_key"
_ERASURE_KEY = "erasure_pending"
#: Associated data of template ciphertexts, version 2 (schema v3 on): see _template_aad.
_AAD_V2 = b"facescope-template/2\x00"
_RESTORE = (
    "restore it from a backup, or from an export with `facescope gallery import` into a new gallery"
)
#: SQLite primary result codes that are not damage.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 5, 6, 8
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 13, 14, 26

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
    # no schema change: encrypted templates are re-sealed with associated data v2
    # (subject name, template id, content hash) instead of the content hash alone,
    # by SQLiteStore._reseal, in the same transaction
    3: "",
    # each subject name's key (store.name_key: case and whitespace folded), indexed, so
    # that "Obama" next to "obama" is found by an index lookup: _add_name_keys adds the
    # column (when missing), its index, and the keys of the subjects already there
    4: "",
}

P = ParamSpec("P")
R = TypeVar("R")


def _template_aad(subject: str, template_id: int, content_hash: str) -> bytes:
    """Associated data v2 of a template ciphertext: what the template stands for.

    The subject's *name*, not its id: a search names people by ``subjects.name``,
    and swapping ids between two subject rows (or renaming one) would otherwise
    re-label every template without touching a ciphertext. The template id pins
    the ciphertext to its row, the content hash to its photo. Length prefixes
    keep the encoding unambiguous; the version tag lets a later scheme coexist.
    """
    name = subject.encode("utf-8")
    return (
        _AAD_V2
        + struct.pack(">qI", int(template_id), len(name))
        + name
        + content_hash.encode("utf-8")
    )


def _guarded(
    method: Callable[Concatenate[SQLiteStore, P], R],
) -> Callable[Concatenate[SQLiteStore, P], R]:
    """A store operation: first retry a pending erasure, and turn SQLite's errors into ours.

    Every sqlite3.DatabaseError becomes a GalleryError that names the file and
    says what to do (:meth:`SQLiteStore._database_error`); an open transaction is
    rolled back so that the connection stays usable.
    """

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            if self._erasure_pending and not self._db.in_transaction:
                # best effort: the operation asked for must not fail for it
                with contextlib.suppress(sqlite3.DatabaseError, GalleryError):
                    self._checkpoint(0.0)
            return method(self, *args, **kwargs)
        except sqlite3.ProgrammingError:
            raise  # misuse (a closed store), not the file's fault
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise self._database_error(exc) from exc

    return wrapper


class SQLiteStore:
    """Subjects and templates in one SQLite file (WAL mode, foreign keys on)."""

    def __init__(self, path: Path, secret: str | None = None) -> None:
        self.path = path
        self._cipher: TemplateCipher | None = None
        self._index: VectorIndex | None = None
        self._index_version = -1
        self._index_dirty = False
        self._counts: tuple[int, tuple[int, int]] | None = None
        self._erasure_pending = False
        self._dim: int | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._create_or_check_file()
            # one connection, used by one thread at a time: callers that share a
            # store across threads (the REST service) serialise access with a lock
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._database_error(exc) from exc
        try:
            _configure(self._db)
            self._migrate(self._db, last=2)
            self._cipher = self._setup_encryption(secret)
            self._migrate(self._db, last=SCHEMA_VERSION)  # v3 re-seals with the key
            self._erasure_pending = self._meta(_ERASURE_KEY) is not None
        except sqlite3.Error as exc:
            self._db.close()
            raise self._database_error(exc) from exc
        except BaseException:
            self._db.close()
            raise

    # ---- opening -----------------------------------------------------------------------

    def _create_or_check_file(self) -> None:
        """Create a new gallery file whole, or refuse an existing one truncated to nothing.

        SQLite creates a database file empty and writes its first page later, so
        an empty file could be a gallery being created or one truncated by a
        crash, a full disk or a copy gone wrong, which must not silently become
        a new, empty gallery. New galleries are therefore built under a temporary
        name and hard-linked into place complete: an empty gallery file is always
        damage.
        """
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._create_file()
            return
        if size == 0:
            raise CorruptGalleryError(
                f"{self.path}: the gallery file is empty (0 bytes): it was truncated; restore "
                "it from a backup or an export, or delete the file to start a new gallery",
                self.path,
            )

    def _create_file(self) -> None:
        """Build an empty gallery (schema, WAL mode) and link it to :attr:`path`."""
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.new")
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                _configure(db)
                self._migrate(db, last=SCHEMA_VERSION)  # no templates: no key needed
            finally:
                db.close()  # the last connection: checkpoints and removes its WAL
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            except OSError:  # a file system without hard links
                if not self.path.exists():
                    os.replace(tmp, self.path)
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

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

    def _migrate(self, db: sqlite3.Connection, last: int) -> None:
        """Bring the schema of `db` up to version `last`, one transaction per version."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: gallery schema v{version} is newer than this facescope "
                f"(v{SCHEMA_VERSION}); upgrade facescope"
            )
        for target in range(version + 1, last + 1):
            db.execute("BEGIN IMMEDIATE")
            try:
                # another process may have migrated while we waited for the lock
                if int(db.execute("PRAGMA user_version").fetchone()[0]) < target:
                    # statement by statement: executescript would commit the transaction
                    for statement in _MIGRATIONS[target].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    if target == 3:
                        self._reseal(db)
                    if target == 4:
                        _add_name_keys(db)
                    db.execute(f"PRAGMA user_version={target}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _reseal(self, db: sqlite3.Connection) -> None:
        """Schema v3: re-encrypt every template with associated data v2 (see _template_aad).

        Before, a ciphertext was bound to its photo's content hash only, so a row
        moved to another subject still decrypted. A row that does not authenticate
        with the old associated data either is left as it is: it fails with
        TemplateAuthenticationError when read, naming the template, which can then
        be removed, instead of making the whole gallery impossible to open.
        """
        cipher = self._cipher
        if cipher is None:
            return
        last = 0
        while True:
            rows = db.execute(
                "SELECT t.id, s.name, t.embedding, t.content_hash FROM templates t"
                " LEFT JOIN subjects s ON s.id = t.subject_id WHERE t.id > ?"
                " ORDER BY t.id LIMIT 1000",
                (last,),
            ).fetchall()
            if not rows:
                return
            for template_id, name, blob, content_hash in rows:
                last = int(template_id)
                if name is None or not isinstance(blob, bytes):
                    continue
                try:
                    raw = cipher.decrypt(blob, str(content_hash).encode("utf-8"))
                except GalleryKeyError:
                    continue
                db.execute(
                    "UPDATE templates SET embedding = ? WHERE id = ?",
                    (cipher.encrypt(raw, _template_aad(name, last, str(content_hash))), last),
                )

    # ---- errors ------------------------------------------------------------------------

    def _database_error(self, exc: sqlite3.Error) -> GalleryError:
        """The gallery error an sqlite3 error stands for, naming the file and what to do."""
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else int(code) & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return GalleryBusyError(
                f"{self.path}: the gallery is busy: another process held its lock for over "
                f"{BUSY_TIMEOUT_S:g} s; try again",
                self.path,
            )
        if primary == _SQLITE_READONLY:
            return GalleryError(
                f"{self.path}: cannot write the gallery: the file or its folder is read-only "
                f"({exc})"
            )
        if primary == _SQLITE_FULL:
            return GalleryError(f"{self.path}: cannot write the gallery: the disk is full")
        if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
            return GalleryError(f"{self.path}: cannot read or write the gallery file ({exc})")
        if primary == _SQLITE_NOTADB:
            return CorruptGalleryError(
                f"{self.path}: not a facescope gallery database, or one whose header is "
                f"damaged ({exc}); {_RESTORE}",
                self.path,
            )
        # SQLITE_CORRUPT ("database disk image is malformed"), undecodable text
        # ("Could not decode to UTF-8"), missing tables...: the file is damaged
        return CorruptGalleryError(
            f"{self.path}: the gallery file is damaged ({exc}); {_RESTORE}", self.path
        )

    def _bad_row(self, template_id: int, subject: str | None, problem: str) -> CorruptGalleryError:
        """CorruptGalleryError for one template row whose content is impossible."""
        owner = "no subject" if subject is None else f"subject {subject!r}"
        remove = "remove it (Gallery.remove_template, or DELETE it through the REST API; " + (
            "`facescope gallery remove` removes the whole subject)"
            if subject is None
            else f"`facescope gallery remove {subject!r}` removes the whole subject)"
        )
        return CorruptGalleryError(
            f"{self.path}: template {template_id} of {owner} {problem}; {remove}, or "
            "restore the gallery from a backup or an export",
            self.path,
            template_id=int(template_id),
        )

    # ---- templates in and out ----------------------------------------------------------

    @property
    def encrypted(self) -> bool:
        """Whether templates are stored encrypted."""
        return self._cipher is not None

    def _seal(
        self, vector: npt.NDArray[np.float32], subject: str, template_id: int, content_hash: str
    ) -> bytes:
        raw = np.asarray(vector, "<f4").tobytes()
        if self._cipher is None:
            return raw
        return self._cipher.encrypt(raw, _template_aad(subject, template_id, content_hash))

    def _open(
        self, blob: object, template_id: int, subject: str | None, content_hash: object
    ) -> npt.NDArray[np.float32]:
        """A stored embedding's raw values (decrypted, authenticated, of the right length).

        The values themselves are checked by the caller, for many rows at once
        (:meth:`_check_vectors`).
        """
        if not isinstance(blob, bytes):
            raise self._bad_row(template_id, subject, "has no embedding blob")
        raw = blob
        if self._cipher is not None:
            try:
                raw = self._cipher.decrypt(
                    blob, _template_aad(subject or "", template_id, str(content_hash))
                )
            except GalleryKeyError:
                error = self._bad_row(
                    template_id,
                    subject,
                    "failed authentication: the row was moved or altered outside facescope",
                )
                raise TemplateAuthenticationError(
                    str(error), self.path, template_id=int(template_id)
                ) from None
        if len(raw) != self.dim * 4:
            raise self._bad_row(
                template_id,
                subject,
                f"is damaged: its embedding has {len(raw)} bytes, not {self.dim * 4}",
            )
        return np.frombuffer(raw, dtype="<f4")

    def _check_vectors(
        self,
        ids: Sequence[int] | npt.NDArray[np.int64],
        subjects: Sequence[str | None],
        vectors: npt.NDArray[np.float32],
    ) -> None:
        """CorruptGalleryError for the first row that is not a finite unit vector."""
        if len(vectors) == 0:
            return
        with np.errstate(all="ignore"):
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        bad = np.flatnonzero(~(np.abs(norms - 1.0) <= NORM_TOLERANCE))  # NaN norms too
        if len(bad):
            row = int(bad[0])
            problem = vector_problem(vectors[row], self.dim) or "is not a unit vector"
            raise self._bad_row(
                int(ids[row]), subjects[row], f"is damaged: its embedding {problem}"
            )

    # ---- meta --------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Template length: 128 (sface, dlib, or no model recorded yet), 512 (arcface)."""
        if self._dim is None:
            model = self._meta("model")
            if model is None:
                return dim_for(None)  # not cached: the model is recorded at first open
            self._dim = dim_for(model)
        return self._dim

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> Transaction:
        self._counts = None  # our own commits do not change data_version
        self._db.execute("BEGIN IMMEDIATE")
        return Transaction(self._db)

    def close(self) -> None:
        """Save the search cache of a large gallery, retry a pending erasure, then close.

        Neither step can fail the close: the cache is optional, and a pending
        erasure stays recorded in the database for the next opener to finish.
        """
        try:
            if self._index is not None and self._index_dirty:
                with contextlib.suppress(sqlite3.Error, GalleryError):
                    self._save_cache()
            if self._erasure_pending:
                with contextlib.suppress(sqlite3.Error, GalleryError):
                    self._checkpoint(0.0)
        finally:
            self._db.close()

    @_guarded
    def get_meta(self, key: str) -> str | None:
        """A gallery-wide setting, or None."""
        return self._meta(key)

    @_guarded
    def set_meta(self, values: dict[str, str]) -> None:
        """Store gallery-wide settings (insert or replace) in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items())
            )

    @_guarded
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
            InvalidEmbeddingError: a record's embedding is not `model`'s length
                (128; 512 for arcface) of finite values of unit norm (nothing is stored).
        """
        dim = dim_for(model)
        if dim != self.dim:
            raise InvalidEmbeddingError(
                f"{self.path}: this gallery holds {self.dim}-d templates "
                f"({self._meta('model') or 'no model recorded'}), not {dim}-d ones of {model}"
            )
        vectors = [check_embedding(r.embedding, r.source, dim) for r in records]
        now = time.time()
        with self._transaction():
            row = self._db.execute("SELECT id FROM subjects WHERE name = ?", (subject,)).fetchone()
            if row is None:
                cursor = self._db.execute(
                    "INSERT INTO subjects(name, metadata, created_at, name_key)"
                    " VALUES (?, ?, ?, ?)",
                    (subject, json.dumps(metadata or {}), now, name_key(subject)),
                )
                subject_id = int(cursor.lastrowid or 0)
            else:
                subject_id = int(row[0])
                if metadata:
                    self._db.execute(
                        "UPDATE subjects SET metadata = ? WHERE id = ?",
                        (json.dumps(metadata), subject_id),
                    )
            # the ids are chosen here (as SQLite would: the largest plus one; the
            # write lock is held) because an encrypted template is sealed with its id
            first = int(
                self._db.execute("SELECT COALESCE(MAX(id), 0) FROM templates").fetchone()[0]
            )
            ids = []
            for template_id, (record, vector) in enumerate(
                zip(records, vectors, strict=True), first + 1
            ):
                try:
                    self._db.execute(
                        "INSERT INTO templates(id, subject_id, model, model_version, embedding,"
                        " norm, quality, source, content_hash, created_at, spectrum)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            template_id,
                            subject_id,
                            model,
                            model_version,
                            self._seal(vector, subject, template_id, record.content_hash),
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
                ids.append(template_id)
        if self._index is not None and ids:
            self._index.add(
                np.array(ids, np.int64),
                np.full(len(ids), subject_id, np.int64),
                np.array([fingerprint(r.content_hash) for r in records], np.int64),
                np.stack(vectors),
            )
            self._index_dirty = True
        return ids

    # ---- search ------------------------------------------------------------------------

    @_guarded
    def search(self, probes: npt.NDArray[np.float32], top_k: int) -> list[list[tuple[str, float]]]:
        """Per probe, the `top_k` subjects ranked by their best template's cosine score."""
        index = self._current_index()
        wanted = max(1, top_k)
        results = []
        for probe in np.asarray(probes, np.float32).reshape(-1, self.dim):
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
            index = self._load_cache()
            if index is not None:
                try:
                    self._catch_up(index)
                except (ValueError, IndexError, RuntimeError):
                    index = None  # a cache that cannot be reconciled: rebuild it
            if index is None:
                index = VectorIndex(self.dim)
                self._catch_up(index)
            self._index = index
        elif version != self._index_version:
            self._catch_up(self._index)
            # another process may have erased with a reader in the way: help finish it
            self._erasure_pending = self._erasure_pending or self._meta(_ERASURE_KEY) is not None
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
        prints = np.array([fingerprint(str(r[2])) for r in rows], np.int64)
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
        """(ids, subject ids, fingerprints, vectors) of these templates, streamed and checked."""
        select = (
            "SELECT t.id, t.subject_id, t.embedding, t.content_hash, s.name FROM templates t"
            " LEFT JOIN subjects s ON s.id = t.subject_id"
        )
        if bulk:
            wanted = set(ids.tolist())
            cursors: Iterator[Any] = (
                r for r in self._db.execute(select + " ORDER BY t.id") if r[0] in wanted
            )
        else:
            cursors = itertools.chain.from_iterable(
                self._db.execute(f"{select} WHERE t.id IN ({','.join('?' * len(part))})", part)
                for part in chunks(ids)
            )
        out_ids = np.empty(len(ids), np.int64)
        out_subjects = np.empty(len(ids), np.int64)
        out_prints = np.empty(len(ids), np.int64)
        vectors = np.empty((len(ids), self.dim), np.float32)
        names: list[str | None] = []
        count = 0
        for template_id, subject_id, blob, content_hash, name in cursors:
            out_ids[count], out_subjects[count] = template_id, subject_id
            out_prints[count] = fingerprint(str(content_hash))
            vectors[count] = self._open(blob, template_id, name, content_hash)
            names.append(name)
            count += 1
        self._check_vectors(out_ids[:count], names, vectors[:count])
        return out_ids[:count], out_subjects[:count], out_prints[:count], vectors[:count]

    # ---- the search cache file ---------------------------------------------------------

    @property
    def cache_path(self) -> Path:
        """Where a large gallery keeps its search cache."""
        return self.path.with_name(self.path.name + ".index")

    def _cache_key(self) -> bytes | None:
        """The HMAC key of this gallery's cache file, or None before the first save."""
        stored = self._meta(_CACHE_KEY)
        return None if stored is None else base64.b64decode(stored)

    def _load_cache(self) -> VectorIndex | None:
        """The cache file's index, or None if absent, unreadable or not ours (then rebuilt).

        The file must carry the HMAC of its content under this gallery's key, so
        a cache whose vectors were changed (or one of another gallery) is never
        searched. Whatever else is wrong with it (truncation, garbage, an old
        format) only means a rebuild from the database: never an error.
        """
        try:
            data = self.cache_path.read_bytes()
        except OSError:
            return None
        key = self._cache_key()
        if key is None or not data.startswith(_CACHE_MAGIC):
            return None
        start = len(_CACHE_MAGIC) + _MAC_BYTES
        tag = data[len(_CACHE_MAGIC) : start]
        body = memoryview(data)[start:]
        if not hmac.compare_digest(tag, hmac.new(key, body, hashlib.sha256).digest()):
            return None
        try:
            payload = bytes(body)
            del data, body
            if self._cipher is not None:
                payload = self._cipher.decrypt(payload, _CACHE_AAD)
            return VectorIndex.from_bytes(payload, self.dim)
        except Exception:  # any damage (json, struct, faiss, memory...): rebuild
            return None

    def _save_cache(self) -> None:
        """Write the cache of a large gallery atomically, under the write lock.

        Holding the lock while catching up and writing means that a concurrent
        erasure either happens before (and is caught up) or after (and deletes
        the file). The cache is optional: failing to write it is not an error.
        The HMAC key is created in the same transaction the first time.
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
            key = self._cache_key()
            if key is None:
                key = secrets.token_bytes(32)
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    (_CACHE_KEY, base64.b64encode(key).decode("ascii")),
                )
            data = index.to_bytes()
            if self._cipher is not None:
                data = self._cipher.encrypt(data, _CACHE_AAD)
            tag = hmac.new(key, data, hashlib.sha256).digest()
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.cache_path.name)
            with os.fdopen(fd, "wb") as out:
                out.write(_CACHE_MAGIC + tag)
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

    # ---- reading -----------------------------------------------------------------------

    @_guarded
    def count(self) -> tuple[int, int]:
        """(subjects, templates), cached until this or another connection writes.

        COUNT(*) walks the whole table (slow on a large gallery), and
        every identification needs the subject count for its threshold.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._counts is None or self._counts[0] != version:
            row = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM subjects), (SELECT COUNT(*) FROM templates)"
            ).fetchone()
            self._counts = (version, (int(row[0]), int(row[1])))
        return self._counts[1]

    @_guarded
    def has_content(self, subject: str, content_hash: str) -> bool:
        """Whether this subject already has a template from a photo with this hash."""
        row = self._db.execute(
            "SELECT 1 FROM templates t JOIN subjects s ON s.id = t.subject_id"
            " WHERE s.name = ? AND t.content_hash = ?",
            (subject, content_hash),
        ).fetchone()
        return row is not None

    # ---- erasure -----------------------------------------------------------------------

    @_guarded
    def remove_subject(self, subject: str) -> int:
        """Delete a subject and every template of it; return how many templates went.

        The erasure is complete on return unless another connection holds an
        older read snapshot: then :attr:`erasure_pending` is True until a later
        operation, :meth:`finish_erasure` or :meth:`close` completes it.
        """
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
        self._erased(template_ids)
        return len(template_ids)

    @_guarded
    def remove_template(self, subject: str, template_id: int) -> int:
        """Delete one template of a subject; a subject left with none goes too.

        Returns how many templates the subject has left. Erasure as in
        :meth:`remove_subject`.
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
        self._erased(np.array([int(template_id)], np.int64))
        return left

    def _erased(self, template_ids: npt.NDArray[np.int64]) -> None:
        """After a delete: remove every other copy (search index, cache file, WAL)."""
        if self._index is not None:
            self._index.remove(template_ids)
            self._index_dirty = True
        self._drop_cache()
        self._erasure_pending = True
        self._checkpoint(0.0)

    @property
    def erasure_pending(self) -> bool:
        """Whether erased templates may still have copies in the WAL or the database file.

        True after :meth:`remove_subject` or :meth:`remove_template` while
        another connection held a read snapshot from before the delete (SQLite
        can then neither copy the delete into the database file nor empty the
        write-ahead log), and for a gallery opened with such an erasure recorded
        by another process. Any later operation retries; see :meth:`finish_erasure`.
        """
        return self._erasure_pending

    @_guarded
    def finish_erasure(self, timeout_s: float = 0.0) -> bool:
        """Complete a pending erasure, waiting up to `timeout_s` for readers; True when done.

        True at once when nothing is pending. With readers still holding old
        snapshots after `timeout_s`, returns False and the erasure stays pending.
        """
        if self._erasure_pending:
            self._checkpoint(timeout_s)
        return not self._erasure_pending

    def _checkpoint(self, timeout_s: float) -> bool:
        """Copy the WAL into the database file and truncate it to 0 bytes; True when done.

        ``wal_checkpoint(TRUNCATE)`` waits, through the busy handler, for readers
        of older snapshots: for `timeout_s` here (not the 30 s of other
        operations). Its result row is (busy, log frames, checkpointed frames):
        busy means the log still holds pages from before the erasure, which is
        then recorded as pending in ``meta`` (so other processes and later opens
        finish it); success clears that record.
        """
        self._db.execute(f"PRAGMA busy_timeout = {max(0, round(timeout_s * 1000))}")
        try:
            busy = int(self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT_S * 1000)}")
        if busy:
            self._erasure_pending = True
            if self._meta(_ERASURE_KEY) is None:
                with self._transaction():
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                        (_ERASURE_KEY, str(time.time())),
                    )
            return False
        self._erasure_pending = False
        if self._meta(_ERASURE_KEY) is not None:
            with self._transaction():
                self._db.execute("DELETE FROM meta WHERE key = ?", (_ERASURE_KEY,))
            # that commit logged only the meta page; leave the WAL empty if we can
            self._db.execute("PRAGMA busy_timeout = 0")
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT_S * 1000)}")
        return True

    # ---- listing -----------------------------------------------------------------------

    @_guarded
    def subjects(self, limit: int | None = None, offset: int = 0) -> list[SubjectInfo]:
        """Subjects with their template counts, by name; a page of them with `limit`."""
        rows = self._db.execute(
            "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM subjects s"
            " LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.name"
            " LIMIT ? OFFSET ?",
            (-1 if limit is None else int(limit), max(0, int(offset))),
        ).fetchall()
        return [self._subject_info(r) for r in rows]

    @_guarded
    def subject(self, name: str) -> SubjectInfo | None:
        """One subject with its template count (an index lookup), or None."""
        row = self._db.execute(
            "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM subjects s"
            " LEFT JOIN templates t ON t.subject_id = s.id WHERE s.name = ? GROUP BY s.id",
            (name,),
        ).fetchone()
        return None if row is None else self._subject_info(row)

    def similar_names(self, name: str) -> list[str]:
        """Other subjects' names equal to `name` up to case and whitespace (indexed)."""
        rows = self._db.execute(
            "SELECT name FROM subjects WHERE name_key = ? AND name != ? ORDER BY name",
            (name_key(name), name),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def _subject_info(self, row: Sequence[Any]) -> SubjectInfo:
        try:
            metadata = json.loads(row[1])
            if not isinstance(metadata, dict):
                raise TypeError("metadata is not a JSON object")
            return SubjectInfo(str(row[0]), metadata, int(row[2]), float(row[3]))
        except (TypeError, ValueError) as exc:
            raise CorruptGalleryError(
                f"{self.path}: the row of subject {row[0]!r} is damaged ({exc}); {_RESTORE}",
                self.path,
            ) from exc

    @_guarded
    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]:
        """(template ids, subject names, (n, d) embeddings, records), optionally for one subject.

        Every row is checked as search checks it: CorruptGalleryError (a
        TemplateAuthenticationError for a moved or altered ciphertext) names the
        first damaged template.
        """
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
        vectors = [self._open(r[2], int(r[0]), str(r[1]), r[6]) for r in rows]
        matrix = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
        self._check_vectors(ids, names, matrix)
        try:
            records = [
                TemplateRecord(v, float(r[3]), float(r[4]), str(r[5]), str(r[6]), str(r[7]))
                for v, r in zip(vectors, rows, strict=True)
            ]
        except (TypeError, ValueError) as exc:
            raise CorruptGalleryError(
                f"{self.path}: a template row is damaged ({exc}); {_RESTORE}", self.path
            ) from exc
        return ids, names, matrix, records

    @_guarded
    def integrity_check(self) -> str:
        """SQLite's own integrity check: "ok" when the file is sound, else its findings.

        Damage the check trips over itself is reported the same way, as text.
        """
        try:
            rows = self._db.execute("PRAGMA integrity_check(20)").fetchall()
        except sqlite3.DatabaseError as exc:
            if isinstance(self._database_error(exc), CorruptGalleryError):
                return str(exc)
            raise
        return "; ".join(str(r[0]) for r in rows)


def _add_name_keys(db: sqlite3.Connection) -> None:
    """Schema v4: the subjects' name-key column and index, and the key of every subject
    enrolled before it was recorded."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(subjects)")}
    if "name_key" not in columns:
        db.execute("ALTER TABLE subjects ADD COLUMN name_key TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS subjects_name_key ON subjects(name_key)")
    rows = db.execute("SELECT id, name FROM subjects").fetchall()
    db.executemany(
        "UPDATE subjects SET name_key = ? WHERE id = ?", [(name_key(n), i) for i, n in rows]
    )


def _configure(db: sqlite3.Connection) -> None:
    """Per-connection settings (WAL is also recorded in the file)."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    # erased templates are overwritten, not left in free pages (right to erasure)
    db.execute("PRAGMA secure_delete=ON")
