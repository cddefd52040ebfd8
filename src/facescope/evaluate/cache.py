"""An on-disk embedding cache, so that re-running an evaluation costs no inference.

Entries live in one SQLite file (WAL journal, safe to reuse across runs and to
share between processes) keyed by

* the SHA-256 of the image file's bytes (renaming or moving a file keeps its
  entry; editing it does not),
* the model name and its version: the pinned SHA-256 of every weight file the
  model's output depends on (detector included) and, for SFace, the arithmetic
  chosen by ``FACESCOPE_SFACE_PRECISION``,
* the ``assume_aligned`` setting.

Each entry holds the L2-normalised float32 vector and its raw norm, or the
reason no vector could be made (no face, undecodable file), so failures are
cached and counted too, never silently dropped.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.align.photometric import PHOTOMETRIC_VERSION
from facescope.detect.faces import detector_name
from facescope.embed.recognizers import RECOGNIZER_NAMES, SFACE_PRECISION_ENV, embedding_dim
from facescope.evaluate.datasets import Dataset
from facescope.models.registry import model_file
from facescope.pipeline import embed_largest_faces

__all__ = [
    "CACHE_ENV",
    "CachedEntry",
    "EmbeddedDataset",
    "EmbeddingCache",
    "default_cache_path",
    "embed_dataset",
    "file_sha256",
    "model_version",
]

#: Environment variable overriding the default cache file.
CACHE_ENV = "FACESCOPE_CACHE"
CACHE_FILE = "embeddings.sqlite3"

#: Weight files (registry keys) whose bytes determine each model's output.
MODEL_WEIGHTS: dict[str, tuple[str, ...]] = {
    "sface": ("yunet", "sface"),
    "dlib": ("yunet", "dlib_resnet", "dlib_shape5"),
    "arcface": ("yunet", "arcface_mbf"),
}
#: The weight file of each detector other than YuNet (whose pin is in MODEL_WEIGHTS).
_DETECTOR_WEIGHTS = {"retinaface": "retinaface_mnet025", "scrfd": "scrfd_500m"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    image_sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    aligned TEXT NOT NULL,
    vector BLOB,
    norm REAL,
    failure TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (image_sha256, model, model_version, aligned)
)
"""

Progress = Callable[[Iterable[Any]], Iterable[Any]]


def default_cache_path() -> Path:
    """``$FACESCOPE_CACHE`` (a file, or a folder to hold the file), else the user cache."""
    override = os.environ.get(CACHE_ENV)
    if override:
        path = Path(override).expanduser()
        return path / CACHE_FILE if path.is_dir() else path
    return Path.home() / ".cache" / "facescope" / CACHE_FILE


def model_version(model: str) -> str:
    """The cache key's version of `model`: its weight pins (SFace's precision, the detector)."""
    try:
        keys = MODEL_WEIGHTS[model]
    except KeyError:
        raise ValueError(
            f"unknown model {model!r}; choose one of: {', '.join(RECOGNIZER_NAMES)}"
        ) from None
    pins = "+".join(f"{key}:{model_file(key).sha256}" for key in keys)
    if model == "sface":
        pins += f"|{os.environ.get(SFACE_PRECISION_ENV, 'fp32')}"
    detector = detector_name()  # FACESCOPE_DETECTOR: other landmarks, other embeddings
    if detector != "yunet":
        pins += f"|detector={detector}:{model_file(_DETECTOR_WEIGHTS[detector]).sha256}"
    # dark faces are brightened before embedding (facescope.align.photometric)
    return pins + f"|{PHOTOMETRIC_VERSION}"


def file_sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _aligned_key(assume_aligned: bool | None) -> str:
    return "auto" if assume_aligned is None else str(bool(assume_aligned)).lower()


@dataclass(frozen=True)
class CachedEntry:
    """One cached result: a vector and its raw norm, or why there is none."""

    vector: npt.NDArray[np.float32] | None
    norm: float | None
    failure: str | None

    @property
    def ok(self) -> bool:
        """Whether a vector was made."""
        return self.vector is not None


class EmbeddingCache:
    """Embeddings on disk in SQLite, keyed by image content, model version and alignment."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # closing() closes the file; `with db` makes one transaction (commit or roll back).
        with closing(sqlite3.connect(self.path, timeout=60.0)) as db, db:
            yield db

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def get_many(
        self, shas: Sequence[str], model: str, assume_aligned: bool | None = None
    ) -> dict[str, CachedEntry]:
        """Cached entries for these image digests (absent digests are left out)."""
        version, aligned = model_version(model), _aligned_key(assume_aligned)
        found: dict[str, CachedEntry] = {}
        unique = sorted(set(shas))
        with self._connect() as db:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT image_sha256, vector, norm, failure FROM embeddings WHERE model=? "
                    f"AND model_version=? AND aligned=? AND image_sha256 IN ({marks})",
                    (model, version, aligned, *chunk),
                ).fetchall()
                for sha, blob, norm, failure in rows:
                    vector = (
                        np.frombuffer(blob, dtype=np.float32).copy() if blob is not None else None
                    )
                    if vector is not None and vector.shape != (embedding_dim(model),):
                        continue  # a damaged entry: recompute it
                    found[sha] = CachedEntry(vector, norm, failure)
        return found

    def put_many(
        self,
        entries: dict[str, CachedEntry],
        model: str,
        assume_aligned: bool | None = None,
    ) -> None:
        """Store (or replace) entries keyed by image digest."""
        version, aligned, now = model_version(model), _aligned_key(assume_aligned), time.time()
        rows = [
            (
                sha,
                model,
                version,
                aligned,
                None if e.vector is None else np.asarray(e.vector, np.float32).tobytes(),
                e.norm,
                e.failure,
                now,
            )
            for sha, e in entries.items()
        ]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?,?,?,?)", rows)

    def get(self, sha: str, model: str, assume_aligned: bool | None = None) -> CachedEntry | None:
        """The cached entry for one image digest, or None."""
        return self.get_many([sha], model, assume_aligned).get(sha)

    def put(
        self, sha: str, model: str, entry: CachedEntry, assume_aligned: bool | None = None
    ) -> None:
        """Store one entry."""
        self.put_many({sha: entry}, model, assume_aligned)

    def clear(self) -> None:
        """Delete every entry."""
        with self._connect() as db:
            db.execute("DELETE FROM embeddings")


@dataclass
class EmbeddedDataset:
    """A dataset's embeddings, one row per image.

    Attributes:
        vectors: per model, (n_images, 128) float32 L2-normalised rows; NaN rows
            where no vector could be made.
        found: (n_images,) bool; True where every model has a vector.
        failures: per failed image path, the reason (no face, unreadable file).
        cached_hits: (image, model) results read from the cache.
        computed: (image, model) results produced by inference in this call
            (``cached_hits + computed == n_images * len(models)``).
    """

    vectors: dict[str, npt.NDArray[np.float32]]
    found: npt.NDArray[np.bool_]
    failures: dict[str, str]
    cached_hits: int = 0
    computed: int = 0


def embed_dataset(
    dataset: Dataset,
    models: Sequence[str],
    *,
    cache: EmbeddingCache | None,
    assume_aligned: bool | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> EmbeddedDataset:
    """Embed the largest face of every image with each model, through the cache.

    Only the (image, model) entries missing from the cache are computed, in
    batches with :func:`facescope.pipeline.embed_largest_faces`, and each batch
    is written to the cache as soon as it is done (an interrupted run keeps its
    work). Images with identical bytes are embedded once. Files that cannot be
    read are reported in `failures` (and, having no digest, are not cached).

    Args:
        models: recogniser names (``"sface"``, ``"dlib"``).
        cache: where entries are kept; None computes everything, caching nothing.
        assume_aligned: as in :func:`facescope.detect`; part of the cache key.
        batch_size: images per inference batch (and per cache write).
        progress: wraps the iterable of images to compute (e.g. ``rich.progress.track``).
    """
    models = list(dict.fromkeys(models))
    if not models:
        raise ValueError("embed_dataset needs at least one model")
    for model in models:
        model_version(model)  # validates the name
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(dataset.paths)
    vectors = {m: np.full((n, embedding_dim(m)), np.nan, np.float32) for m in models}
    reasons: dict[int, str] = {}
    shas: list[str | None] = []
    for i, path in enumerate(dataset.paths):
        try:
            shas.append(file_sha256(path))
        except OSError as exc:
            shas.append(None)
            reasons[i] = f"cannot read file: {exc.strerror or exc}"
    known: dict[str, dict[str, CachedEntry]] = {m: {} for m in models}
    if cache is not None:
        digests = [s for s in shas if s is not None]
        for m in models:
            known[m] = cache.get_many(digests, m, assume_aligned)
    hits = sum(1 for m in models for s in shas if s is not None and s in known[m])
    # One inference per distinct content still missing for some model.
    todo: dict[str, tuple[Path, tuple[str, ...]]] = {}
    for i, sha in enumerate(shas):
        if sha is None or sha in todo:
            continue
        missing = tuple(m for m in models if sha not in known[m])
        if missing:
            todo[sha] = (dataset.paths[i], missing)
    by_models: dict[tuple[str, ...], list[tuple[str, Path]]] = {}
    for sha, (path, missing) in todo.items():
        by_models.setdefault(missing, []).append((sha, path))
    jobs = [(missing, sha, path) for missing, items in by_models.items() for sha, path in items]
    stream: Iterable[tuple[tuple[str, ...], str, Path]] = progress(jobs) if progress else jobs
    batch: list[tuple[tuple[str, ...], str, Path]] = []
    for job in stream:
        if batch and job[0] != batch[0][0]:
            _compute(batch, known, cache, assume_aligned, batch_size)
            batch = []
        batch.append(job)
        if len(batch) >= batch_size:
            _compute(batch, known, cache, assume_aligned, batch_size)
            batch = []
    if batch:
        _compute(batch, known, cache, assume_aligned, batch_size)
    computed = sum(1 for m in models for s in shas if s is not None) - hits
    for i, sha in enumerate(shas):
        if sha is None:
            continue
        failed: list[str] = []
        for m in models:
            entry = known[m][sha]
            if entry.vector is not None:
                vectors[m][i] = entry.vector
            else:
                failed.append(f"{m}: {entry.failure}")
        if failed:
            messages = {text.split(": ", 1)[1] for text in failed}
            reasons[i] = messages.pop() if len(messages) == 1 else "; ".join(failed)
    found = np.ones(n, bool)
    found[list(reasons)] = False
    failures = {str(dataset.paths[i]): reasons[i] for i in sorted(reasons)}
    return EmbeddedDataset(vectors, found, failures, cached_hits=hits, computed=computed)


def _compute(
    batch: list[tuple[tuple[str, ...], str, Path]],
    known: dict[str, dict[str, CachedEntry]],
    cache: EmbeddingCache | None,
    assume_aligned: bool | None,
    batch_size: int,
) -> None:
    """Embed one batch (all missing the same models) and record it in `known` and the cache."""
    models = batch[0][0]
    result = embed_largest_faces(
        [path for _, _, path in batch], models, assume_aligned=assume_aligned, batch_size=batch_size
    )
    rows = np.cumsum(result.found) - 1
    for m in models:
        emb = result.embeddings[m]
        fresh: dict[str, CachedEntry] = {}
        for k, (_, sha, _) in enumerate(batch):
            if result.found[k]:
                row = int(rows[k])
                fresh[sha] = CachedEntry(
                    emb.vectors[row].astype(np.float32), float(emb.norms[row]), None
                )
            else:
                fresh[sha] = CachedEntry(None, None, result.errors.get(k, "no face found"))
        known[m].update(fresh)
        if cache is not None:
            cache.put_many(fresh, m, assume_aligned)
