"""The embedded gallery's in-memory search index: a cache of the SQLite templates.

Small galleries are searched exactly (one matrix product). From
:data:`QUANTIZE_MIN` templates on, a two-stage search takes over:

1. a FAISS product-quantisation scan (64 sub-quantisers of 4 bits, FAISS's
   SIMD "fast scan" layout; 32 bytes per template) ranks every template
   approximately;
2. the best ``candidates`` of them are re-scored exactly against the float32
   templates kept alongside, and the exact scores are what is returned.

Unlike a graph index (HNSW), the first stage looks at every template, so its
recall does not collapse on the near-ties of high-dimensional data, and a
template can be deleted for real (erasure), not just hidden.

Rows are identified by the template id of the database and carry the subject
id and a fingerprint of the stored row, so the cache can be checked against
the database row by row (:meth:`VectorIndex.diff`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Template count from which search switches from exact to quantised + re-rank.
QUANTIZE_MIN = 100_000
#: Below this the quantiser is dropped again (hysteresis against flapping).
QUANTIZE_DROP = QUANTIZE_MIN // 2
#: Candidates re-scored exactly: at least this many (chosen for the recall@10 target
#: of 0.98 at 1M uniformly random templates; benchmarks/bench_search.py measures it),
#: and at least RERANK_FACTOR per wanted template.
RERANK_MIN = 640
RERANK_FACTOR = 4
#: Templates the quantiser is trained on (a seeded sample).
TRAIN_SAMPLE = 100_000
#: Retrain the codebooks when the gallery has grown this much since training.
RETRAIN_GROWTH = 4.0
#: FACESCOPE_INDEX=exact forces exact search; quantized forces the two stages.
INDEX_ENV = "FACESCOPE_INDEX"

_MAGIC = b"FSIDX1\n"

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Hits:
    """Search results for one probe: template rows, best first."""

    template_ids: Int64s
    subject_ids: Int64s
    scores: Floats


class VectorIndex:
    """Templates (id, subject id, fingerprint, vector) with exact or quantised search."""

    def __init__(self, dim: int = 128, mode: str | None = None) -> None:
        mode = mode or os.environ.get(INDEX_ENV, "auto")
        if mode not in ("auto", "exact", "quantized"):
            raise ValueError(f"{INDEX_ENV} must be auto, exact or quantized, not {mode!r}")
        self.dim = dim
        self.mode = mode
        self.ids: Int64s = np.zeros(0, np.int64)
        self.subject_ids: Int64s = np.zeros(0, np.int64)
        self.fingerprints: Int64s = np.zeros(0, np.int64)
        self.vectors: Floats = np.zeros((0, dim), np.float32)
        self._pq: Any = None  # faiss.IndexPQ: the codes, in row order
        self._scan: Any = None  # faiss.IndexPQFastScan built from _pq
        self._trained_on = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def quantized(self) -> bool:
        """Whether the two-stage (quantised, then exact) search is in use."""
        return self._pq is not None

    # ---- changes ---------------------------------------------------------------------

    def add(self, ids: Int64s, subject_ids: Int64s, fingerprints: Int64s, vectors: Floats) -> None:
        """Append rows (ids must not be present already)."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(-1, self.dim)
        self.ids = np.concatenate([self.ids, np.asarray(ids, np.int64)])
        self.subject_ids = np.concatenate([self.subject_ids, np.asarray(subject_ids, np.int64)])
        self.fingerprints = np.concatenate([self.fingerprints, np.asarray(fingerprints, np.int64)])
        self.vectors = np.concatenate([self.vectors, vectors])
        if self._pq is not None and len(self) <= RETRAIN_GROWTH * self._trained_on:
            self._pq.add(vectors)
            self._scan = None
        else:
            self._pq = None
        self._fit_quantizer()

    def remove(self, ids: Int64s) -> int:
        """Delete rows by template id, from the vectors and the codes alike."""
        gone = np.isin(self.ids, np.asarray(ids, np.int64))
        count = int(gone.sum())
        if count == 0:
            return 0
        keep = ~gone
        self.ids, self.subject_ids = self.ids[keep], self.subject_ids[keep]
        self.fingerprints, self.vectors = self.fingerprints[keep], self.vectors[keep]
        if self._pq is not None:
            import faiss

            positions = np.flatnonzero(gone).astype(np.int64)
            self._pq.remove_ids(faiss.IDSelectorArray(positions))
            self._scan = None
        self._fit_quantizer()
        return count

    def diff(self, ids: Int64s, subject_ids: Int64s, fingerprints: Int64s) -> tuple[Int64s, Int64s]:
        """Compare with the database's rows: (ids to fetch and add, ids to remove).

        A row whose subject or fingerprint differs from the cached one is both
        removed and re-added, so a reused id can never keep a stale vector.
        """
        ids = np.asarray(ids, np.int64)
        _, at_db, at_cache = np.intersect1d(ids, self.ids, assume_unique=True, return_indices=True)
        changed = (subject_ids[at_db] != self.subject_ids[at_cache]) | (
            fingerprints[at_db] != self.fingerprints[at_cache]
        )
        redo = ids[at_db][changed]
        missing = np.union1d(np.setdiff1d(ids, self.ids, assume_unique=True), redo)
        stale = np.union1d(np.setdiff1d(self.ids, ids, assume_unique=True), redo)
        return missing.astype(np.int64), stale.astype(np.int64)

    def _fit_quantizer(self) -> None:
        wanted = self.mode == "quantized" or (
            self.mode == "auto"
            and (len(self) >= QUANTIZE_MIN or (self._pq is not None and len(self) >= QUANTIZE_DROP))
        )
        if not wanted or len(self) < 256:
            self._pq = self._scan = None
            return
        if self._pq is not None:
            return
        import faiss

        rng = np.random.default_rng(0)
        sample = self.vectors
        if len(sample) > TRAIN_SAMPLE:
            sample = sample[np.sort(rng.choice(len(sample), TRAIN_SAMPLE, replace=False))]
        pq = faiss.IndexPQ(self.dim, self.dim // 2, 4, faiss.METRIC_INNER_PRODUCT)
        pq.train(np.ascontiguousarray(sample))
        pq.add(self.vectors)
        self._pq, self._scan, self._trained_on = pq, None, len(self)

    # ---- search ----------------------------------------------------------------------

    def search(self, probe: Floats, n: int) -> Hits:
        """The `n` best rows for one L2-normalised probe, by exact cosine score."""
        n = min(n, len(self))
        if n <= 0:
            empty = np.zeros(0, np.int64)
            return Hits(empty, empty, np.zeros(0, np.float32))
        probe = np.ascontiguousarray(probe, np.float32).reshape(self.dim)
        rows: npt.NDArray[np.int64] | None = None  # None: every row, in order
        if self._pq is None:
            scores = self.vectors @ probe
        else:
            wanted = max(RERANK_MIN, n * RERANK_FACTOR)
            rows = self._candidates(probe, min(len(self), wanted))
            scores = self.vectors[rows] @ probe
        head = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        head = head[np.argsort(-scores[head], kind="stable")]
        picked = head if rows is None else rows[head]
        return Hits(self.ids[picked], self.subject_ids[picked], scores[head])

    def _candidates(self, probe: Floats, count: int) -> npt.NDArray[np.int64]:
        import faiss

        if self._scan is None:
            self._scan = faiss.IndexPQFastScan(self._pq)
        # one probe is too little work to share: OpenMP threads only contend
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            _, rows = self._scan.search(probe[None, :], count)
        finally:
            faiss.omp_set_num_threads(threads)
        found: npt.NDArray[np.int64] = rows[0]
        return found[found >= 0]

    # ---- persistence -----------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialise rows, vectors and (if any) the quantiser's codes."""
        import faiss

        header = {"dim": self.dim, "rows": len(self), "trained_on": self._trained_on}
        parts: list[npt.NDArray[Any]] = [
            self.ids,
            self.subject_ids,
            self.fingerprints,
            self.vectors,
        ]
        codes = b"" if self._pq is None else bytes(faiss.serialize_index(self._pq))
        header["codes"] = len(codes)
        buffer = io.BytesIO()
        raw_header = json.dumps(header).encode()
        buffer.write(_MAGIC + len(raw_header).to_bytes(4, "little") + raw_header)
        for part in parts:
            buffer.write(np.ascontiguousarray(part).astype(part.dtype.newbyteorder("<")).tobytes())
        buffer.write(codes)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, dim: int, mode: str | None = None) -> VectorIndex:
        """Inverse of :meth:`to_bytes`; raises ValueError on anything malformed."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a facescope index cache")
        view = memoryview(data)[len(_MAGIC) :]
        size = int.from_bytes(view[:4], "little")
        header = json.loads(bytes(view[4 : 4 + size]))
        if header.get("dim") != dim:
            raise ValueError(f"index cache has dimension {header.get('dim')}, not {dim}")
        rows = int(header["rows"])
        offset = 4 + size

        def take(dtype: str, count: int) -> npt.NDArray[np.generic]:
            nonlocal offset
            width = np.dtype(dtype).itemsize * count
            if offset + width > len(view):
                raise ValueError("index cache is truncated")
            array = np.frombuffer(view[offset : offset + width], dtype=dtype).copy()
            offset += width
            return array

        index = cls(dim, mode)
        index.ids = take("<i8", rows).astype(np.int64)
        index.subject_ids = take("<i8", rows).astype(np.int64)
        index.fingerprints = take("<i8", rows).astype(np.int64)
        index.vectors = take("<f4", rows * dim).astype(np.float32).reshape(rows, dim)
        codes = int(header["codes"])
        if codes:
            import faiss

            blob = take("u1", codes).astype(np.uint8)
            pq = faiss.deserialize_index(blob)
            if pq.ntotal != rows:
                raise ValueError("index cache codes do not match its rows")
            index._pq, index._trained_on = pq, int(header["trained_on"])
        if offset != len(view):
            raise ValueError("index cache has trailing data")
        index._fit_quantizer()
        return index


def fingerprint(content_hash: str) -> int:
    """A row's 60-bit fingerprint: its photo's SHA-256 (hex), or a hash of another label."""
    head = content_hash[:15]
    try:
        if len(head) == 15:
            return int(head, 16)
    except ValueError:
        pass
    return int(hashlib.sha256(content_hash.encode()).hexdigest()[:15], 16)


def chunks(values: Int64s, size: int = 900) -> Iterator[list[int]]:
    """`values` in lists of at most `size` (SQLite's bound-parameter limit is 999+)."""
    for start in range(0, len(values), size):
        yield values[start : start + size].tolist()
