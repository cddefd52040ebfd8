"""Issue 28: native log lines (TFLite, absl) are kept off stderr unless --verbose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from facescope.cli._native_logs import keep_line

NOISE = [
    b"W0000 00:00:1796634811.234723    5133 inference_feedback_manager.cc:114] Feedback manager",
    b"I1207 09:12:01.123456  77 gl_context.cc:357] GL version",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]


def test_native_lines_are_recognised_and_nothing_else() -> None:
    assert not any(keep_line(line) for line in NOISE)
    for line in (b"error: a.jpg: no such file", b"warning: W0000 is a name", b"INFO: mine", b""):
        assert keep_line(line)


def test_the_filter_drops_native_lines_and_passes_the_rest_in_a_real_process() -> None:
    code = (
        "import os, sys\n"
        "from facescope.cli._native_logs import filter_native_logs\n"
        "assert filter_native_logs()\n"
        f"os.write(2, b'''{NOISE[0].decode()}\\nkept from C\\n{NOISE[2].decode()}\\n''')\n"
        "print('error: from Python', file=sys.stderr)\n"
        "os.write(2, b'a last line without a newline')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "kept from C" in err and "error: from Python" in err
    assert err.rstrip().endswith("a last line without a newline")
    assert "Feedback manager" not in err and "XNNPACK" not in err


def test_the_cli_hides_them_and_verbose_shows_them(data: Path) -> None:
    script = Path(sys.executable).with_name("facescope")
    photo = str(data / "obama_1.jpg")
    quiet = subprocess.run([script, "analyze", photo, "--json"], capture_output=True, timeout=300)
    assert quiet.returncode == 0 and b"inference_feedback_manager" not in quiet.stderr
    assert b"XNNPACK" not in quiet.stderr
    loud = subprocess.run(
        [script, "--verbose", "analyze", photo, "--json"], capture_output=True, timeout=300
    )
    assert loud.returncode == 0 and loud.stdout == quiet.stdout
    assert b"XNNPACK" in loud.stderr or b"inference_feedback_manager" in loud.stderr
