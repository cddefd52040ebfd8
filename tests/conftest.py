"""Shared fixtures: bundled public-domain portraits and the optional shared test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TESTDATA = Path(
    os.environ.get("FACESCOPE_TESTDATA", Path(__file__).parents[1] / "../shared/testdata")
)
CELEBRITIES = TESTDATA / "faces" / "aligned_celebrities"
ORL = TESTDATA / "faces" / "orl"
PORTRAITS = TESTDATA / "faces" / "public_portraits"


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
