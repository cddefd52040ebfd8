"""Loopback load test of the REST service: identify against a 10k-subject gallery.

What is measured
----------------
N concurrent clients post one 640x480 single-face JPEG to
``POST /v1/collections/default/identify`` (multipart, field ``image``) for
``--duration`` seconds each, against a ``facescope serve`` subprocess on 127.0.0.1
whose default collection holds 10,000 subjects: 9,999 synthetic ones (random unit
128-d templates, one each, bulk-inserted into the gallery's SQLite file like
``bench_search.py`` does) and "Barack Obama", enrolled for real from
``tests/data/obama_1.jpg``. The probe is ``tests/data/obama_2.jpg`` scaled to 640 px
wide and letterboxed onto a grey 640x480 canvas.

Each client is a thread with its own ``httpx.Client`` (one keep-alive connection).
Every client sends two warm-up requests first (not counted); then all start
together. A request counts as an error when it raises, is not 200, or does not
name "Barack Obama" as the identity of its one face. Reported per N: requests,
throughput (correct responses / wall time), latency p50/p95/p99/max as the client
sees it, errors, the server's own mean time per request (from its /metrics
histogram, so the client + loopback share can be told apart) and the CPU used by
the server and by this load generator (it shares the machine's cores with the
server, which matters on a small machine).

Then the in-process baseline, with the server stopped: ``Gallery.open(DIR)``
``.identify(probe_bytes)`` called serially in this process, under the same thread
settings, for the same duration. HTTP overhead = service p50 at 1 client minus
in-process p50 (and their ratio).

Thread settings
---------------
The server computes requests in a thread pool of ``FACESCOPE_SERVICE_MAX_CONCURRENT``
(service default 4); YuNet detection (OpenCV, pthreads pool of
``OPENCV_FOR_THREADS_NUM``, default one per CPU) runs one image at a time under a
lock; SFace runs on ONNX Runtime with ``FACESCOPE_THREADS`` intra-op threads
(default one per physical core). The defaults below (``--threads``,
``--max-concurrent``, ``--cv-threads``) are the best of the settings measured on a
2-core machine; they are passed to the server subprocess and applied to this process
for the baseline. The service's per-client rate limit (600/min by default, and all
loopback clients are one client) is lifted with
``FACESCOPE_SERVICE_RATE_PER_MINUTE`` (``--rate-per-minute``): at 600/min (10 req/s
once the 600-request burst is spent) a sustained run would collect 429s.

How to run
----------
::

    python benchmarks/bench_service.py --clients 1 4 --duration 60 --json out/bench_service.json
    python benchmarks/bench_service.py --clients 1 2 4 8 --duration 20       # a sweep
    python benchmarks/bench_service.py --threads auto --max-concurrent 4    # service defaults
    python benchmarks/bench_service.py --matrix --before 14dc1ab --clients 1 4 --rounds 3 \
        --duration 12                                   # deployments, and the code before

``--data DIR`` builds the gallery there (or reuses one this script built) instead of
in a temporary folder. Targets on a 2-core machine: zero errors, p50 <= 100 ms.
``--json`` also keeps every request's latency.

Findings (2 vCPU AMD EPYC; thread settings compared in 15 s runs, the rest 60 s)
--------------------------------------------------------------------------------
* ``FACESCOPE_THREADS=1`` is the setting that matters: with ORT's default (one
  intra-op thread per core, i.e. 2) 1-client p50 was 119 ms vs 80 ms with 1 thread
  (identify's ``list()`` cost taken out, see below), and 204 vs 165 ms as the
  service is. ``FACESCOPE_SERVICE_MAX_CONCURRENT`` 2 and 4 were equal within noise
  with the cost taken out (13.5-13.9 req/s at 4 clients); as the service is, 4 was
  slightly better (6.2 vs 5.4-5.6 req/s, p50 620 vs 700 ms at 4 clients); 1 was
  worst (no overlap of one request's detection with another's embedding).
  ``OPENCV_FOR_THREADS_NUM=1`` changed nothing measurable.
* An early version of the identify route listed every subject (``gallery.list()``,
  50-145 ms at 10k subjects, under the collection lock) for the response's subject
  count: 1-client p50 was ~175 ms and throughput capped at ~6.5 req/s. It now uses
  the store's cached count. Measured on 2026-12-02 after that fix (60 s per N):
  1 client p50 70.8 ms, 14.3 req/s; 2 clients p50 133 ms; 4 clients p50 240 ms,
  16.7 req/s; in-process serial p50 60.0 ms, 16.8 req/s; zero errors. The server
  is CPU-bound from 2 clients on (~1.93 of 2 cores, ~120 ms of CPU per request,
  as detection alone uses OpenCV's thread pool), so on 2 cores only N = 1 meets
  p50 <= 100 ms; more clients queue, and throughput equals in-process serial.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data"
ENROL_PHOTO = TEST_DATA / "obama_1.jpg"
PROBE_PHOTO = TEST_DATA / "obama_2.jpg"
PERSON = "Barack Obama"
SUBJECTS = 10_000
PROBE_SIZE = (640, 480)
ROUTE = "/v1/collections/{collection}/identify"
IDENTIFY_PATH = "/v1/collections/default/identify"
WARM_UP_REQUESTS = 2
TARGET_P50_MS = 100.0

console = Console(width=200)


# ---- settings --------------------------------------------------------------------------


def thread_env(args: argparse.Namespace) -> dict[str, str | None]:
    """Environment of the server (and of the baseline): None unsets a variable."""
    auto = {"auto": None}
    return {
        "FACESCOPE_THREADS": auto.get(args.threads, args.threads),
        "OPENCV_FOR_THREADS_NUM": auto.get(args.cv_threads, args.cv_threads),
        "OMP_NUM_THREADS": auto.get(args.omp_threads, args.omp_threads),
        "FACESCOPE_SERVICE_MAX_CONCURRENT": str(args.max_concurrent),
        "FACESCOPE_SERVICE_RATE_PER_MINUTE": str(args.rate_per_minute),
    }


def apply_env(env: dict[str, str], values: dict[str, str | None]) -> dict[str, str]:
    for name, value in values.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# ---- the gallery and the probe ---------------------------------------------------------


def make_probe() -> bytes:
    """``obama_2.jpg`` scaled to 640 px wide, letterboxed on a grey 640x480 canvas (JPEG)."""
    import cv2
    import numpy as np

    photo = cv2.imread(str(PROBE_PHOTO))
    if photo is None:
        raise SystemExit(f"cannot read {PROBE_PHOTO}")
    width, height = PROBE_SIZE
    scale = min(width / photo.shape[1], height / photo.shape[0])
    new_w, new_h = round(photo.shape[1] * scale), round(photo.shape[0] * scale)
    resized = cv2.resize(photo, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise SystemExit("cannot encode the probe")
    return encoded.tobytes()


def synthetic_templates(n: int, seed: int) -> tuple[list[str], npt.NDArray[np.float32], list[str]]:
    """Names, random unit templates and distinct content hashes, as bench_search makes them."""
    import numpy as np
    from bench_search import DIM, content_hash, normalise, subject_name

    rng = np.random.default_rng(seed)
    vectors = normalise(rng.standard_normal((n, DIM), dtype=np.float32))
    return [subject_name(i) for i in range(n)], vectors, [content_hash(i) for i in range(n)]


def gallery_state(folder: Path) -> tuple[int, int, bool] | None:
    """(subjects, templates, whether PERSON is enrolled) of the gallery there, or None."""
    import sqlite3

    from facescope.gallery.gallery import DB_NAME

    path = folder / DB_NAME
    if not path.is_file():
        return None
    with sqlite3.connect(path) as db:
        subjects, templates = db.execute(
            "SELECT (SELECT COUNT(*) FROM subjects), (SELECT COUNT(*) FROM templates)"
        ).fetchone()
        person = db.execute("SELECT 1 FROM subjects WHERE name = ?", (PERSON,)).fetchone()
    return int(subjects), int(templates), person is not None


def build_gallery(folder: Path, n_subjects: int, seed: int) -> dict[str, Any]:
    """n_subjects - 1 synthetic subjects (bulk SQL) plus PERSON enrolled from a photo."""
    import sqlite3

    from facescope.gallery import Gallery
    from facescope.gallery.gallery import DB_NAME

    start = time.perf_counter()
    with Gallery.open(folder) as gallery:  # creates the schema and the model metadata
        model, version = gallery.model, gallery.model_version
    names, vectors, hashes = synthetic_templates(n_subjects - 1, seed)
    now = time.time()
    # one transaction through a connection of our own (the store's connection then sees
    # the commit through PRAGMA data_version, so none of its caches goes stale)
    with sqlite3.connect(folder / DB_NAME, isolation_level=None) as db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO subjects(id, name, metadata, created_at) VALUES (?, ?, '{}', ?)",
            [(i + 1, name, now) for i, name in enumerate(names)],
        )
        db.executemany(
            "INSERT INTO templates(subject_id, model, model_version, embedding, norm, quality,"
            " source, content_hash, created_at) VALUES (?, ?, ?, ?, 1.0, 1.0, ?, ?, ?)",
            [
                (i + 1, model, version, vectors[i].astype("<f4").tobytes(), f"{name}.jpg", h, now)
                for i, (name, h) in enumerate(zip(names, hashes, strict=True))
            ],
        )
        db.execute("COMMIT")
    bulk = time.perf_counter() - start
    with Gallery.open(folder) as gallery:
        gallery.enroll(PERSON, [ENROL_PHOTO])
        counts = (len(gallery.list()), len(gallery))
    total = time.perf_counter() - start
    if counts != (n_subjects, n_subjects):
        raise SystemExit(f"gallery has {counts} subjects/templates, expected {n_subjects}")
    return {"model": f"{model} {version}", "bulk_s": bulk, "total_s": total}


def prepare_gallery(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    state = gallery_state(folder)
    if state is not None:
        if state != (args.subjects, args.subjects, True):
            raise SystemExit(
                f"{folder} holds a gallery of {state[0]} subjects / {state[1]} templates "
                f"({'with' if state[2] else 'without'} {PERSON!r}); this benchmark needs "
                f"{args.subjects} with {PERSON!r}: give an empty or new --data folder"
            )
        console.log(f"reusing the gallery in {folder}: {state[0]:,} subjects")
        return {"reused": True}
    built = build_gallery(folder, args.subjects, args.seed)
    console.log(
        f"gallery built in {folder}: {args.subjects:,} subjects ({built['model']}) in "
        f"{built['total_s']:.1f} s ({built['bulk_s']:.1f} s bulk insert)"
    )
    return {"reused": False, **built}


def postgres_gallery_state(uri: str) -> tuple[int, int, bool] | None:
    """(subjects, templates, whether PERSON is enrolled) of the PostgreSQL gallery, or None."""
    import psycopg

    from facescope.service.pg_state import split_dsn

    dsn, schema = split_dsn(uri)
    with psycopg.connect(dsn, autocommit=True) as db:
        exists = db.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
            " AND table_name = 'subjects'",
            (schema,),
        ).fetchone()
        if exists is None:
            return None
        subjects, templates = db.execute(
            f"SELECT (SELECT COUNT(*) FROM {schema}.subjects),"
            f" (SELECT COUNT(*) FROM {schema}.templates)"
        ).fetchone()
        person = db.execute(
            f"SELECT 1 FROM {schema}.subjects WHERE name = %s", (PERSON,)
        ).fetchone()
    return int(subjects), int(templates), person is not None


def build_postgres_gallery(uri: str, n_subjects: int, seed: int) -> dict[str, Any]:
    """The same gallery as :func:`build_gallery` in PostgreSQL (COPY, then PERSON enrolled)."""
    import psycopg

    from facescope.gallery import Gallery
    from facescope.gallery.store import name_key
    from facescope.service.pg_state import split_dsn

    start = time.perf_counter()
    with Gallery.open(uri) as gallery:  # creates the schema (HNSW index included)
        model, version = gallery.model, gallery.model_version
    names, vectors, hashes = synthetic_templates(n_subjects - 1, seed)
    now = time.time()
    dsn, schema = split_dsn(uri)
    with psycopg.connect(dsn) as db, db.cursor() as cursor:
        with cursor.copy(
            f"COPY {schema}.subjects(id, name, metadata, created_at, name_key) FROM STDIN"
        ) as copy:
            for i, name in enumerate(names):
                copy.write_row((i + 1, name, "{}", now, name_key(name)))
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{schema}.subjects', 'id'), %s)", (len(names),)
        )
        with cursor.copy(
            f"COPY {schema}.templates(subject_id, model, model_version, embedding, norm,"
            " quality, source, content_hash, created_at) FROM STDIN"
        ) as copy:
            for i, (name, h) in enumerate(zip(names, hashes, strict=True)):
                literal = "[" + ",".join(f"{v:.7g}" for v in vectors[i]) + "]"
                copy.write_row((i + 1, model, version, literal, 1.0, 1.0, f"{name}.jpg", h, now))
        db.commit()
    bulk = time.perf_counter() - start
    with Gallery.open(uri) as gallery:
        gallery.enroll(PERSON, [ENROL_PHOTO])
    total = time.perf_counter() - start
    state = postgres_gallery_state(uri)
    if state != (n_subjects, n_subjects, True):
        raise SystemExit(f"PostgreSQL gallery has {state}, expected {n_subjects} with {PERSON}")
    return {"model": f"{model} {version}", "bulk_s": bulk, "total_s": total}


def prepare_postgres_gallery(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    state = postgres_gallery_state(uri)
    if state is not None:
        if state != (args.subjects, args.subjects, True):
            raise SystemExit(f"{uri} holds a gallery of {state[0]} subjects; give another ?schema=")
        console.log(f"reusing the PostgreSQL gallery: {state[0]:,} subjects")
        return {"reused": True}
    built = build_postgres_gallery(uri, args.subjects, args.seed)
    console.log(
        f"PostgreSQL gallery built: {args.subjects:,} subjects in {built['total_s']:.1f} s "
        f"({built['bulk_s']:.1f} s COPY and index)"
    )
    return {"reused": False, **built}


# ---- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def facescope_command() -> list[str]:
    script = Path(sys.executable).with_name("facescope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "facescope.cli"]


class Server:
    """``facescope serve`` as a subprocess in its own session, stopped on exit."""

    def __init__(
        self,
        data: Path | str,
        port: int,
        env: dict[str, str],
        log: Path,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        command = [*facescope_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [*command, "--data", str(data), *extra],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> float:
        start = time.perf_counter()
        with httpx.Client(timeout=5.0) as client:
            while time.perf_counter() - start < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited ({self.process.returncode})")
                try:
                    if client.get(f"{self.url}/ready").status_code == 200:
                        return time.perf_counter() - start
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server's processes (its session: the
        parent and, with --workers, every worker)."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.process.pid:  # process group = the session leader
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        self._out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # uvicorn shuts down cleanly
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (busy jiffies in /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def server_route_time(client: httpx.Client, url: str) -> tuple[float, int]:
    """(sum of seconds, count) of the server's identify latency histogram."""
    text = client.get(f"{url}/metrics").text
    totals = {}
    for kind in ("sum", "count"):
        pattern = (
            rf'^facescope_http_request_duration_seconds_{kind}\{{[^}}]*route="{re.escape(ROUTE)}"'
            r"[^}]*\}\s+(\S+)$"
        )
        found = re.search(pattern, text, re.MULTILINE)
        totals[kind] = float(found.group(1)) if found else 0.0
    return totals["sum"], int(totals["count"])


# ---- the load ----------------------------------------------------------------------------


@dataclass
class Run:
    """One load run of `clients` concurrent clients."""

    clients: int
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    server_mean_ms: float = float("nan")
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, latency: float, error: str | None, detail: str = "") -> None:
        with self._lock:
            self.latencies_s.append(latency)
            if error is not None:
                self.errors[error] = self.errors.get(error, 0) + 1
                if len(self.error_examples) < 5:
                    self.error_examples.append(f"{error}: {detail[:200]}")

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def check_response(response: httpx.Response) -> tuple[str | None, str]:
    """(error kind or None, detail) of one identify response."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}", response.text
    try:
        faces = response.json()["faces"]
    except (ValueError, KeyError):
        return "bad body", response.text
    identities = [face.get("identity") for face in faces]
    if identities != [PERSON]:
        return "wrong identity", json.dumps(identities)
    return None, ""


def client_loop(
    url: str, probe: bytes, run: Run, ready: threading.Barrier, go: threading.Barrier, box: dict
) -> None:
    """One client: warm up, wait for the start, post the probe until the deadline."""
    files = {"image": ("probe.jpg", probe, "image/jpeg")}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=url, timeout=60.0, limits=limits) as client:
        try:
            for _ in range(WARM_UP_REQUESTS):
                client.post(IDENTIFY_PATH, files=files)
        except httpx.HTTPError:
            pass  # counted in the run below if it persists
        ready.wait()
        go.wait()
        deadline = box["deadline"]
        while time.perf_counter() < deadline and not box.get("stop"):
            start = time.perf_counter()
            try:
                response = client.post(IDENTIFY_PATH, files=files)
                latency = time.perf_counter() - start
                error, detail = check_response(response)
            except httpx.HTTPError as exc:
                latency = time.perf_counter() - start
                error, detail = type(exc).__name__, str(exc)
            run.record(latency, error, detail)


def load_run(server: Server, probe: bytes, clients: int, duration: float) -> Run:
    run = Run(clients, duration)
    ready, go = threading.Barrier(clients + 1), threading.Barrier(clients + 1)
    box: dict[str, Any] = {}
    threads = [
        threading.Thread(
            target=client_loop, args=(server.url, probe, run, ready, go, box), daemon=True
        )
        for _ in range(clients)
    ]
    with httpx.Client(timeout=10.0) as control:
        for thread in threads:
            thread.start()
        ready.wait()  # every client has warmed up
        before = server_route_time(control, server.url)
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        machine_cpu = machine_busy_seconds()
        start = time.perf_counter()
        box["deadline"] = start + duration
        go.wait()
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"{clients} client(s)", total=duration, status="")
            try:
                while any(thread.is_alive() for thread in threads):
                    elapsed = time.perf_counter() - start
                    done = run.requests
                    progress.update(
                        task,
                        completed=min(elapsed, duration),
                        status=f"{done} requests, {done / max(elapsed, 1e-9):.1f} req/s, "
                        f"{run.error_count} errors",
                    )
                    time.sleep(0.25)
            except KeyboardInterrupt:
                box["stop"] = True
                raise
        run.wall_s = time.perf_counter() - start
        run.server_cpu_s = server.cpu_seconds() - server_cpu
        run.client_cpu_s = time.process_time() - client_cpu
        run.other_cpu_s = max(
            0.0, machine_busy_seconds() - machine_cpu - run.server_cpu_s - run.client_cpu_s
        )
        after = server_route_time(control, server.url)
    if after[1] > before[1]:
        run.server_mean_ms = (after[0] - before[0]) / (after[1] - before[1]) * 1000
    return run


# ---- the in-process baseline ----------------------------------------------------------------


def baseline(folder: Path, probe: bytes, duration: float) -> dict[str, Any]:
    """``Gallery.open(folder).identify(probe)`` called serially for `duration` seconds."""
    from facescope.gallery import Gallery

    latencies: list[float] = []
    errors = 0
    with Gallery.open(folder) as gallery:
        for _ in range(3):  # models, search index, caches
            gallery.identify(probe)
        cpu, machine_cpu = time.process_time(), machine_busy_seconds()
        start = time.perf_counter()
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("in-process identify", total=duration)
            while time.perf_counter() - start < duration:
                t0 = time.perf_counter()
                found = gallery.identify(probe)
                latencies.append(time.perf_counter() - t0)
                errors += [f.identity for f in found] != [PERSON]
                progress.update(task, completed=min(time.perf_counter() - start, duration))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        other = max(0.0, machine_busy_seconds() - machine_cpu - cpu)
    return {
        "latencies_s": latencies,
        "wall_s": wall,
        "errors": errors,
        "cpu_s": cpu,
        "other_cpu_s": other,
    }


# ---- report ----------------------------------------------------------------------------------


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    import numpy as np

    if not latencies:
        return {k: float("nan") for k in ("p50", "p95", "p99", "max", "mean")}
    values = np.asarray(latencies) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
        "mean": float(values.mean()),
    }


def report(
    args: argparse.Namespace,
    runs: list[Run],
    base: dict[str, Any] | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    env = meta["env"]
    title = (
        f"POST {IDENTIFY_PATH}, 640x480 one-face JPEG ({meta['probe_bytes']:,} bytes), "
        f"{args.subjects:,}-subject gallery, {os.cpu_count()} CPUs; server env: "
        + ", ".join(f"{k}={v if v is not None else 'unset'}" for k, v in env.items())
    )
    table = Table(title=title, title_justify="left")
    for column in (
        "path",
        "requests",
        "ok req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "server mean ms",
        "cores server/client/other",
        f"p50 <= {TARGET_P50_MS:g} ms",
    ):
        table.add_column(column, justify="left" if column == "path" else "right")
    rows: list[dict[str, Any]] = []
    for run in runs:
        stats = percentiles_ms(run.latencies_s)
        throughput = (run.requests - run.error_count) / run.wall_s
        server_cores = run.server_cpu_s / run.wall_s
        client_cores = run.client_cpu_s / run.wall_s
        other_cores = run.other_cpu_s / run.wall_s
        ok = stats["p50"] <= TARGET_P50_MS and run.error_count == 0
        rows.append(
            {
                "path": "http",
                "clients": run.clients,
                "duration_s": run.duration_s,
                "wall_s": run.wall_s,
                "requests": run.requests,
                "throughput_rps": throughput,
                "latency_ms": stats,
                "errors": run.error_count,
                "errors_by_kind": run.errors,
                "error_examples": run.error_examples,
                "server_mean_ms": run.server_mean_ms,
                "server_cpu_cores": server_cores,
                "client_cpu_cores": client_cores,
                "other_processes_cpu_cores": other_cores,
                "meets_target": ok,
                "latencies_ms": [round(v * 1000, 1) for v in run.latencies_s],
            }
        )
        table.add_row(
            f"HTTP, {run.clients} client{'s' if run.clients > 1 else ''}",
            f"{run.requests:,}",
            f"{throughput:.1f}",
            f"{stats['p50']:.1f}",
            f"{stats['p95']:.1f}",
            f"{stats['p99']:.1f}",
            f"{stats['max']:.1f}",
            f"{run.error_count}" + (f" {run.errors}" if run.errors else ""),
            f"{run.server_mean_ms:.1f}",
            f"{server_cores:.2f} / {client_cores:.2f} / {other_cores:.2f}",
            "yes" if ok else "NO",
        )
    overhead: dict[str, Any] = {}
    if base is not None:
        stats = percentiles_ms(base["latencies_s"])
        throughput = (len(base["latencies_s"]) - base["errors"]) / base["wall_s"]
        cores = base["cpu_s"] / base["wall_s"]
        other_cores = base["other_cpu_s"] / base["wall_s"]
        rows.append(
            {
                "path": "in-process",
                "clients": 1,
                "wall_s": base["wall_s"],
                "requests": len(base["latencies_s"]),
                "throughput_rps": throughput,
                "latency_ms": stats,
                "errors": base["errors"],
                "cpu_cores": cores,
                "other_processes_cpu_cores": other_cores,
                "latencies_ms": [round(v * 1000, 1) for v in base["latencies_s"]],
            }
        )
        table.add_row(
            "in-process Gallery.identify, serial",
            f"{len(base['latencies_s']):,}",
            f"{throughput:.1f}",
            f"{stats['p50']:.1f}",
            f"{stats['p95']:.1f}",
            f"{stats['p99']:.1f}",
            f"{stats['max']:.1f}",
            str(base["errors"]),
            "-",
            f"{cores:.2f} (in-process) / {other_cores:.2f}",
            "yes" if stats["p50"] <= TARGET_P50_MS and not base["errors"] else "NO",
        )
        single = next((r for r in rows if r["path"] == "http" and r["clients"] == 1), None)
        if single is not None:
            http_p50, local_p50 = single["latency_ms"]["p50"], stats["p50"]
            overhead = {
                "http_p50_ms": http_p50,
                "in_process_p50_ms": local_p50,
                "overhead_ms": http_p50 - local_p50,
                "ratio": http_p50 / local_p50,
                "server_mean_ms": single["server_mean_ms"],
                "in_process_mean_ms": stats["mean"],
            }
    console.print(table)
    if overhead:
        console.print(
            f"HTTP overhead at 1 client: p50 {overhead['http_p50_ms']:.1f} ms over HTTP vs "
            f"{overhead['in_process_p50_ms']:.1f} ms in-process = "
            f"+{overhead['overhead_ms']:.1f} ms ({overhead['ratio']:.2f}x); the server's own "
            f"mean is {overhead['server_mean_ms']:.1f} ms vs {overhead['in_process_mean_ms']:.1f}"
            " ms in-process mean"
        )
    meeting = [r["clients"] for r in rows if r["path"] == "http" and r["meets_target"]]
    console.print(
        f"target (0 errors, p50 <= {TARGET_P50_MS:g} ms) met at N = "
        f"{', '.join(map(str, meeting)) or 'none'} of {', '.join(str(r.clients) for r in runs)}"
    )
    return {"rows": rows, "http_overhead": overhead, "target_met_at_clients": meeting}


# ---- the deployment matrix (issue 29) ------------------------------------------------------

#: (label, backend, extra `serve` arguments): today's single process, then one-thread workers
#: (the issue's throughput comparison), one worker at the default threads (one, like serve),
#: and the PostgreSQL deployments
MATRIX = (
    ("embedded, 1 process (before workers)", "embedded", ()),
    ("embedded, 1 worker x 1 thread", "embedded", ("--workers", "1", "--threads", "1")),
    ("embedded, 2 workers x 1 thread", "embedded", ("--workers", "2", "--threads", "1")),
    ("embedded, 1 worker x default threads", "embedded", ("--workers", "1")),
    ("postgres, 1 worker x 1 thread", "postgres", ("--workers", "1", "--threads", "1")),
    ("postgres, 2 workers x 1 thread", "postgres", ("--workers", "2", "--threads", "1")),
)
#: The configuration `--before REV` adds: that revision's single process on a copy of the
#: embedded gallery (its code on PYTHONPATH, this environment's packages)
BEFORE = "embedded, 1 process at --before"


@dataclass
class Before:
    """A git worktree of an earlier revision, to serve from the same environment."""

    rev: str
    root: Path
    data: Path

    @classmethod
    def make(cls, rev: str, folder: Path, scratch: Path) -> Before:
        repo = Path(__file__).resolve().parents[1]
        root = scratch / "before_src"
        done = subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", "--force", str(root), rev],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"--before {rev}: git cannot check it out: {done.stderr.strip()}")
        data = scratch / "before_data"
        data.mkdir(exist_ok=True)
        shutil.copy2(folder / "gallery.sqlite3", data / "gallery.sqlite3")
        return cls(rev, root, data)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return env | {"PYTHONPATH": str(self.root / "src")}

    def remove(self) -> None:
        repo = Path(__file__).resolve().parents[1]
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(self.root)],
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(self.root.parent, ignore_errors=True)


def run_matrix(
    args: argparse.Namespace,
    locations: dict[str, Path | str],
    probe: bytes,
    env: dict[str, str],
    logs: Path,
    before: Before | None = None,
) -> list[dict[str, Any]]:
    """Every configuration of :data:`MATRIX` whose backend is there (and `before`'s), at
    every client count, `args.rounds` times in turn (so slow spells of a shared machine
    fall on every configuration alike)."""
    deployments = [(label, backend, extra, env) for label, backend, extra in MATRIX]
    if before is not None:
        deployments.insert(0, (BEFORE, "before", (), before.env(env)))
        locations = locations | {"before": before.data}
    rows: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for label, backend, extra, server_env in deployments:
            if backend not in locations:
                if round_ == 0:
                    console.log(f"skipped {label}: no --postgres DSN")
                continue
            log = logs / f"server_{len(rows)}.log"
            server = Server(locations[backend], free_port(), server_env, log, extra)
            try:
                rows.extend(measure_deployment(server, probe, args, label, backend, extra))
            except RuntimeError as exc:
                raise SystemExit(f"{label}: {exc}; server log:\n{server.log_tail()}") from None
            finally:
                server.stop()
            for row in rows[-len(args.clients) :]:
                row["round"] = round_
    return rows


def measure_deployment(
    server: Server,
    probe: bytes,
    args: argparse.Namespace,
    label: str,
    backend: str,
    extra: tuple[str, ...],
) -> list[dict[str, Any]]:
    """One started server: the probe checked, then a load run per client count."""
    server.wait_ready(240.0)
    with httpx.Client(timeout=60.0) as client:
        error, detail = check_response(
            client.post(
                f"{server.url}{IDENTIFY_PATH}", files={"image": ("probe.jpg", probe, "image/jpeg")}
            )
        )
    if error:
        raise SystemExit(f"{label}: probe check failed: {error} {detail}")
    rows = []
    for clients in args.clients:
        run = load_run(server, probe, clients, args.duration)
        stats = percentiles_ms(run.latencies_s)
        rows.append(
            {
                "config": label,
                "backend": backend,
                "serve_args": list(extra),
                "clients": clients,
                "requests": run.requests,
                "throughput_rps": (run.requests - run.error_count) / run.wall_s,
                "latency_ms": stats,
                "errors": run.error_count,
                "errors_by_kind": run.errors,
                "error_examples": run.error_examples,
                "server_cpu_cores": run.server_cpu_s / run.wall_s,
                "client_cpu_cores": run.client_cpu_s / run.wall_s,
            }
        )
        console.log(
            f"{label}, {clients} client(s): {rows[-1]['throughput_rps']:.1f} req/s, "
            f"p50 {stats['p50']:.1f} ms, p99 {stats['p99']:.1f} ms, {run.error_count} errors"
        )
    return rows


def summarise(rows: list[dict[str, Any]], config: str, clients: int) -> dict[str, float] | None:
    """Median over rounds of one configuration at one client count (None: not measured)."""
    import statistics

    found = [r for r in rows if r["config"] == config and r["clients"] == clients]
    if not found:
        return None
    return {
        "throughput_rps": statistics.median(r["throughput_rps"] for r in found),
        "p50": statistics.median(r["latency_ms"]["p50"] for r in found),
        "p99": statistics.median(r["latency_ms"]["p99"] for r in found),
        "errors": float(sum(r["errors"] for r in found)),
        "cores": statistics.median(r["server_cpu_cores"] for r in found),
        "rounds": float(len(found)),
    }


def matrix_report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The side-by-side table (medians over rounds) and the issue's targets, checked."""
    table = Table(title="identify, 10k subjects: deployments side by side", title_justify="left")
    for column in ("configuration", "clients", "ok req/s", "p50 ms", "p99 ms", "errors", "cores"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    configs = list(dict.fromkeys(r["config"] for r in rows))
    clients_seen = sorted({r["clients"] for r in rows})
    for config in configs:
        for clients in clients_seen:
            cell = summarise(rows, config, clients)
            if cell is None:
                continue
            table.add_row(
                config, str(clients), f"{cell['throughput_rps']:.1f}", f"{cell['p50']:.1f}",
                f"{cell['p99']:.1f}", str(int(cell["errors"])), f"{cell['cores']:.2f}",
            )  # fmt: skip
    console.print(table)

    checks: dict[str, Any] = {"errors": sum(r["errors"] for r in rows)}
    before, one, two = (MATRIX[0][0], MATRIX[1][0], MATRIX[2][0])
    single, pair = summarise(rows, one, 1), summarise(rows, two, 4)
    if single and pair:
        checks["two_workers_4_clients_over_one_worker_1_client"] = (
            pair["throughput_rps"] / single["throughput_rps"]
        )
    worst = []
    for clients in clients_seen:
        mine, theirs = summarise(rows, two, clients), summarise(rows, before, clients)
        if mine and theirs:
            worst.append(mine["throughput_rps"] / theirs["throughput_rps"])
    if worst:
        checks["two_workers_over_before_worst"] = min(worst)
    reference = summarise(rows, BEFORE, 1)
    for config in configs:
        first = summarise(rows, config, 1)
        if first and not config.startswith("postgres"):
            checks[f"p50_1_client_ms[{config}]"] = first["p50"]
            if reference and config != BEFORE:
                checks[f"p50_1_client_over_before[{config}]"] = first["p50"] / reference["p50"]
    for workers, embedded in ((MATRIX[4][0], one), (MATRIX[5][0], two)):
        pg, local = summarise(rows, workers, 1), summarise(rows, embedded, 1)
        if pg and local:
            checks[f"postgres_over_embedded_p50_1_client[{workers}]"] = pg["p50"] / local["p50"]
    for name, value in checks.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        console.print(f"{name}: {shown}", markup=False)
    return checks


# ---- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[4], help="N, or a sweep")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per N")
    parser.add_argument(
        "--baseline-duration", type=float, help="seconds of the in-process baseline (--duration)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--data", type=Path, help="build or reuse the gallery here (default: temp)")
    parser.add_argument("--subjects", type=int, default=SUBJECTS)
    parser.add_argument("--port", type=int, help="server port (default: a free one)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", default="1", help="FACESCOPE_THREADS, SFace's ORT threads ('auto': unset)"
    )
    parser.add_argument(
        "--max-concurrent", type=int, default=4, help="FACESCOPE_SERVICE_MAX_CONCURRENT"
    )
    parser.add_argument(
        "--cv-threads", default="auto", help="OPENCV_FOR_THREADS_NUM, YuNet's threads ('auto')"
    )
    parser.add_argument("--omp-threads", default="auto", help="OMP_NUM_THREADS ('auto': unset)")
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="issue 29's comparison: embedded vs PostgreSQL, 1 vs 2 workers, each --clients",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="--matrix: measure each configuration N times"
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="--matrix: also serve git revision REV (a worktree, this environment) on a copy "
        "of the embedded gallery, the peer for the 1-client latency ratio",
    )
    parser.add_argument(
        "--postgres",
        help="PostgreSQL DSN for --matrix (a schema bench_service_<pid> is made and dropped)",
    )
    parser.add_argument(
        "--rate-per-minute",
        type=int,
        default=1_000_000_000,
        help="FACESCOPE_SERVICE_RATE_PER_MINUTE (the service's default 600 gives 429s)",
    )
    args = parser.parse_args()
    if min(args.clients) < 1 or args.duration <= 0 or args.rounds < 1:
        parser.error("--clients and --rounds must be >= 1 and --duration > 0")

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)  # stop the server on kill too
    env_values = thread_env(args)
    # this process too (the baseline), before numpy, OpenCV and ONNX Runtime load
    apply_env(os.environ, {k: v for k, v in env_values.items() if "SERVICE" not in k})
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    tmp = None if args.data else Path(tempfile.mkdtemp(prefix="bench_service_"))
    folder = (args.data if tmp is None else tmp / "data").resolve()
    server: Server | None = None
    runs: list[Run] = []
    base = None
    try:
        meta: dict[str, Any] = {
            "env": env_values,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        }
        meta["gallery"] = prepare_gallery(args, folder)
        probe = make_probe()
        meta["probe_bytes"] = len(probe)
        if args.matrix:
            locations: dict[str, Path | str] = {"embedded": folder}
            if args.postgres:
                pg_schema = f"bench_service_{os.getpid()}"
                locations["postgres"] = f"{args.postgres}?schema={pg_schema}"
                meta["postgres_gallery"] = prepare_postgres_gallery(args, locations["postgres"])
            scratch = tmp or folder
            before = (
                Before.make(args.before, folder, Path(tempfile.mkdtemp(prefix="bench_before_")))
                if args.before
                else None
            )
            if before is not None:
                meta["before"] = args.before
            try:
                rows = run_matrix(
                    args, locations, probe, apply_env(dict(os.environ), env_values),
                    scratch, before,
                )  # fmt: skip
            finally:
                if before is not None:
                    before.remove()
                if args.postgres:
                    from facescope.service.pg_state import drop_service

                    drop_service(args.postgres, pg_schema)
            checks = matrix_report(rows)
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(
                    json.dumps({"meta": meta, "rows": rows, "checks": checks}, indent=2)
                )
                console.log(f"wrote {args.json}")
            return
        log = (tmp or folder) / "server.log"
        server = Server(
            folder, args.port or free_port(), apply_env(dict(os.environ), env_values), log
        )
        try:
            ready_s = server.wait_ready(180.0)
        except RuntimeError as exc:
            raise SystemExit(f"{exc}; server log:\n{server.log_tail()}") from None
        meta["server_ready_s"] = ready_s
        console.log(f"server ready at {server.url} in {ready_s:.1f} s (log: {log})")
        with httpx.Client(timeout=60.0) as client:
            response = client.post(
                f"{server.url}{IDENTIFY_PATH}", files={"image": ("probe.jpg", probe, "image/jpeg")}
            )
            error, detail = check_response(response)
            if error:
                raise SystemExit(f"probe check failed: {error} {detail}")
            body = response.json()
            console.log(
                f"probe check: {body['image']}, identity {body['faces'][0]['identity']!r} "
                f"score {body['faces'][0]['score']:.3f}, {body['subjects']:,} subjects"
            )
        for clients in args.clients:
            run = load_run(server, probe, clients, args.duration)
            runs.append(run)
            stats = percentiles_ms(run.latencies_s)
            console.log(
                f"{clients} client(s): {run.requests} requests, "
                f"{(run.requests - run.error_count) / run.wall_s:.1f} ok req/s, "
                f"p50 {stats['p50']:.1f} ms, "
                f"p99 {stats['p99']:.1f} ms, {run.error_count} errors"
            )
        server.stop()
        server = None
        if not args.no_baseline:
            base = baseline(folder, probe, args.baseline_duration or args.duration)
        result = report(args, runs, base, meta)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {"meta": meta, "args": {k: str(v) for k, v in vars(args).items()}}
            payload.update(result)
            args.json.write_text(json.dumps(payload, indent=2, default=str))
            console.log(f"wrote {args.json}")
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        raise SystemExit(130) from None
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
