"""1:N search speed, memory and recall of the gallery backends on synthetic templates.

What: a gallery of N subjects, one L2-normalised 128-d float32 template each (seeded
RNG, names like s0000123), searched top-10 with single-probe queries. Each query is
a random gallery vector plus gaussian noise (sigma 0.05), renormalised, so it has a
true nearest neighbour. Paths compared in the same run, for every size:

1. numpy: exact float32 matrix product + argpartition over the in-memory matrix
   (the reference for latency ratios and for recall@10's ground truth);
2. SQLiteStore.search (facescope embedded backend): its VectorIndex cache is
   exact below 100k templates and a FAISS PQ fast-scan + exact re-rank above;
   best-template-per-subject aggregation, names looked up in SQLite. Also timed:
   building the index on first search, writing the cache file on close, and
   reopening from the cache file;
3. PostgresStore.search (pgvector HNSW, cosine, ``EF_SEARCH``) with ``--postgres``;
4. deepface-style ``find``: representations as a pickled Python list of
   (name, list-of-floats), cosine distance computed row by row in a Python loop
   (only a few queries at large sizes, it is slow).

How: builds are timed separately from search. Both stores are bulk-loaded with
direct SQL into their own tables (executemany for SQLite, COPY for PostgreSQL), not
through ``add_templates``, which takes one subject per call/transaction; the
per-subject ``add_templates`` cost is measured on a small sample and printed. The
PostgreSQL HNSW index is dropped before the load and rebuilt after it; its build
time is shown separately. Memory is the process RSS delta (VmRSS from
/proc/self/status) around building each in-process path; for PostgreSQL it is the
server-side size of the table and of the HNSW index. Latency is wall time of one
top-10 search of one probe; p50/p99 over the queries. recall@10 is the share of the
exact top-10 subjects that the path returns; src@1 is the share of queries whose
rank-1 is the subject the query was made from.

"One core" figures: run with OMP_NUM_THREADS=1 (FAISS and BLAS then use one thread).

Run: python benchmarks/bench_search.py [--sizes 10000 100000 1000000] [--queries 200]
         [--postgres postgresql://facescope@127.0.0.1:54329/facescope_test]
(``bash scripts/postgres/start.sh`` starts a local server and prints its DSN.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from facescope.gallery.postgres_store import (
    EF_SEARCH,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    PostgresStore,
)
from facescope.gallery.sqlite_store import SQLiteStore
from facescope.gallery.store import TemplateRecord

DIM = 128
TOP_K = 10
NOISE = 0.05
MODEL, MODEL_VERSION = "synthetic", "1"

console = Console(width=240)
Matrix = npt.NDArray[np.float32]
Result = list[str]


def rss_mib() -> float:
    """Resident set size of this process, MiB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def normalise(x: Matrix) -> Matrix:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def content_hash(i: int) -> str:
    """A photo hash like the gallery's (SHA-256 hex), distinct per template."""
    return hashlib.sha256(str(i).encode()).hexdigest()


def subject_name(i: int) -> str:
    return f"s{i:07d}"


def make_data(n: int, n_queries: int, seed: int) -> tuple[Matrix, Matrix, npt.NDArray[np.int64]]:
    """(gallery, queries, index of each query's source template)."""
    rng = np.random.default_rng(seed)
    gallery = normalise(rng.standard_normal((n, DIM), dtype=np.float32))
    source = rng.choice(n, size=n_queries, replace=n_queries > n)
    noise = rng.normal(0.0, NOISE, (n_queries, DIM)).astype(np.float32)
    return gallery, normalise(gallery[source] + noise), source


def exact_top_k(gallery: Matrix, probe: Matrix, k: int) -> npt.NDArray[np.intp]:
    """Indices of the k highest cosine scores, best first (probe: (d,))."""
    scores = gallery @ probe
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def time_queries(
    search: Callable[[Matrix], Result], queries: Matrix
) -> tuple[npt.NDArray[np.float64], list[Result]]:
    """Latency (seconds) and returned subject names of each single-probe search."""
    latencies, results = [], []
    for probe in queries:
        start = time.perf_counter()
        names = search(probe)
        latencies.append(time.perf_counter() - start)
        results.append(names)
    return np.array(latencies), results


class Row:
    """One path's measurements at one size."""

    def __init__(self, path: str, build: str, index: str, memory: str, notes: str = "") -> None:
        self.path, self.build, self.index, self.memory, self.notes = (
            path,
            build,
            index,
            memory,
            notes,
        )
        self.latencies = np.zeros(0)
        self.results: list[Result] = []
        self.recall = self.src1 = float("nan")

    def score(self, truth: list[set[str]], sources: list[str]) -> None:
        results = self.results
        self.recall = float(
            np.mean([len(set(r[:TOP_K]) & t) / TOP_K for r, t in zip(results, truth, strict=False)])
        )
        self.src1 = float(
            np.mean([bool(r) and r[0] == s for r, s in zip(results, sources, strict=False)])
        )


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def bench_numpy(gallery: Matrix, queries: Matrix, names: list[str], mem: float) -> Row:
    row = Row("numpy exact (reference)", "-", "-", f"{mem:.0f} MiB", "float32 matmul+argpartition")
    latencies, results = time_queries(
        lambda p: [names[i] for i in exact_top_k(gallery, p, TOP_K)], queries
    )
    row.latencies, row.results = latencies, results
    return row


def bench_sqlite(gallery: Matrix, queries: Matrix, names: list[str], workdir: Path) -> Row:
    # per-subject add_templates cost on a small sample (one transaction per subject)
    sample = min(300, len(names))
    api_store = SQLiteStore(workdir / "api.sqlite")
    start = time.perf_counter()
    for i in range(sample):
        record = TemplateRecord(gallery[i], 1.0, 1.0, f"{names[i]}.jpg", content_hash(i))
        api_store.add_templates(names[i], [record], MODEL, MODEL_VERSION)
    api_ms = (time.perf_counter() - start) / sample * 1000
    api_store.close()

    store = SQLiteStore(workdir / "bench.sqlite")
    now = time.time()
    start = time.perf_counter()
    db: sqlite3.Connection = store._db
    batch = 10_000
    for lo in range(0, len(names), batch):
        hi = min(lo + batch, len(names))
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO subjects(id, name, metadata, created_at) VALUES (?, ?, '{}', ?)",
            [(i + 1, names[i], now) for i in range(lo, hi)],
        )
        db.executemany(
            "INSERT INTO templates(subject_id, model, model_version, embedding, norm, quality,"
            " source, content_hash, created_at) VALUES (?, ?, ?, ?, 1.0, 1.0, ?, ?, ?)",
            [
                (
                    i + 1,
                    MODEL,
                    MODEL_VERSION,
                    gallery[i].astype("<f4").tobytes(),
                    f"{names[i]}.jpg",
                    content_hash(i),
                    now,
                )
                for i in range(lo, hi)
            ],
        )
        db.execute("COMMIT")
    build = time.perf_counter() - start
    assert store.count() == (len(names), len(names))

    before = rss_mib()
    start = time.perf_counter()
    store.search(queries[:1], TOP_K)  # builds the search index from the database
    load = time.perf_counter() - start
    mem = rss_mib() - before
    index = store._index
    assert index is not None
    kind = "PQ fast-scan + exact re-rank" if index.quantized else "exact"
    index_mib = (index.vectors.nbytes + 24 * len(index) + 32 * len(index) * index.quantized) / 2**20
    latencies, results = time_queries(
        lambda p: [n for n, _ in store.search(p[None, :], TOP_K)[0]], queries
    )
    start = time.perf_counter()
    store.close()  # writes the search cache file of a large gallery
    save = time.perf_counter() - start
    reopen = ""
    if store.cache_path.exists():
        start = time.perf_counter()
        again = SQLiteStore(workdir / "bench.sqlite")
        again.search(queries[:1], TOP_K)
        reopen = f"; reopen+1st search from cache file {fmt_s(time.perf_counter() - start)}"
        again.close()
    row = Row(
        f"facescope embedded ({kind})",
        f"{fmt_s(build)} bulk SQL",
        f"{fmt_s(load)} 1st search",
        f"{mem:.0f} MiB RSS ({index_mib:.0f} MiB index)",
        f"add_templates API: {api_ms:.1f} ms/subject; close (cache write) {fmt_s(save)}{reopen}",
    )
    row.latencies = latencies
    row.results = results
    return row


def bench_postgres(gallery: Matrix, queries: Matrix, names: list[str], dsn: str) -> Row:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in dsn else "?"
    store = PostgresStore(f"{dsn}{sep}schema={schema}")
    db = store._db
    try:
        db.execute(f"DROP INDEX {schema}.templates_hnsw")
        now = time.time()
        vec_fmt = "[" + ",".join(["%.8g"] * DIM) + "]"
        start = time.perf_counter()
        with db.transaction(), db.cursor() as cur:
            with cur.copy(f"COPY {schema}.subjects (id, name, created_at) FROM STDIN") as copy:
                for i, name in enumerate(names):
                    copy.write_row((i + 1, name, now))
            with cur.copy(
                f"COPY {schema}.templates (subject_id, model, model_version, embedding, norm,"
                " quality, source, content_hash, created_at) FROM STDIN"
            ) as copy:
                for i, vector in enumerate(gallery.tolist()):
                    copy.write_row(
                        (
                            i + 1,
                            MODEL,
                            MODEL_VERSION,
                            vec_fmt % tuple(vector),
                            1.0,
                            1.0,
                            f"{names[i]}.jpg",
                            content_hash(i),
                            now,
                        )
                    )
        db.execute(f"ANALYZE {schema}.subjects")
        db.execute(f"ANALYZE {schema}.templates")
        build = time.perf_counter() - start
        assert store.count() == (len(names), len(names))

        db.execute("SET maintenance_work_mem = '1GB'")
        start = time.perf_counter()
        db.execute(
            f"CREATE INDEX templates_hnsw ON {schema}.templates"
            " USING hnsw (embedding vector_cosine_ops)"
            f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        )
        index = time.perf_counter() - start
        db.execute(f"ANALYZE {schema}.templates")
        sizes = db.execute(
            "SELECT pg_total_relation_size(%s) - pg_indexes_size(%s), pg_relation_size(%s)",
            (f"{schema}.templates", f"{schema}.templates", f"{schema}.templates_hnsw"),
        ).fetchone()
        assert sizes is not None
        literal = "[" + ",".join(["0"] * (DIM - 1) + ["1"]) + "]"
        plan = "\n".join(
            str(r[0])
            for r in db.execute(
                f"EXPLAIN SELECT s.name FROM {schema}.templates t JOIN {schema}.subjects s"
                " ON s.id = t.subject_id ORDER BY t.embedding <=> %s::vector LIMIT 50",
                (literal,),
            ).fetchall()
        )
        uses_index = "templates_hnsw" in plan
        latencies, results = time_queries(
            lambda p: [n for n, _ in store.search(p[None, :], TOP_K)[0]], queries
        )
    finally:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        store.close()
    mib = 1024 * 1024
    row = Row(
        f"PostgresStore.search (HNSW m={HNSW_M}, ef={EF_SEARCH})",
        f"{fmt_s(build)} COPY",
        f"{fmt_s(index)} HNSW build",
        f"server: table {sizes[0] / mib:.0f} + index {sizes[1] / mib:.0f} MiB",
        "plan uses HNSW" if uses_index else "plan does NOT use HNSW (seq scan)",
    )
    row.latencies = latencies
    row.results = results
    return row


def bench_find(
    gallery: Matrix, queries: Matrix, names: list[str], workdir: Path, n_queries: int
) -> Row:
    pkl = workdir / "representations.pkl"
    start = time.perf_counter()
    with pkl.open("wb") as fh:
        pickle.dump([(n, v) for n, v in zip(names, gallery.tolist(), strict=True)], fh)
    build = time.perf_counter() - start
    before = rss_mib()
    start = time.perf_counter()
    with pkl.open("rb") as fh:
        representations: list[tuple[str, list[float]]] = pickle.load(fh)
    load = time.perf_counter() - start
    mem = rss_mib() - before

    def find(probe: Matrix) -> Result:
        distances = []
        for name, embedding in representations:
            target = np.asarray(embedding)
            cosine = np.dot(probe, target) / (np.linalg.norm(probe) * np.linalg.norm(target))
            distances.append((1.0 - cosine, name))
        distances.sort()
        return [name for _, name in distances[:TOP_K]]

    latencies, results = time_queries(find, queries[:n_queries])
    representations.clear()
    row = Row(
        "deepface-style find (pickle+loop)",
        f"{fmt_s(build)} pickle",
        f"{fmt_s(load)} unpickle",
        f"{mem:.0f} MiB",
        f"{n_queries} queries only",
    )
    row.latencies = latencies
    row.results = results
    return row


def run_size(n: int, args: argparse.Namespace) -> None:
    before = rss_mib()
    gallery, queries, source = make_data(n, args.queries, args.seed + n)
    mem = rss_mib() - before - queries.nbytes / 2**20
    names = [subject_name(i) for i in range(n)]
    truth = [{names[i] for i in exact_top_k(gallery, q, TOP_K)} for q in queries]
    sources = [names[i] for i in source]
    find_queries = min(args.queries, args.find_queries if n > 20_000 else 20)

    rows = [bench_numpy(gallery, queries, names, mem)]
    with tempfile.TemporaryDirectory(prefix="bench_search_") as tmp:
        console.log(f"N={n}: SQLiteStore")
        rows.append(bench_sqlite(gallery, queries, names, Path(tmp)))
        if args.postgres and n <= args.postgres_max:
            console.log(f"N={n}: PostgresStore")
            rows.append(bench_postgres(gallery, queries, names, args.postgres))
        console.log(f"N={n}: deepface-style find ({find_queries} queries)")
        rows.append(bench_find(gallery, queries, names, Path(tmp), find_queries))

    for row in rows:
        row.score(truth[: len(row.results)], sources[: len(row.results)])

    ref = float(np.median(rows[0].latencies))
    table = Table(
        title=f"N = {n:,} subjects x 1 template, {DIM}-d, top-{TOP_K}, "
        f"{args.queries} single-probe queries (noise sigma {NOISE})"
    )
    for col in (
        "path",
        "build",
        "index / load",
        "memory",
        "p50",
        "p99",
        "p50 vs numpy",
        "recall@10",
        "src@1",
        "notes",
    ):
        table.add_column(col, justify="left" if col in ("path", "notes", "memory") else "right")
    for row in rows:
        p50, p99 = np.percentile(row.latencies, [50, 99])
        table.add_row(
            row.path,
            row.build,
            row.index,
            row.memory,
            fmt_s(p50),
            fmt_s(p99),
            f"{p50 / ref:.1f}x" if p50 >= ref else f"{p50 / ref:.2f}x",
            f"{row.recall:.3f}",
            f"{row.src1:.3f}",
            row.notes,
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--find-queries", type=int, default=5, help="deepface-style queries above 20k subjects"
    )
    parser.add_argument("--postgres", help="DSN of a PostgreSQL server with pgvector")
    parser.add_argument(
        "--postgres-max", type=int, default=100_000, help="largest size run on PostgreSQL"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS")
    console.log(f"cpus={os.cpu_count()} BLAS threads env={threads or 'unset'}")
    for n in args.sizes:
        run_size(n, args)


if __name__ == "__main__":
    main()
