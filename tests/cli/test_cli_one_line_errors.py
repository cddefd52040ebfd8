"""A bad input is one line on stderr and exit 2, with nothing on stdout, also for the
commands that show progress bars (they are off when stderr is not a terminal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["micro", "spot"], ["lips"], ["engagement"], ["analyze"]])
def test_empty_video_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "facescope", *command, str(empty)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"error: {empty}: empty file (0 bytes)"]
