"""Stopping `serve --workers`: a bounded stop, and no orphan worker when the parent is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from service_helpers import wait_ready

from facescope.service.workers import stop_all


def _stubborn() -> None:  # pragma: no cover - runs in a child process
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; only its parent has not reaped it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_that_ignore_sigterm_are_killed_after_the_deadline() -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_stubborn) for _ in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)  # both have installed their SIG_IGN
    stop_all(workers, within=1.0)
    assert not any(w.is_alive() for w in workers)
    assert all(w.exitcode == -signal.SIGKILL for w in workers)  # killed, not terminated


def test_a_worker_stops_by_itself_when_its_parent_is_killed() -> None:
    # parent -> worker (watching its parent); SIGKILL the parent: the worker must go too
    worker_code = textwrap.dedent(
        """
        import os, sys, time
        from facescope.service.workers import watch_parent
        watch_parent(os.getppid(), every=0.1)
        print(os.getpid(), flush=True)
        time.sleep(120)
        """
    )
    parent_code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {worker_code!r}], stdout=sys.stdout)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the orphaned worker kept running"
    finally:
        parent.kill()


def test_serve_workers_stops_on_sigint_even_when_started_with_it_ignored(tmp_path: Path) -> None:
    # a background job (`serve ... &` in a script, CI) starts with SIGINT ignored: Python
    # then raises no KeyboardInterrupt, so the parent must handle SIGINT itself
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "facescope", "serve", "--port", str(port),
               "--data", str(tmp_path / "data"), "--workers", "2", "--threads", "1"]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_ready(process, f"http://127.0.0.1:{port}")
        workers = [
            int(p) for p in os.listdir("/proc") if p.isdigit() and _child_of(int(p), process.pid)
        ]
        assert len(workers) >= 2
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0
        time.sleep(0.5)
        assert not any(_alive(w) for w in workers)  # the workers went with it
    finally:
        process.kill()


def _child_of(pid: int, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1]) == parent
    except (OSError, ValueError):
        return False
