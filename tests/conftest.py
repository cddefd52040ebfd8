"""Shared fixtures: bundled public-domain portraits and the optional shared test data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from facescope.service.pg_state import drop_service as drop_service_schemas

DATA = Path(__file__).parent / "data"
TESTDATA = Path(
    os.environ.get("FACESCOPE_TESTDATA", Path(__file__).parents[1] / "../shared/testdata")
)
CELEBRITIES = TESTDATA / "faces" / "aligned_celebrities"
ORL = TESTDATA / "faces" / "orl"
PORTRAITS = TESTDATA / "faces" / "public_portraits"
#: DSN of a PostgreSQL + pgvector server for the gallery's backend tests (`make test` sets it).
POSTGRES_ENV = "FACESCOPE_TEST_POSTGRES"


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[object]:
    """A TestClient over a fresh service app with its own data folder."""
    from service_helpers import client

    with client(tmp_path / "data") as test_client:
        yield test_client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty gallery location on each backend (one shared test suite)."""
    if request.param == "sqlite":
        yield str(tmp_path / "g")
        return
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        pytest.skip(f"{POSTGRES_ENV} not set (scripts/postgres/start.sh prints a DSN)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield f"{dsn}?schema={schema}"
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["folder", pytest.param("postgres", marks=pytest.mark.slow)])
def service_data(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where a test service keeps its data, on each backend: a fresh folder, or a fresh
    schema of the test PostgreSQL server (galleries, keys, audit log, rate limits)."""
    if request.param == "folder":
        yield tmp_path / "data"
        return
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        pytest.skip(f"{POSTGRES_ENV} not set (scripts/postgres/start.sh prints a DSN)")
    base = f"svc_{uuid.uuid4().hex[:10]}"
    yield f"{dsn}?schema={base}"
    drop_service_schemas(dsn, base)


@pytest.fixture(scope="session")
def data() -> Path:
    """Folder of the bundled portraits (always present)."""
    return DATA


@pytest.fixture(scope="session")
def celebrities() -> Path:
    """The aligned-celebrities calibration set; skips when the shared data is absent."""
    if not (CELEBRITIES / "labels.csv").is_file():
        pytest.skip(f"shared test data not found at {CELEBRITIES}")
    return CELEBRITIES


@pytest.fixture(scope="session")
def orl() -> Path:
    """ORL tight greyscale crops; skips when the shared data is absent."""
    if not (ORL / "labels.csv").is_file():
        pytest.skip(f"shared test data not found at {ORL}")
    return ORL


@pytest.fixture(scope="session")
def portraits() -> Path:
    """The full-size public portraits; skips when the shared data is absent."""
    if not (PORTRAITS / "labels.csv").is_file():
        pytest.skip(f"shared test data not found at {PORTRAITS}")
    return PORTRAITS
