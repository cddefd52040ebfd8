"""Several service processes on one port: ``facescope serve --workers N``.

The parent binds the listening socket once and starts N worker processes (spawned,
not forked: each loads its own models after start) that accept on that same socket;
the kernel hands each new connection to one of them. Each worker limits its own
inference threads (ONNX Runtime, OpenCV, torch) to ``threads``, by default the cores
divided by the workers, so N workers do not oversubscribe the machine: one process
with every library claiming every core answers one request fast but serves
concurrent clients worse (``benchmarks/bench_service.py``).

Workers share the data as separate processes would: the embedded gallery through
SQLite (WAL, the search cache follows other processes' commits), or one PostgreSQL
database. A worker that dies is started again; Ctrl-C or SIGTERM stops them all, within
:data:`STOP_WITHIN_S` (a worker that has not shut down gracefully by then is killed), and a
worker whose parent is gone (killed with SIGKILL) stops by itself within
:data:`ORPHAN_CHECK_S`, so no orphan keeps the port or the data open.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

from facescope.service.settings import ServiceSettings

#: How long stopping waits, in all, for the workers to shut down before killing them.
STOP_WITHIN_S = 15.0
#: How often a worker checks that its parent is still there.
ORPHAN_CHECK_S = 1.0
#: Environment variables that size the inference thread pools of one worker.
THREAD_ENV = ("FACESCOPE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Inference threads each of `workers` processes gets: `threads`, else cores / workers."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        return threads
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def limit_threads(threads: int) -> None:
    """Size this process's inference thread pools: ONNX Runtime and OpenMP (read when a
    model loads), OpenCV's, and the BLAS pools numpy has already started.

    The BLAS limit matters most: the embedded gallery's search is a matrix product, and
    OpenBLAS's idle threads spin after each call, so with its default of a thread per
    core a one-thread worker burnt a second core (53 ms of CPU per identify instead of
    27 ms at 10k subjects, for the same latency; ``benchmarks/bench_service.py``).
    """
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(threads)
    threadpool_limits(limits=threads)  # process-wide, until the process ends


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (IPv4 or IPv6 by the host's form), inheritable by workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP, and with Nagle on every response waited ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_worker(settings: ServiceSettings, threads: int, sock: socket.socket) -> None:
    """One worker: its own app and models, accepting on the shared socket."""
    watch_parent(os.getppid())
    limit_threads(threads)
    import uvicorn

    from facescope.service.app import create_app
    from facescope.service.server import uvicorn_options

    config = uvicorn.Config(
        create_app(settings),
        log_level="info",
        timeout_graceful_shutdown=int(STOP_WITHIN_S / 2),
        **uvicorn_options(settings),
    )
    uvicorn.Server(config).run(sockets=[sock])


def watch_parent(parent: int, every: float = ORPHAN_CHECK_S) -> threading.Thread:
    """A daemon thread that ends this process when its parent `parent` is gone.

    A parent killed with SIGKILL cannot stop its workers; they would keep serving on the
    port (and holding the pipes of whoever started the parent). SIGTERM to itself lets
    uvicorn shut down as on a normal stop.
    """

    def check() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=check, name="facescope-parent-watch", daemon=True)
    watcher.start()
    return watcher


def serve_workers(
    settings: ServiceSettings, host: str, port: int, workers: int, threads: int
) -> None:
    """Run `workers` processes on `host`:`port` until interrupted (blocks)."""
    sock = bind(host, port)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        process = context.Process(target=run_worker, args=(settings, threads, sock))
        process.start()
        return process

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # SIGINT too, like uvicorn: a process started from a background job inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt, so Ctrl-C or `kill -INT`
    # would leave the workers running
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [start() for _ in range(workers)]
    restarts: list[float] = []
    try:
        while not stopping:
            time.sleep(0.5)
            for index, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60.0] + [now]
                if len(restarts) > 2 * workers:
                    raise RuntimeError(
                        f"service workers keep exiting ({len(restarts)} in a minute, the "
                        f"last with status {process.exitcode}); see their log above"
                    )
                processes[index] = start()  # a crashed worker is replaced
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_all(processes)
        sock.close()


def stop_all(processes: list[Any], within: float = STOP_WITHIN_S) -> None:
    """SIGTERM every worker (uvicorn shuts down gracefully), wait `within` seconds in
    all, then kill what is left. A second Ctrl-C while waiting kills them at once."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + within
    try:
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
