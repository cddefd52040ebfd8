"""Issue 29: several service processes over one data store, as real processes.

* ``serve --workers 2`` over a folder: two worker processes on one port, sharing the
  embedded gallery; enrolment through one is identified through the other.
* two ``serve`` replicas on two ports over one PostgreSQL database: concurrent
  enrolment through one and identification through the other; every acknowledged
  enrolment is identified by the other replica; a collection created or deleted, and a
  key created or revoked, through one is seen by the other from its next request.
* a video job taken by one process is answered for by every other (the job board).
* ``serve --data postgresql://...`` never creates a local folder named after the URI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import POSTGRES_ENV, drop_service_schemas
from service_helpers import wait_ready
from video_scenes import clip

pytestmark = pytest.mark.slow  # real server processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(data: str, *extra: str, cwd: Path | None = None) -> Iterator[tuple[str, int]]:
    """A `facescope serve` process on a free port; yields (base URL, its pid)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "facescope", "serve", "--port", str(port), "--data", data, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, base)
        yield base, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output


def _photo(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"image": (path.name, path.read_bytes(), "image/jpeg")}


def _job_everywhere(submit_to: str, poll: list[str], clip: Path) -> dict[str, object]:
    """Submit a video job to one process and poll it through others until it ends."""
    with clip.open("rb") as handle:
        taken = httpx.post(
            f"{submit_to}/v1/jobs/video",
            files={"video": (clip.name, handle.read(), "video/x-msvideo")},
            timeout=60,
        )
    assert taken.status_code == 202, taken.text
    job = taken.json()["id"]
    deadline = time.monotonic() + 180
    while True:
        for base in poll:
            with httpx.Client(timeout=30) as http:  # a new connection: any worker
                state = http.get(f"{base}/v1/jobs/{job}")
            assert state.status_code == 200, (base, state.text)
            answer: dict[str, object] = state.json()
            if answer["status"] in ("done", "failed", "cancelled"):
                return answer
        assert time.monotonic() < deadline, "the job did not end within 180 s"
        time.sleep(0.3)


def _workers_of(pid: int) -> list[int]:
    """Child processes of `pid` running a spawned worker (not the resource tracker)."""
    found = []
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
            command = (child / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in command:
            found.append(int(child.name))
    return found


def test_two_workers_share_one_port_and_the_embedded_gallery(tmp_path: Path, data: Path) -> None:
    with serving(str(tmp_path / "data"), "--workers", "2", "--threads", "1") as (base, pid):
        assert len(_workers_of(pid)) == 2
        enrolled = httpx.post(
            f"{base}/v1/collections/default/subjects/Obama/faces",
            files=_photo(data / "obama_1.jpg"),
            timeout=60,
        )
        assert enrolled.status_code == 201, enrolled.text

        def identify(_: int) -> str | None:
            # a new connection each time: the kernel spreads them over both workers
            with httpx.Client(timeout=60) as http:
                answer = http.post(
                    f"{base}/v1/collections/default/identify",
                    files=_photo(data / "obama_2.jpg"),
                )
            assert answer.status_code == 200, answer.text
            return answer.json()["faces"][0]["identity"]  # type: ignore[no-any-return]

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(identify, range(12))) == {"Obama"}
        # a video job taken by one worker is answered for by both
        done = _job_everywhere(
            base, [base] * 4, clip(data / "obama_2.jpg", tmp_path / "a.avi", seconds=3.0)
        )
        assert done["status"] == "done", done


@pytest.fixture()
def database() -> Iterator[str]:
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        pytest.skip(f"{POSTGRES_ENV} not set (scripts/postgres/start.sh prints a DSN)")
    base = f"rep_{os.urandom(5).hex()}"
    yield f"{dsn}?schema={base}"
    drop_service_schemas(dsn, base)


def test_two_replicas_over_postgres_agree_at_once(
    database: str, data: Path, tmp_path: Path
) -> None:
    from facescope.service.backend import open_state

    people = {
        f"person{i:02d}": data / ("obama_1.jpg" if i % 2 else "biden_1.jpg") for i in range(8)
    }
    with (
        serving(database, cwd=tmp_path) as (a, _),
        serving(database, cwd=tmp_path) as (b, _),
    ):
        # collections made through A are usable through B at once, and deletions reach B
        assert httpx.post(f"{a}/v1/collections", json={"name": "site"}).status_code == 201
        assert "site" in [c["name"] for c in httpx.get(f"{b}/v1/collections").json()]

        acknowledged: list[str] = []

        def enrol(item: tuple[str, Path]) -> None:
            name, photo = item
            answer = httpx.post(
                f"{a}/v1/collections/site/subjects/{name}/faces",
                files=_photo(photo),
                params={"force": "true"},
                timeout=60,
            )
            assert answer.status_code == 201, answer.text
            acknowledged.append(name)
            # the other replica knows it from the moment A acknowledged it
            listed = httpx.get(f"{b}/v1/collections/site/subjects/{name}", timeout=30)
            assert listed.status_code == 200, (name, listed.text)

        def identify(_: int) -> int:
            answer = httpx.post(
                f"{b}/v1/collections/site/identify", files=_photo(data / "obama_2.jpg"), timeout=60
            )
            assert answer.status_code == 200, answer.text
            return len(answer.json()["faces"])

        with ThreadPoolExecutor(4) as pool:
            enrolled = pool.map(enrol, people.items())
            searched = pool.map(identify, range(8))
            list(enrolled)
            assert all(n == 1 for n in searched)
        assert sorted(acknowledged) == sorted(people)
        subjects = httpx.get(f"{b}/v1/collections/site/subjects", timeout=30).json()
        assert sorted(s["name"] for s in subjects) == sorted(people)
        # a removal through B is gone for A
        assert httpx.delete(f"{b}/v1/collections/site/subjects/person00").status_code == 200
        assert httpx.get(f"{a}/v1/collections/site/subjects/person00").status_code == 404
        assert httpx.delete(f"{b}/v1/collections/site").status_code == 200
        gone = httpx.post(f"{a}/v1/collections/site/identify", files=_photo(data / "obama_2.jpg"))
        assert gone.status_code == 404
        # a video job submitted to A is polled through B to its end, then gone for both
        done = _job_everywhere(
            a, [b, a], clip(data / "obama_2.jpg", tmp_path / "a.avi", seconds=3.0)
        )
        assert done["status"] == "done", done
        assert httpx.delete(f"{b}/v1/jobs/{done['id']}").status_code == 200
        assert httpx.get(f"{a}/v1/jobs/{done['id']}").status_code == 404
        # keys: created through the CLI's store, known to both; revoked, refused by both
        state = open_state(database)
        token, record = state.create_key("ops", "admin")
        headers = {"Authorization": f"Bearer {token}"}
        for base in (a, b):
            assert httpx.get(f"{base}/v1/collections").status_code == 401
            assert httpx.get(f"{base}/v1/collections", headers=headers).status_code == 200
        state.revoke_key(record.id)
        state.close()
        for base in (a, b):
            refused = httpx.get(f"{base}/v1/collections", headers=headers)
            assert refused.status_code in (401, 503)
    # the URI was never taken for a folder
    assert not any(p.name.startswith("postgres") for p in tmp_path.iterdir())


def test_serve_passes_workers_threads_and_a_database_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers/--threads` reach the server; a URI stays a URI (never a folder)."""
    from typer.testing import CliRunner

    import facescope.service.server
    from facescope.cli import app as cli
    from facescope.models import consent

    monkeypatch.delenv(consent.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(
        facescope.service.server,
        "serve",
        lambda settings, host, port, **options: calls.append((settings.data, options)),
    )
    monkeypatch.setattr(facescope.service.server, "check_bind", lambda host, settings: False)
    result = CliRunner().invoke(
        cli, ["serve", "--data", "postgresql://u@db.invalid/faces", "--workers", "3"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [("postgresql://u@db.invalid/faces", {"workers": 3, "threads": None})]
    assert "postgresql://u@db.invalid/faces" in result.stderr and "3 worker" in result.stderr
    refused = CliRunner().invoke(cli, ["serve", "--data", "mysql://u@db/faces"])
    assert refused.exit_code == 2 and "not a folder and not a PostgreSQL URI" in refused.stderr
    assert list(tmp_path.iterdir()) == []  # no folder named after either URI


def test_data_locations_and_schema_names_are_checked_before_any_connection() -> None:
    """Bad --data values fail with a clear error, without touching a network or disk."""
    from facescope.errors import GalleryError
    from facescope.service.backend import data_location, describe
    from facescope.service.pg_state import split_dsn
    from facescope.service.settings import ServiceSettings

    assert data_location("postgresql://u@h/db") == "postgresql://u@h/db"
    assert data_location(Path("some/folder")) == Path("some/folder")
    for bad in ("mysql://u@h/db", "sqlite:///x", "http://example.org/data"):
        with pytest.raises(ValueError, match="not a folder and not a PostgreSQL URI"):
            data_location(bad)
        with pytest.raises(ValueError, match="not a folder"):
            ServiceSettings(data=bad)
    assert split_dsn("postgresql://u@h:5433/db?schema=site_a&sslmode=require") == (
        "postgresql://u@h:5433/db?sslmode=require",
        "site_a",
    )
    for schema in ("Site", "a-b", "x;drop", "", "a" * 42):
        with pytest.raises(GalleryError, match="invalid schema name"):
            split_dsn(f"postgresql://u@h/db?schema={schema}")
    assert (
        describe("postgresql://u:secret@h:5433/db?schema=s") == "postgresql://u@h:5433/db?schema=s"
    )
