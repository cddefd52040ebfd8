"""A photo library's faces, grouped into people: the "People" view.

:class:`FaceLibrary` keeps every face found in a folder of photos (and one face
per track of videos) in one SQLite file, and groups the faces of people nobody
has named yet with incremental density clustering
(:mod:`facescope.cluster.incremental`).

Stability is the contract: **a face that has a cluster keeps it**. Adding
photos and clustering again only places the new (and still unplaced) faces;
cluster ids are never reused (``AUTOINCREMENT``). A new face that links two
clusters joins one (the one holding most of its neighbours) and records a
merge *suggestion*; merging is always the user's call (:meth:`FaceLibrary.merge`).
Renaming, merging and splitting change only what they name.

Merge suggestions come from two sources: faces that link two clusters (recorded
while clustering) and clusters whose mean faces are alike
(:data:`SUGGEST_SIMILARITY`). A suggestion the user rejects
(:meth:`FaceLibrary.reject_suggestion`) is remembered and never made again.

Layout: ``library.sqlite3`` in the library folder, WAL journal, one
transaction per batch of added files and one per clustering run or edit.
Schema v2 added ``rejected_suggestions``; a v1 library is upgraded on open.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from facescope._deprecation import renamed_argument
from facescope.cluster.incremental import DEFAULT_EPS, DEFAULT_MIN_FACES, assign_incremental
from facescope.errors import FacescopeError, GalleryModelMismatchError
from facescope.gallery.store import TemplateRecord
from facescope.io.files import VIDEO_EXTENSIONS, media_files
from facescope.io.sqlite import Transaction

if TYPE_CHECKING:
    from facescope.gallery.gallery import EnrollResult, Gallery
    from facescope.types import Faces

#: Where ``facescope cluster`` and ``facescope people`` keep the library by default.
DEFAULT_LIBRARY = "./facescope-library"
DB_NAME = "library.sqlite3"
MODEL = "sface"
DIM = 128
SCHEMA_VERSION = 2
#: Cosine similarity of two clusters' mean faces at and above which they are
#: suggested for a merge (the clustering's default neighbour similarity).
SUGGEST_SIMILARITY = 1.0 - DEFAULT_EPS
#: Files written per transaction by :meth:`FaceLibrary.add`.
BATCH_FILES = 64
#: Frames between detection rounds when a video is added.
VIDEO_STRIDE = 3

#: progress(done, total, path) after each file of :meth:`FaceLibrary.add`.
Progress = Callable[[int, int, str], None]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    n_faces INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE INDEX sources_path ON sources(path);
CREATE TABLE clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE,
    subject TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    face_index INTEGER NOT NULL,
    frame INTEGER,
    time REAL,
    x1 REAL, y1 REAL, x2 REAL, y2 REAL,
    embedding BLOB NOT NULL,
    norm REAL NOT NULL,
    quality REAL NOT NULL,
    content_hash TEXT NOT NULL,
    thumbnail BLOB,
    cluster_id INTEGER REFERENCES clusters(id),
    identity TEXT,
    identity_score REAL
);
CREATE INDEX faces_cluster ON faces(cluster_id);
CREATE TABLE merge_suggestions (
    a INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    faces INTEGER NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE TABLE rejected_suggestions (
    a INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    rejected_at REAL NOT NULL,
    PRIMARY KEY (a, b)
);
"""

#: Schema changes from each version to the next (``PRAGMA user_version``).
_MIGRATIONS = {
    1: """
CREATE TABLE rejected_suggestions (
    a INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
    rejected_at REAL NOT NULL,
    PRIMARY KEY (a, b)
);
""",
}


class ClusterError(FacescopeError):
    """A library or cluster operation cannot be done; nothing was changed."""


class UnknownClusterError(ClusterError, KeyError):
    """The cluster id is not in the library."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown cluster"


class UnknownFaceError(ClusterError, KeyError):
    """The face id is not in the library."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown face"


def library_file(folder: str | os.PathLike[str]) -> Path:
    """The database file of the library in `folder` (or `folder` itself, a ``.sqlite3`` file)."""
    target = Path(folder)
    if target.suffix not in (".sqlite3", ".sqlite", ".db"):
        target = target / DB_NAME
    return target


@dataclass(frozen=True)
class AddReport:
    """What one :meth:`FaceLibrary.add` call did, file by file."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    faces: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "added": self.added,
            "skipped": self.skipped,
            "failed": self.failed,
            "faces": self.faces,
        }


@dataclass(frozen=True)
class MergeSuggestion:
    """Two clusters that may be one person (``a < b``).

    ``faces``: core faces that lie close to both (0 when suggested only because
    the clusters look alike); ``score``: cosine similarity of the two clusters'
    mean faces (None where not computed, as in a :class:`ClusterReport`).
    """

    a: int
    b: int
    faces: int
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {"a": self.a, "b": self.b, "faces": self.faces, "score": self.score}


@dataclass(frozen=True)
class ClusterReport:
    """What one :meth:`FaceLibrary.cluster` run did."""

    processed: int
    labelled: int
    joined: int
    new_clusters: list[int]
    new_faces: int
    noise: int
    suggestions: list[MergeSuggestion]
    eps: float
    min_faces: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "processed": self.processed,
            "labelled": self.labelled,
            "joined": self.joined,
            "new_clusters": self.new_clusters,
            "new_faces": self.new_faces,
            "noise": self.noise,
            "suggestions": [[s.a, s.b, s.faces] for s in self.suggestions],
            "eps": self.eps,
            "min_faces": self.min_faces,
        }


@dataclass(frozen=True)
class ClusterInfo:
    """One cluster (a person) and its faces; ``subject`` is set once promoted."""

    id: int
    name: str | None
    size: int
    face_ids: list[int]
    subject: str | None = None
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view, for JSON output."""
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "face_ids": self.face_ids,
            "subject": self.subject,
        }


@dataclass(frozen=True)
class FaceInfo:
    """One stored face. ``frame``/``time`` are set for video tracks, ``box`` for photos."""

    id: int
    source: str
    face_index: int
    frame: int | None
    time: float | None
    box: tuple[float, float, float, float] | None
    quality: float
    cluster_id: int | None
    identity: str | None
    identity_score: float | None


@dataclass
class _Face:
    index: int
    embedding: npt.NDArray[np.float32]
    norm: float
    quality: float
    box: tuple[float, float, float, float] | None
    frame: int | None
    time: float | None
    thumbnail: bytes | None


@dataclass
class _Source:
    path: str
    kind: str
    content_hash: str
    size: int
    mtime_ns: int
    faces: list[_Face]


class FaceLibrary:
    """Faces of a photo library, grouped into people. Open with :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise ClusterError(f"{path}: not a facescope face library ({exc})") from exc

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> FaceLibrary:
        """Open (creating if needed) the library in `folder` (or a ``.sqlite3`` file)."""
        return cls(library_file(folder))

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> FaceLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            raise ClusterError(
                f"{self.path}: library schema v{version} is newer than this facescope; upgrade it"
            )
        if version == SCHEMA_VERSION:
            return
        with self._transaction():
            # read again under the write lock: another process may have just done it
            version = self._version()
            if version == SCHEMA_VERSION:
                return
            script = (
                _SCHEMA
                if version == 0
                else "".join(_MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
            )
            for statement in script.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _transaction(self) -> Transaction:
        self._db.execute("BEGIN IMMEDIATE")
        return Transaction(self._db)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def model_version(self) -> str | None:
        """Version of the SFace model the stored embeddings come from (None while empty)."""
        return self._meta("model_version")

    # ---- adding photos and videos -------------------------------------------------

    def add(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        progress: Progress | None = None,
        *,
        min_size: float | None = None,
        min_face: float | None = None,
    ) -> AddReport:
        """Find and embed every face of these photos/videos (folders: recursively).

        A file already in the library (same path, size and mtime, or the same
        content under any path) is skipped. Unreadable files are reported in
        ``failed`` and do not stop the rest. Videos (by extension) contribute
        one face per track: its pooled embedding and best thumbnail. Files are
        written ``BATCH_FILES`` at a time, each batch in one transaction.
        `min_size`: smallest face side to detect in photos, in pixels
        (``min_face`` is its deprecated old name).
        """
        min_size = renamed_argument("FaceLibrary.add", "min_face", min_face, "min_size", min_size)
        files = media_files(paths)
        report = AddReport()
        self._ensure_model()
        seen: set[str] = set()
        batch: list[_Source] = []
        faces = 0
        for done, file in enumerate(files, 1):
            label = os.fspath(file)
            try:
                source = self._read(file, seen, min_size)
            except (FacescopeError, OSError, ValueError) as exc:
                report.failed[label] = str(exc) or type(exc).__name__
            else:
                if source is None:
                    report.skipped.append(label)
                else:
                    report.added.append(label)
                    seen.add(source.content_hash)
                    faces += len(source.faces)
                    batch.append(source)
                    if len(batch) >= BATCH_FILES:
                        self._store(batch)
                        batch = []
            if progress is not None:
                progress(done, len(files), label)
        if batch:
            self._store(batch)
        return AddReport(report.added, report.skipped, report.failed, faces)

    def add_embeddings(
        self,
        source: str,
        embeddings: npt.NDArray[np.floating],
        *,
        content_hash: str | None = None,
        quality: Sequence[float] | None = None,
    ) -> list[int]:
        """Store faces already embedded with SFace (one "photo" per call); return face ids.

        For embeddings computed elsewhere (batch pipelines, the benchmark). Rows
        are L2-normalised here; non-finite or zero rows are refused.
        """
        vectors = np.asarray(embeddings, np.float64).reshape(-1, DIM)
        norms = np.linalg.norm(vectors, axis=1)
        if not np.isfinite(vectors).all() or (norms <= 0).any():
            raise ClusterError(f"{source}: embeddings must be finite and non-zero")
        self._ensure_model()
        digest = content_hash or hashlib.sha256(vectors.astype("<f4").tobytes()).hexdigest()
        if self._has_content(digest):
            return []
        faces = [
            _Face(
                i,
                (v / n).astype(np.float32),
                float(n),
                float(quality[i]) if quality is not None else 1.0,
                None,
                None,
                None,
                None,
            )
            for i, (v, n) in enumerate(zip(vectors, norms, strict=True))
        ]
        return self._store([_Source(source, "embeddings", digest, 0, 0, faces)])

    def add_photo(
        self,
        rgb: npt.NDArray[np.uint8],
        name: str,
        content_hash: str,
        *,
        faces: Faces | None = None,
        size: int = 0,
        min_size: float | None = None,
    ) -> list[int] | None:
        """Store the faces of one decoded photo (an upload); return their ids.

        `name` is what the library shows as its source (a file name: the photo
        itself is not kept, only each face's 112x112 thumbnail). `content_hash`
        is the photo's duplicate key (:func:`facescope.gallery.templates.content_hash`):
        None is returned, and nothing stored, when the library has it already.
        `faces`: the photo's detections, if already found (else they are detected).
        """
        if self._has_content(content_hash):
            return None
        self._ensure_model()
        found = _photo_faces(rgb, min_size, faces)
        if self._has_content(content_hash):  # stored meanwhile by another request
            return None
        return self._store([_Source(name, "upload", content_hash, size, 0, found)])

    def _ensure_model(self) -> None:
        if self.model_version is None:
            from facescope.embed.recognizers import get_recognizer

            version = str(get_recognizer(MODEL).version)
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [("model", MODEL), ("model_version", version)],
                )

    def _has_content(self, digest: str) -> bool:
        row = self._db.execute("SELECT 1 FROM sources WHERE content_hash = ?", (digest,)).fetchone()
        return row is not None

    def _read(self, file: Path, seen: set[str], min_size: float | None) -> _Source | None:
        """The file's faces, or None when it is already in the library."""
        path = str(file.resolve())
        stat = file.stat()
        row = self._db.execute(
            "SELECT 1 FROM sources WHERE path = ? AND size = ? AND mtime_ns = ?",
            (path, stat.st_size, stat.st_mtime_ns),
        ).fetchone()
        if row is not None:
            return None
        is_video = file.suffix.lower() in VIDEO_EXTENSIONS
        digest = _file_hash(file) if is_video else None
        if digest is not None and (digest in seen or self._has_content(digest)):
            return None
        if is_video:
            faces = _video_faces(file)
            return _Source(path, "video", digest or "", stat.st_size, stat.st_mtime_ns, faces)
        from facescope.gallery.templates import decode_photo

        rgb, digest = decode_photo(file)
        if digest in seen or self._has_content(digest):
            return None
        return _Source(
            path, "photo", digest, stat.st_size, stat.st_mtime_ns, _photo_faces(rgb, min_size)
        )

    def _store(self, sources: list[_Source]) -> list[int]:
        now = time.time()
        ids: list[int] = []
        with self._transaction():
            for source in sources:
                cursor = self._db.execute(
                    "INSERT INTO sources(path, kind, content_hash, size, mtime_ns, n_faces,"
                    " added_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        source.path,
                        source.kind,
                        source.content_hash,
                        source.size,
                        source.mtime_ns,
                        len(source.faces),
                        now,
                    ),
                )
                source_id = int(cursor.lastrowid or 0)
                single = len(source.faces) == 1
                for face in source.faces:
                    box = face.box or (None, None, None, None)
                    cursor = self._db.execute(
                        "INSERT INTO faces(source_id, face_index, frame, time, x1, y1, x2, y2,"
                        " embedding, norm, quality, content_hash, thumbnail)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            source_id,
                            face.index,
                            face.frame,
                            face.time,
                            *box,
                            np.asarray(face.embedding, "<f4").tobytes(),
                            face.norm,
                            face.quality,
                            _face_hash(source.content_hash, face.index, single),
                            face.thumbnail,
                        ),
                    )
                    ids.append(int(cursor.lastrowid or 0))
        return ids

    # ---- clustering ---------------------------------------------------------------

    def cluster(
        self,
        eps: float = DEFAULT_EPS,
        min_faces: int = DEFAULT_MIN_FACES,
        *,
        gallery: Gallery | None = None,
        fpir: float = 0.01,
    ) -> ClusterReport:
        """Place the faces that have no cluster yet; existing assignments never change.

        With a `gallery`, unplaced faces it identifies (open set at `fpir`) are
        labelled with that identity instead of being clustered as unknown; those
        of a subject promoted from a cluster go into that cluster.
        """
        if not 0.0 < eps < 2.0:
            raise ClusterError(f"eps must be a cosine distance in (0, 2), got {eps}")
        if min_faces < 1:
            raise ClusterError(f"min_faces must be at least 1, got {min_faces}")
        labelled = self._label_known(gallery, fpir) if gallery is not None else 0
        with self._transaction():
            rows = self._db.execute(
                "SELECT id, embedding, cluster_id, identity FROM faces ORDER BY id"
            ).fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            vectors = _matrix([r[1] for r in rows])
            labels = np.array([-1 if r[2] is None else r[2] for r in rows], np.int64)
            eligible = np.array([r[2] is not None or r[3] is None for r in rows], bool)
            row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'clusters'")
            seq = row.fetchone()
            next_id = (int(seq[0]) if seq else 0) + 1
            processed = int((eligible & (labels < 0)).sum())
            result = assign_incremental(
                vectors, labels, eps=eps, min_faces=min_faces, eligible=eligible, next_id=next_id
            )
            now = time.time()
            for cluster in result.new_clusters:
                self._db.execute(
                    "INSERT INTO clusters(id, created_at) VALUES (?, ?)", (cluster, now)
                )
            changed = np.flatnonzero(result.labels != labels)
            self._db.executemany(
                "UPDATE faces SET cluster_id = ? WHERE id = ? AND cluster_id IS NULL",
                [(int(result.labels[i]), int(ids[i])) for i in changed],
            )
            rejected = self._rejected()
            suggested = {
                pair: count for pair, count in result.suggestions.items() if pair not in rejected
            }
            for (a, b), count in suggested.items():
                self._db.execute(
                    "INSERT INTO merge_suggestions(a, b, faces) VALUES (?, ?, ?)"
                    " ON CONFLICT(a, b) DO UPDATE SET faces = faces + excluded.faces",
                    (a, b, count),
                )
        return ClusterReport(
            processed=processed,
            labelled=labelled,
            joined=result.joined,
            new_clusters=result.new_clusters,
            new_faces=result.new_faces,
            noise=result.noise,
            suggestions=[MergeSuggestion(a, b, n) for (a, b), n in suggested.items()],
            eps=eps,
            min_faces=min_faces,
        )

    def _label_known(self, gallery: Gallery, fpir: float) -> int:
        """Label unplaced faces the gallery identifies; return how many."""
        self._check_gallery(gallery)
        if len(gallery) == 0:
            return 0
        rows = self._db.execute(
            "SELECT id, embedding FROM faces WHERE cluster_id IS NULL AND identity IS NULL"
        ).fetchall()
        if not rows:
            return 0
        probes = _matrix([r[1] for r in rows])
        found = gallery.identify_embeddings(
            np.zeros((len(rows), 4), np.float32), probes, top_k=1, fpir=fpir
        )
        promoted = dict(
            self._db.execute(
                "SELECT subject, MIN(id) FROM clusters WHERE subject IS NOT NULL GROUP BY subject"
            ).fetchall()
        )
        updates = [
            (hit.identity, hit.score, promoted.get(hit.identity), face_id)
            for (face_id, _), hit in zip(rows, found, strict=True)
            if hit.identity is not None
        ]
        with self._transaction():
            self._db.executemany(
                "UPDATE faces SET identity = ?, identity_score = ?, cluster_id = ?"
                " WHERE id = ? AND cluster_id IS NULL",
                updates,
            )
        return len(updates)

    # ---- browsing -----------------------------------------------------------------

    def clusters(self) -> list[ClusterInfo]:
        """Every cluster, largest first (then oldest)."""
        members: dict[int, list[int]] = {}
        for face_id, cluster in self._db.execute(
            "SELECT id, cluster_id FROM faces WHERE cluster_id IS NOT NULL ORDER BY id"
        ):
            members.setdefault(int(cluster), []).append(int(face_id))
        infos = [
            ClusterInfo(int(i), name, len(members.get(i, [])), members.get(i, []), subject, at)
            for i, name, subject, at in self._db.execute(
                "SELECT id, name, subject, created_at FROM clusters"
            )
        ]
        return sorted(infos, key=lambda c: (-c.size, c.id))

    def cluster_info(self, cluster_id: int) -> ClusterInfo:
        """One cluster; UnknownClusterError when there is none with this id."""
        row = self._db.execute(
            "SELECT id, name, subject, created_at FROM clusters WHERE id = ?", (int(cluster_id),)
        ).fetchone()
        if row is None:
            raise UnknownClusterError(f"unknown cluster {cluster_id}")
        face_ids = [
            int(r[0])
            for r in self._db.execute(
                "SELECT id FROM faces WHERE cluster_id = ? ORDER BY id", (int(cluster_id),)
            )
        ]
        return ClusterInfo(int(row[0]), row[1], len(face_ids), face_ids, row[2], float(row[3]))

    def faces(self, cluster_id: int) -> list[FaceInfo]:
        """The faces of one cluster, oldest first."""
        self.cluster_info(cluster_id)
        return self._faces("f.cluster_id = ?", (int(cluster_id),))

    def face(self, face_id: int) -> FaceInfo:
        """One face; UnknownFaceError when there is none with this id."""
        found = self._faces("f.id = ?", (int(face_id),))
        if not found:
            raise UnknownFaceError(f"unknown face {face_id}")
        return found[0]

    def faces_by_id(self, face_ids: Iterable[int]) -> list[FaceInfo]:
        """These faces (those that exist), oldest first."""
        wanted = sorted({int(f) for f in face_ids})
        found: list[FaceInfo] = []
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            found.extend(self._faces(f"f.id IN ({marks})", tuple(chunk)))
        return found

    def representatives(self) -> dict[int, int]:
        """Each cluster's face to show for it: its best-quality face with a thumbnail."""
        rows = self._db.execute(
            "SELECT cluster_id, id FROM ("
            " SELECT cluster_id, id, ROW_NUMBER() OVER (PARTITION BY cluster_id"
            "  ORDER BY thumbnail IS NULL, quality DESC, id) AS rank"
            " FROM faces WHERE cluster_id IS NOT NULL) WHERE rank = 1"
        ).fetchall()
        return {int(cluster): int(face) for cluster, face in rows}

    def unclustered(self) -> list[FaceInfo]:
        """Faces with no cluster: noise so far, and faces labelled by a gallery."""
        return self._faces("f.cluster_id IS NULL", ())

    def _faces(self, where: str, args: tuple[Any, ...]) -> list[FaceInfo]:
        rows = self._db.execute(
            "SELECT f.id, s.path, f.face_index, f.frame, f.time, f.x1, f.y1, f.x2, f.y2,"
            " f.quality, f.cluster_id, f.identity, f.identity_score"
            f" FROM faces f JOIN sources s ON s.id = f.source_id WHERE {where} ORDER BY f.id",
            args,
        ).fetchall()
        return [
            FaceInfo(
                int(r[0]),
                str(r[1]),
                int(r[2]),
                r[3],
                r[4],
                None if r[5] is None else (float(r[5]), float(r[6]), float(r[7]), float(r[8])),
                float(r[9]),
                r[10],
                r[11],
                r[12],
            )
            for r in rows
        ]

    def thumbnail(self, face_id: int) -> npt.NDArray[np.uint8] | None:
        """A face's 112x112 RGB crop (photos) or track thumbnail (videos), if stored."""
        data = self.thumbnail_jpeg(face_id)
        if data is None:
            return None
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

    def thumbnail_jpeg(self, face_id: int) -> bytes | None:
        """:meth:`thumbnail` as stored: JPEG bytes (None for faces added as embeddings)."""
        row = self._db.execute(
            "SELECT thumbnail FROM faces WHERE id = ?", (int(face_id),)
        ).fetchone()
        if row is None:
            raise UnknownFaceError(f"unknown face {face_id}")
        return None if row[0] is None else bytes(row[0])

    def suggestions(
        self, min_similarity: float | None = SUGGEST_SIMILARITY
    ) -> list[MergeSuggestion]:
        """Open merge suggestions, strongest first; rejected ones are never among them.

        Those recorded while clustering (a face linking two clusters), and, unless
        `min_similarity` is None, every pair of clusters whose mean faces have a
        cosine similarity of at least `min_similarity`. Each has its ``score``
        (that similarity); they are ordered by linking faces, then score.
        """
        recorded = {
            (int(a), int(b)): int(n)
            for a, b, n in self._db.execute("SELECT a, b, faces FROM merge_suggestions")
        }
        ids, centroids = self._centroids()
        similarity = centroids @ centroids.T
        index = {cluster: i for i, cluster in enumerate(ids)}
        pairs = dict.fromkeys(recorded, 0.0)
        if min_similarity is not None and len(ids) > 1:
            upper = np.triu(similarity >= min_similarity, k=1)
            for i, j in zip(*np.nonzero(upper), strict=True):
                pairs[(ids[i], ids[j])] = 0.0
        rejected = self._rejected()
        found = [
            MergeSuggestion(
                a,
                b,
                recorded.get((a, b), 0),
                round(float(similarity[index[a], index[b]]), 4)
                if a in index and b in index
                else None,
            )
            for a, b in pairs
            if (a, b) not in rejected
        ]
        return sorted(found, key=lambda s: (-s.faces, -(s.score or 0.0), s.a, s.b))

    def _centroids(self) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Cluster ids and their L2-normalised mean embeddings (rows)."""
        rows = self._db.execute(
            "SELECT cluster_id, embedding FROM faces WHERE cluster_id IS NOT NULL"
            " ORDER BY cluster_id"
        ).fetchall()
        if not rows:
            return [], np.zeros((0, DIM), np.float32)
        labels = np.array([r[0] for r in rows], np.int64)
        vectors = _matrix([r[1] for r in rows])
        ids, inverse = np.unique(labels, return_inverse=True)
        sums = np.zeros((len(ids), DIM), np.float64)
        np.add.at(sums, inverse, vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        means = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return [int(i) for i in ids], means

    def _rejected(self) -> set[tuple[int, int]]:
        return {
            (int(a), int(b)) for a, b in self._db.execute("SELECT a, b FROM rejected_suggestions")
        }

    def reject_suggestion(self, a: int, b: int) -> None:
        """Remember that clusters `a` and `b` are not one person: never suggest them again."""
        first, second = self.cluster_info(a), self.cluster_info(b)
        if first.id == second.id:
            raise ClusterError(f"cannot compare cluster {a} with itself")
        low, high = sorted((first.id, second.id))
        with self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO rejected_suggestions(a, b, rejected_at) VALUES (?, ?, ?)",
                (low, high, time.time()),
            )
            self._db.execute("DELETE FROM merge_suggestions WHERE a = ? AND b = ?", (low, high))

    def counts(self) -> dict[str, int]:
        """Files, faces, clustered faces, labelled faces and clusters stored."""
        one = self._db.execute
        return {
            "files": int(one("SELECT COUNT(*) FROM sources").fetchone()[0]),
            "faces": int(one("SELECT COUNT(*) FROM faces").fetchone()[0]),
            "clustered": int(
                one("SELECT COUNT(*) FROM faces WHERE cluster_id IS NOT NULL").fetchone()[0]
            ),
            "labelled": int(
                one("SELECT COUNT(*) FROM faces WHERE identity IS NOT NULL").fetchone()[0]
            ),
            "clusters": int(one("SELECT COUNT(*) FROM clusters").fetchone()[0]),
        }

    # ---- editing ------------------------------------------------------------------

    def rename(self, cluster_id: int, name: str | None) -> None:
        """Name a cluster (None clears the name). Names are unique across clusters."""
        info = self.cluster_info(cluster_id)
        clean = None if name is None else name.strip()
        if clean == "":
            raise ClusterError("cluster name must not be empty")
        with self._transaction():
            self._check_name(clean, info.id)
            self._db.execute("UPDATE clusters SET name = ? WHERE id = ?", (clean, info.id))

    def _check_name(self, name: str | None, cluster_id: int) -> None:
        if name is None:
            return
        row = self._db.execute(
            "SELECT id FROM clusters WHERE name = ? AND id != ?", (name, cluster_id)
        ).fetchone()
        if row is not None:
            raise ClusterError(
                f"cluster {row[0]} is already named {name!r}; merge the clusters instead"
            )

    def merge(self, a: int, b: int) -> int:
        """Move every face of cluster `b` into `a` and delete `b`; return `a`.

        `a` keeps its id, and its name (or takes `b`'s when it has none).
        """
        first, second = self.cluster_info(a), self.cluster_info(b)
        if first.id == second.id:
            raise ClusterError(f"cannot merge cluster {a} with itself")
        with self._transaction():
            self._db.execute("UPDATE faces SET cluster_id = ? WHERE cluster_id = ?", (a, b))
            others = self._db.execute(
                "SELECT a, b, faces FROM merge_suggestions WHERE a = ? OR b = ?", (b, b)
            ).fetchall()
            self._db.execute("DELETE FROM merge_suggestions WHERE a = ? OR b = ?", (b, b))
            # "b is not that person" holds for the merged cluster too
            refused = self._db.execute(
                "SELECT a, b FROM rejected_suggestions WHERE a = ? OR b = ?", (b, b)
            ).fetchall()
            for x, y in refused:
                other = x if y == b else y
                if other != a:
                    self._db.execute(
                        "INSERT OR IGNORE INTO rejected_suggestions(a, b, rejected_at)"
                        " VALUES (?, ?, ?)",
                        (min(a, other), max(a, other), time.time()),
                    )
            self._db.execute("DELETE FROM rejected_suggestions WHERE a = ? OR b = ?", (b, b))
            rejected = self._rejected()
            for x, y, count in others:
                other = x if y == b else y
                if other == a or (min(a, other), max(a, other)) in rejected:
                    continue
                self._db.execute(
                    "INSERT INTO merge_suggestions(a, b, faces) VALUES (?, ?, ?)"
                    " ON CONFLICT(a, b) DO UPDATE SET faces = faces + excluded.faces",
                    (min(a, other), max(a, other), count),
                )
            self._db.execute("DELETE FROM clusters WHERE id = ?", (b,))
            self._db.execute(
                "UPDATE clusters SET name = COALESCE(name, ?), subject = COALESCE(subject, ?)"
                " WHERE id = ?",
                (second.name, second.subject, a),
            )
        return first.id

    def split(self, cluster_id: int, face_ids: Sequence[int]) -> int:
        """Move some of a cluster's faces into a new, unnamed cluster; return its id."""
        info = self.cluster_info(cluster_id)
        wanted = {int(f) for f in face_ids}
        if not wanted:
            raise ClusterError("no faces given to split off")
        strangers = sorted(wanted - set(info.face_ids))
        if strangers:
            raise ClusterError(f"faces {strangers} are not in cluster {cluster_id}")
        if len(wanted) == info.size:
            raise ClusterError(f"that is all of cluster {cluster_id}; nothing would remain")
        with self._transaction():
            cursor = self._db.execute("INSERT INTO clusters(created_at) VALUES (?)", (time.time(),))
            new_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "UPDATE faces SET cluster_id = ? WHERE id = ?", [(new_id, f) for f in wanted]
            )
        return new_id

    def promote(
        self,
        cluster_id: int,
        gallery: Gallery,
        name: str | None = None,
        *,
        allow_similar: bool = False,
    ) -> EnrollResult:
        """Enrol a cluster's faces into `gallery` as subject `name` (default: its name).

        Faces already enrolled for that subject are left out (promoting again
        after the cluster grew adds only its new faces). The cluster takes the
        name and remembers the subject, so that with ``cluster(gallery=...)``
        faces the gallery identifies as this person join it. A new subject named like an
        enrolled one up to case and whitespace is refused (SimilarSubjectError) unless
        `allow_similar`.
        """
        from facescope.gallery.gallery import EnrollResult

        info = self.cluster_info(cluster_id)
        subject = (name if name is not None else info.name or "").strip()
        if not subject:
            raise ClusterError(f"cluster {cluster_id} has no name; give one to promote it")
        self._check_gallery(gallery)
        self._check_name(subject, info.id)
        rows = self._db.execute(
            "SELECT f.embedding, f.norm, f.quality, f.content_hash, s.path, f.face_index"
            " FROM faces f JOIN sources s ON s.id = f.source_id"
            " WHERE f.cluster_id = ? ORDER BY f.id",
            (info.id,),
        ).fetchall()
        records = [
            TemplateRecord(
                np.frombuffer(blob, "<f4").copy(), float(norm), float(q), f"{path}#{index}", digest
            )
            for blob, norm, q, digest, path, index in rows
            if not gallery.has_template(subject, digest)
        ]
        result = (
            gallery.enroll_templates(subject, records, allow_similar=allow_similar)
            if records
            else EnrollResult(subject, 0, [])
        )
        with self._transaction():
            self._db.execute(
                "UPDATE clusters SET name = ?, subject = ? WHERE id = ?",
                (subject, subject, info.id),
            )
        return result

    def _check_gallery(self, gallery: Gallery) -> None:
        version = self.model_version
        if gallery.model != MODEL or (version is not None and gallery.model_version != version):
            raise GalleryModelMismatchError(
                f"the library holds {MODEL} {version} embeddings; the gallery uses "
                f"{gallery.model} {gallery.model_version}"
            )


# ---- reading files ----------------------------------------------------------------


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _face_hash(source_hash: str, index: int, single: bool) -> str:
    """A face's duplicate key in a gallery: the photo's hash when it is the only face."""
    if single:
        return source_hash
    return hashlib.sha256(f"{source_hash}#{index}".encode()).hexdigest()


def _jpeg(rgb: npt.NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _photo_faces(
    rgb: npt.NDArray[np.uint8], min_size: float | None, faces: Faces | None = None
) -> list[_Face]:
    from facescope.align.template import warp_to_template
    from facescope.pipeline import embed_faces, find_faces
    from facescope.quality import quality_from_crop

    if faces is None:
        faces = find_faces(rgb, min_size=min_size)
    if len(faces) == 0:
        return []
    embeddings = embed_faces(rgb, faces, MODEL)
    out = []
    for index in range(len(faces)):
        vector = embeddings.vectors[index]
        if not np.isfinite(vector).all() or embeddings.norms[index] <= 0:
            continue
        box = faces.boxes[index]
        crop = rgb if faces.aligned else warp_to_template(rgb, faces.landmarks5[index])
        quality = quality_from_crop(
            crop, faces.landmarks5[index], box, float(faces.scores[index]), image_shape=rgb.shape
        ).score
        out.append(
            _Face(
                index,
                vector,
                float(embeddings.norms[index]),
                float(quality),
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                None,
                None,
                _jpeg(crop),
            )
        )
    return out


def _video_faces(path: Path) -> list[_Face]:
    from facescope.video.recognizer import VideoRecognizer

    out = []
    for index, track in enumerate(VideoRecognizer(None, stride=VIDEO_STRIDE).run(path)):
        vector = np.asarray(track.embedding, np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector)) if vector.size == DIM else 0.0
        if not np.isfinite(vector).all() or norm <= 0:
            continue
        out.append(
            _Face(
                index,
                vector / norm,
                norm,
                float(track.thumbnail_quality),
                None,
                int(track.first_frame),
                float(track.start),
                _jpeg(track.thumbnail) if track.thumbnail.size else None,
            )
        )
    return out


def _matrix(blobs: list[bytes]) -> npt.NDArray[np.float32]:
    if not blobs:
        return np.zeros((0, DIM), np.float32)
    return np.frombuffer(b"".join(blobs), "<f4").reshape(-1, DIM).astype(np.float32)
