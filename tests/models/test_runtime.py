"""ONNX Runtime session settings shared by every pinned network."""

from __future__ import annotations

import pytest

from facescope.models.registry import verified_bytes
from facescope.models.runtime import SPIN_ENV, THREADS_ENV, cpu_session

SPINNING = "session.intra_op.allow_spinning"


def test_idle_threads_sleep_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPIN_ENV, raising=False)
    monkeypatch.setenv(THREADS_ENV, "2")
    options = cpu_session(verified_bytes("retinaface_mnet025"), "RetinaFace").get_session_options()
    assert options.get_session_config_entry(SPINNING) == "0"
    assert options.intra_op_num_threads == 2


def test_spinning_can_be_turned_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPIN_ENV, "1")
    session = cpu_session(verified_bytes("retinaface_mnet025"), "RetinaFace", intra_op_threads=1)
    assert session.get_session_options().get_session_config_entry(SPINNING) == "1"
