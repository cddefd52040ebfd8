"""PostgreSQL + pgvector store: the server backend of the gallery.

Same interface and behaviour as :class:`SQLiteStore`. Templates live in a
``vector(128)`` column with an HNSW index (cosine), so search runs in the
server and scales past what fits in one process. Each gallery is a PostgreSQL
schema (``?schema=NAME`` in the URI, default ``facescope``); the schema is
versioned in its ``meta`` table and migrated forward on open.

pgvector refuses NaN, infinite values and the wrong dimension, but a template
can still be set to zeros (or scaled) with SQL; such a row would score NaN (and
NaN sorts first) or skew verification, so reading one raises
:class:`~facescope.errors.CorruptGalleryError` naming the template, as the
embedded store does. Erased rows' storage is the server's to reclaim (VACUUM),
so :attr:`PostgresStore.erasure_pending` is always False.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from facescope.errors import (
    CorruptGalleryError,
    DuplicateTemplateError,
    GalleryError,
    UnknownSubjectError,
    UnknownTemplateError,
)
from facescope.gallery.store import (
    DIM,
    SubjectInfo,
    TemplateRecord,
    check_embedding,
    dim_for,
    name_key,
    vector_problem,
)

SCHEMA_VERSION = 5
#: HNSW candidate list size at query time (pgvector default 40): recall vs latency,
#: chosen on uniformly random (worst-case) vectors with the v2 index
#: (benchmarks/bench_search.py; the recalls measured are in the README).
EF_SEARCH = 400
#: HNSW build parameters of the schema v2 index.
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 200

_MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE {s}.subjects (
            id bigserial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            metadata jsonb NOT NULL DEFAULT '{{}}',
            created_at double precision NOT NULL)""",
        """CREATE TABLE {s}.templates (
            id bigserial PRIMARY KEY,
            subject_id bigint NOT NULL REFERENCES {s}.subjects(id) ON DELETE CASCADE,
            model text NOT NULL,
            model_version text NOT NULL,
            embedding vector(128) NOT NULL,
            norm real NOT NULL,
            quality real NOT NULL,
            source text NOT NULL,
            content_hash text NOT NULL,
            created_at double precision NOT NULL,
            UNIQUE (subject_id, content_hash))""",
        "CREATE INDEX templates_subject ON {s}.templates(subject_id)",
        "CREATE INDEX templates_hnsw ON {s}.templates USING hnsw (embedding vector_cosine_ops)",
    ],
    # a denser graph: pgvector's defaults (m 16, ef_construction 64) lose recall@10
    # on the near-ties of 128-d embeddings
    2: [
        "DROP INDEX {s}.templates_hnsw",
        "CREATE INDEX templates_hnsw ON {s}.templates"
        " USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})",
    ],
    # the capture spectrum of each template (vis, nir, thermal); templates enrolled
    # before it was recorded were all made from colour photos
    3: [
        "ALTER TABLE {s}.templates ADD COLUMN IF NOT EXISTS spectrum text NOT NULL DEFAULT 'vis'",
    ],
    # each subject name's key (store.name_key: case and whitespace folded), indexed;
    # filled for existing subjects by PostgresStore._fill_name_keys
    4: [
        "ALTER TABLE {s}.subjects ADD COLUMN IF NOT EXISTS name_key text",
        "CREATE INDEX IF NOT EXISTS subjects_name_key ON {s}.subjects(name_key)",
    ],
    # exact counts kept by triggers in the writing transaction: every identify reads the
    # gallery size (the open-set threshold depends on it), and COUNT(*) scans (2 ms at 10k)
    5: [
        """CREATE TABLE IF NOT EXISTS {s}.counts (
            id int PRIMARY KEY CHECK (id = 1),
            subjects bigint NOT NULL,
            templates bigint NOT NULL)""",
        "INSERT INTO {s}.counts VALUES (1, (SELECT COUNT(*) FROM {s}.subjects),"
        " (SELECT COUNT(*) FROM {s}.templates)) ON CONFLICT (id) DO UPDATE"
        " SET subjects = EXCLUDED.subjects, templates = EXCLUDED.templates",
        """CREATE OR REPLACE FUNCTION {s}.count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE step bigint := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
        BEGIN
            IF TG_TABLE_NAME = 'subjects' THEN
                UPDATE {s}.counts SET subjects = subjects + step WHERE id = 1;
            ELSE
                UPDATE {s}.counts SET templates = templates + step WHERE id = 1;
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE OR REPLACE TRIGGER subjects_count AFTER INSERT OR DELETE ON {s}.subjects"
        " FOR EACH ROW EXECUTE FUNCTION {s}.count_rows()",
        "CREATE OR REPLACE TRIGGER templates_count AFTER INSERT OR DELETE ON {s}.templates"
        " FOR EACH ROW EXECUTE FUNCTION {s}.count_rows()",
    ],
}


def _vector_literal(vector: npt.NDArray[np.floating]) -> str:
    return "[" + ",".join(f"{float(v):.9g}" for v in vector) + "]"


class PostgresStore:
    """Subjects and templates in a PostgreSQL schema with pgvector."""

    encrypted = False
    #: the server reclaims deleted rows' storage itself (VACUUM): nothing to finish here
    erasure_pending = False

    def __init__(self, uri: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise GalleryError(
                'the PostgreSQL backend needs psycopg: pip install "facescope[postgres]"'
            ) from exc
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.schema = query.pop("schema", "facescope")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.schema):
            raise GalleryError(f"invalid gallery schema name {self.schema!r} (use [a-z0-9_])")
        dsn = urlunsplit(parts._replace(query=urlencode(query)))
        self.path = (
            f"{parts.scheme}://{parts.hostname}:{parts.port or 5432}{parts.path}#{self.schema}"
        )
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise GalleryError(f"cannot connect to {self.path}: {exc}") from exc
        self._errors = psycopg.errors
        self._migrate()

    def _sql(self, text: str) -> str:
        return text.format(s=self.schema)

    def _migrate(self) -> None:
        with self._db.transaction():
            # one migrator at a time per schema
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            self._db.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            self._db.execute(
                self._sql("CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text)")
            )
            row = self._db.execute(
                self._sql("SELECT value FROM {s}.meta WHERE key = 'schema_version'")
            ).fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise GalleryError(
                    f"{self.path}: gallery schema v{version} is newer than this facescope "
                    f"(v{SCHEMA_VERSION}); upgrade facescope"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    self._db.execute(self._sql(statement))
                if target == 4:
                    self._fill_name_keys()
                self._db.execute(
                    self._sql(
                        "INSERT INTO {s}.meta(key, value) VALUES ('schema_version', %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                    ),
                    (str(target),),
                )

    def _fill_name_keys(self) -> None:
        """Schema v4: the name key of every subject enrolled before it was recorded."""
        rows = self._db.execute(self._sql("SELECT id, name FROM {s}.subjects")).fetchall()
        with self._db.cursor() as cursor:
            cursor.executemany(
                self._sql("UPDATE {s}.subjects SET name_key = %s WHERE id = %s"),
                [(name_key(str(name)), int(i)) for i, name in rows],
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def finish_erasure(self, timeout_s: float = 0.0) -> bool:
        """Nothing to finish: deleted rows are the server's to reclaim (always True)."""
        return True

    def _bad_row(self, template_id: int, subject: str, problem: str) -> CorruptGalleryError:
        """CorruptGalleryError for one template row whose embedding is impossible."""
        return CorruptGalleryError(
            f"{self.path}: template {template_id} of subject {subject!r} is damaged: its "
            f"embedding {problem}; remove it (Gallery.remove_template, or DELETE it through "
            f"the REST API; `facescope gallery remove {subject!r}` removes the whole subject), "
            "or restore the gallery from a backup or an export",
            self.path,
            template_id=int(template_id),
        )

    def get_meta(self, key: str) -> str | None:
        """A gallery-wide setting, or None."""
        row = self._db.execute(self._sql("SELECT value FROM {s}.meta WHERE key = %s"), (key,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    #: Template length: the schema's ``vector(128)`` column (sface and dlib galleries).
    dim = DIM

    def _check_model_dim(self, model: str) -> None:
        if dim_for(model) != self.dim:
            raise GalleryError(
                f"{self.path}: PostgreSQL galleries hold {self.dim}-d templates (a "
                f"vector({self.dim}) column); {model} makes {dim_for(model)}-d ones: use an "
                "embedded (SQLite) gallery for it"
            )

    def set_meta(self, values: dict[str, str]) -> None:
        """Store gallery-wide settings in one transaction."""
        if "model" in values:
            self._check_model_dim(values["model"])
        with self._db.transaction():
            for key, value in values.items():
                self._db.execute(
                    self._sql(
                        "INSERT INTO {s}.meta(key, value) VALUES (%s, %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                    ),
                    (key, value),
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

        InvalidEmbeddingError (nothing stored) for an embedding that is not 128
        finite values of unit norm; GalleryError for a model of another length
        (arcface, 512-d: embedded galleries only).
        """
        self._check_model_dim(model)
        vectors = [check_embedding(r.embedding, r.source) for r in records]
        now = time.time()
        ids: list[int] = []
        try:
            with self._db.transaction():
                row = self._db.execute(
                    self._sql(
                        "INSERT INTO {s}.subjects(name, metadata, created_at, name_key)"
                        " VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id"
                    ),
                    (subject, json.dumps(metadata or {}), now, name_key(subject)),
                ).fetchone()
                assert row is not None
                subject_id = int(row[0])
                if metadata:
                    self._db.execute(
                        self._sql("UPDATE {s}.subjects SET metadata = %s WHERE id = %s"),
                        (json.dumps(metadata), subject_id),
                    )
                for record, vector in zip(records, vectors, strict=True):
                    inserted = self._db.execute(
                        self._sql(
                            "INSERT INTO {s}.templates(subject_id, model, model_version, embedding,"
                            " norm, quality, source, content_hash, created_at, spectrum)"
                            " VALUES (%s, %s, %s, %s::vector, %s, %s, %s, %s, %s, %s)"
                            " RETURNING id"
                        ),
                        (
                            subject_id,
                            model,
                            model_version,
                            _vector_literal(vector),
                            float(record.norm),
                            float(record.quality),
                            record.source,
                            record.content_hash,
                            now,
                            str(record.spectrum),
                        ),
                    ).fetchone()
                    assert inserted is not None
                    ids.append(int(inserted[0]))
        except self._errors.UniqueViolation:
            raise DuplicateTemplateError(
                f"a photo is already enrolled for {subject!r}; nothing was stored"
            ) from None
        return ids

    def has_content(self, subject: str, content_hash: str) -> bool:
        """Whether this subject already has a template from a photo with this hash."""
        row = self._db.execute(
            self._sql(
                "SELECT 1 FROM {s}.templates t JOIN {s}.subjects s ON s.id = t.subject_id"
                " WHERE s.name = %s AND t.content_hash = %s"
            ),
            (subject, content_hash),
        ).fetchone()
        return row is not None

    def remove_subject(self, subject: str) -> int:
        """Delete a subject and every template of it; return how many templates went."""
        with self._db.transaction():
            row = self._db.execute(
                self._sql(
                    "SELECT s.id, COUNT(t.id) FROM {s}.subjects s"
                    " LEFT JOIN {s}.templates t ON t.subject_id = s.id"
                    " WHERE s.name = %s GROUP BY s.id"
                ),
                (subject,),
            ).fetchone()
            if row is None:
                raise UnknownSubjectError(f"unknown subject {subject!r}")
            self._db.execute(self._sql("DELETE FROM {s}.subjects WHERE id = %s"), (row[0],))
        return int(row[1])

    def remove_template(self, subject: str, template_id: int) -> int:
        """Delete one template of a subject; a subject left with none goes too.

        Returns how many templates the subject has left.
        """
        with self._db.transaction():
            row = self._db.execute(
                self._sql(
                    "SELECT t.subject_id FROM {s}.templates t JOIN {s}.subjects s"
                    " ON s.id = t.subject_id WHERE s.name = %s AND t.id = %s"
                ),
                (subject, int(template_id)),
            ).fetchone()
            if row is None:
                raise UnknownTemplateError(f"subject {subject!r} has no template {template_id}")
            self._db.execute(self._sql("DELETE FROM {s}.templates WHERE id = %s"), (template_id,))
            counted = self._db.execute(
                self._sql("SELECT COUNT(*) FROM {s}.templates WHERE subject_id = %s"), (row[0],)
            ).fetchone()
            left = int(counted[0]) if counted is not None else 0
            if left == 0:
                self._db.execute(self._sql("DELETE FROM {s}.subjects WHERE id = %s"), (row[0],))
        return left

    def similar_names(self, name: str) -> list[str]:
        """Other subjects' names equal to `name` up to case and whitespace (indexed)."""
        rows = self._db.execute(
            self._sql(
                "SELECT name FROM {s}.subjects WHERE name_key = %s AND name <> %s ORDER BY name"
            ),
            (name_key(name), name),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def subjects(self, limit: int | None = None, offset: int = 0) -> list[SubjectInfo]:
        """Subjects with their template counts, by name; a page of them with `limit`."""
        rows = self._db.execute(
            self._sql(
                "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM {s}.subjects s"
                " LEFT JOIN {s}.templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.name"
                " LIMIT %s OFFSET %s"
            ),
            (limit, max(0, int(offset))),
        ).fetchall()
        return [SubjectInfo(r[0], dict(r[1]), int(r[2]), float(r[3])) for r in rows]

    def subject(self, name: str) -> SubjectInfo | None:
        """One subject with its template count (an index lookup), or None."""
        row = self._db.execute(
            self._sql(
                "SELECT s.name, s.metadata, COUNT(t.id), s.created_at FROM {s}.subjects s"
                " LEFT JOIN {s}.templates t ON t.subject_id = s.id WHERE s.name = %s"
                " GROUP BY s.id"
            ),
            (name,),
        ).fetchone()
        return (
            None if row is None else SubjectInfo(row[0], dict(row[1]), int(row[2]), float(row[3]))
        )

    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]:
        """(template ids, subject names, (n, d) embeddings, records), optionally for one subject."""
        query = self._sql(
            "SELECT t.id, s.name, t.embedding::text, t.norm, t.quality, t.source, t.content_hash,"
            " t.spectrum FROM {s}.templates t JOIN {s}.subjects s ON s.id = t.subject_id"
        )
        params: tuple[str, ...] = ()
        if subject is not None:
            query += " WHERE s.name = %s"
            params = (subject,)
        rows = self._db.execute(query + " ORDER BY t.id", params).fetchall()
        vectors = [np.array(json.loads(r[2]), dtype=np.float32) for r in rows]
        for row, vector in zip(rows, vectors, strict=True):
            problem = vector_problem(vector)
            if problem is not None:
                raise self._bad_row(int(row[0]), str(row[1]), problem)
        matrix = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
        records = [
            TemplateRecord(v, float(r[3]), float(r[4]), str(r[5]), str(r[6]), str(r[7]))
            for v, r in zip(vectors, rows, strict=True)
        ]
        return np.array([r[0] for r in rows], np.int64), [str(r[1]) for r in rows], matrix, records

    def search(self, probes: npt.NDArray[np.float32], top_k: int) -> list[list[tuple[str, float]]]:
        """Per probe, the `top_k` subjects by best template score (HNSW, cosine).

        The server walks the HNSW graph for ``EF_SEARCH`` nearest templates, keeps
        each subject's best one and returns only the `top_k` subjects.
        """
        # HNSW returns at most ef_search rows: ask for as many candidates as it finds
        limit = max(EF_SEARCH, 10 * top_k)
        self._db.execute(f"SET hnsw.ef_search = {int(limit)}")
        results = []
        for probe in probes:
            literal = _vector_literal(probe)
            rows = self._db.execute(
                self._sql(
                    "SELECT s.name, c.score, c.id FROM ("
                    " SELECT DISTINCT ON (n.subject_id) n.subject_id, n.score, n.id FROM ("
                    "  SELECT t.id, t.subject_id, 1 - (t.embedding <=> %s::vector) AS score"
                    "  FROM {s}.templates t ORDER BY t.embedding <=> %s::vector LIMIT %s"
                    " ) n ORDER BY n.subject_id, n.score DESC"
                    ") c JOIN {s}.subjects s ON s.id = c.subject_id"
                    " ORDER BY c.score DESC, s.name LIMIT %s"
                ),
                (literal, literal, limit, max(1, top_k)),
            ).fetchall()
            for name, score, template_id in rows:
                if not np.isfinite(score):  # a zero vector: cosine distance is NaN
                    raise self._bad_row(int(template_id), str(name), "is all zeros")
            results.append([(str(r[0]), float(r[1])) for r in rows])
        return results

    def count(self) -> tuple[int, int]:
        """(subjects, templates): exact, kept by triggers (schema v5), one row read."""
        row = self._db.execute(
            self._sql("SELECT subjects, templates FROM {s}.counts WHERE id = 1")
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def integrity_check(self) -> str:
        """Referential check: "ok" when no template lacks its subject."""
        row = self._db.execute(
            self._sql(
                "SELECT COUNT(*) FROM {s}.templates t LEFT JOIN {s}.subjects s"
                " ON s.id = t.subject_id WHERE s.id IS NULL"
            )
        ).fetchone()
        return "ok" if row is not None and int(row[0]) == 0 else "orphaned templates"
