"""Stopping `serve --workers`: a bounded stop, and no orphan worker when the parent is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

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
