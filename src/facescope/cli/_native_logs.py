"""Keep the native libraries' log lines (TFLite, absl, glog) off the user's terminal.

MediaPipe and TFLite write straight to file descriptor 2 from C++ (``INFO: Created
TensorFlow Lite XNNPACK delegate``, ``W0000 ... inference_feedback_manager.cc``), beyond
the reach of Python's logging. :func:`filter_native_logs` points descriptor 2 at a pipe
read by a thread that drops those lines and passes every other byte on; Python's own
``sys.stderr`` (errors, warnings, progress bars) keeps writing to the original stream,
so a terminal stays a terminal. ``facescope --verbose`` (or ``FACESCOPE_VERBOSE=1``)
leaves everything as it is.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

#: Lines of native loggers: glog/absl (``W0000 00:00:...``, ``I1207 ...``), TFLite's own
#: ``INFO:``/``WARNING:`` notes, and absl's notice about logging before InitializeLog.
NATIVE_LINE = re.compile(
    rb"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    rb"|INFO: Created TensorFlow Lite"
    rb"|INFO: Initialized TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)

_installed = False


def keep_line(line: bytes) -> bool:
    """Whether a line written to descriptor 2 is for the user (not a native log line)."""
    return NATIVE_LINE.match(line) is None


def filter_native_logs() -> bool:
    """Filter descriptor 2 for the rest of this process; False where it cannot (no fd 2)."""
    global _installed
    if _installed:
        return True
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
    except (OSError, AttributeError, ValueError):
        return False
    # Python's stderr keeps the original stream (a terminal stays a terminal for rich)
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(original), "wb", buffering=0),
        encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_pump, args=(read_end, original), daemon=True)
    thread.start()

    def restore() -> None:
        try:
            os.dup2(original, 2)  # closes the pipe's last write end: the pump drains and ends
        except OSError:
            return
        thread.join(timeout=2.0)

    atexit.register(restore)
    _installed = True
    return True


def _pump(read_end: int, target: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = b"".join(line + b"\n" for line in lines if keep_line(line))
        _write(target, out)
    if pending and keep_line(pending):
        _write(target, pending)
    os.close(read_end)


def _write(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return
        data = data[written:]
