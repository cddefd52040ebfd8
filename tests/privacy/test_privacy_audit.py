"""The model-inversion audit: API, report and ``facescope audit invert`` (tiny budgets)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from facescope.cli import app
from facescope.gallery import Gallery
from facescope.privacy.audit import (
    AuditError,
    AuditTargets,
    audit_inversion,
    targets_from_file,
    targets_from_folder,
)
from facescope.privacy.audit_report import grid_image, write_audit_report
from facescope.privacy.invert import InversionError

pytestmark = pytest.mark.slow  # model-inversion audits

DATA = Path(__file__).parents[1] / "data"
runner = CliRunner()
TINY = {"budget": 32, "pool_size": 64, "population": 16}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two identities x two photos, as a folder per identity."""
    root = tmp_path_factory.mktemp("people")
    for who in ("obama", "biden"):
        (root / who).mkdir()
        for k in (1, 2):
            (root / who / f"{k}.jpg").write_bytes((DATA / f"{who}_{k}.jpg").read_bytes())
    return root


@pytest.fixture(scope="module")
def targets(people: Path) -> AuditTargets:
    return targets_from_folder(people, ["sface", "dlib"], per_identity=1)


@pytest.fixture(scope="module")
def audit(targets: AuditTargets):  # type: ignore[no-untyped-def]
    return audit_inversion(targets, "sface", transfer=["dlib"], **TINY)


def test_folder_targets_split_attacked_and_gallery_photos(targets: AuditTargets) -> None:
    assert sorted(targets.identities) == ["biden", "obama"]
    assert set(targets.vectors) == {"sface", "dlib"}
    vectors, labels = targets.gallery["sface"]
    assert sorted(labels) == ["biden", "obama"] and vectors.shape == (2, 128)  # 2nd photos
    assert targets.photos is not None and all(p.ndim == 3 for p in targets.photos)


def test_audit_metrics_are_consistent(audit) -> None:  # type: ignore[no-untyped-def]
    m = audit.metrics()
    assert m["targets"] == 2 and m["identities"] == 2 and m["queries_per_target"] == 32
    for key in ("target_asr", "pool_target_asr", "random_target_asr", "transfer_asr_dlib"):
        assert 0.0 <= m[key] <= 1.0
    assert m["chance_rank1_dlib"] == 0.5 and m["gallery_identities_sface"] == 2
    for attempt in audit.attempts:
        # the search only ever keeps improvements over the best pool sample
        assert attempt.inversion.score >= attempt.inversion.pool_score - 1e-6
        assert attempt.inversion.score > attempt.random_score
        assert attempt.ranks["sface"] in (1, 2) and attempt.ranks["dlib"] in (1, 2)
    assert m["target_mean_score"] == pytest.approx(
        np.mean([a.inversion.score for a in audit.attempts])
    )
    assert set(m["curve"]) >= {"0", "32"}
    assert m["curve"]["32"]["sface"] == m["target_asr"]
    assert 0.0 <= m["pipeline_detect_rate"] <= 1.0


def test_report_shows_photos_beside_reconstructions(audit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = write_audit_report(audit, tmp_path / "report")
    text = page.read_text()
    assert "transfer success on dlib" in text and "Per target" in text
    assert len(re.findall(r"data:image/png;base64,", text)) == 2
    stored = json.loads((tmp_path / "report/metrics.json").read_text())
    assert stored["transfer_asr_dlib"] == audit.metrics()["transfer_asr_dlib"]
    grid = grid_image(audit)
    assert grid.shape[0] >= 112 + 32 and grid.shape[1] >= 2 * 112  # photo | reconstruction
    assert (tmp_path / "report/target_photos_and_reconstructions.png").stat().st_size > 1000


def test_embeddings_file_audit_ranks_leave_one_out(tmp_path: Path) -> None:
    with Gallery.open(f"sqlite:///{tmp_path / 'g.sqlite3'}") as gallery:
        gallery.enroll("obama", [DATA / "obama_1.jpg", DATA / "obama_2.jpg"])
        gallery.enroll("biden", [DATA / "biden_1.jpg", DATA / "biden_2.jpg"])
        gallery.export(tmp_path / "export.json")
    targets, model = targets_from_file(tmp_path / "export.json")
    assert model == "sface" and len(targets.identities) == 4 and targets.leave_one_out
    audit = audit_inversion(targets, model, **TINY, pipeline=False)
    assert all(a.ranks["sface"] in (1, 2) for a in audit.attempts)
    assert audit.metrics()["gallery_identities_sface"] == 2


def test_bad_settings_and_inputs_are_refused(targets: AuditTargets, tmp_path: Path) -> None:
    with pytest.raises(InversionError, match="budget must be at least 1"):
        audit_inversion(targets, "sface", budget=0)
    with pytest.raises(AuditError, match="transfer model 'arcface'"):
        audit_inversion(targets, "sface", transfer=["arcface"], **TINY)
    with pytest.raises(AuditError, match="nothing to attack"):
        AuditTargets({"sface": np.zeros((0, 128), np.float32)}, [], [])
    with pytest.raises(AuditError, match="no such embeddings file"):
        targets_from_file(tmp_path / "missing.npy")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(AuditError, match="not a facescope gallery export"):
        targets_from_file(tmp_path / "junk.json")
    np.save(tmp_path / "nan.npy", np.full((2, 128), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        targets_from_file(tmp_path / "nan.npy")


def test_cli_audit_invert_writes_a_report(people: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "audit", "invert", "--gallery", str(people), "--per-identity", "1",
            "--budget", "32", "--pool", "64", "--report", str(tmp_path / "out"), "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["target"] == "sface" and metrics["transfer"] == ["dlib"]
    assert metrics["targets"] == 2 and (tmp_path / "out/index.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --gallery"),
        (["--embeddings", "x.npy", "--gallery", "."], "exactly one of --gallery"),
        (["--embeddings", "x.npy", "--budget", "10", "--deep"], "exclusive"),
        (["--embeddings", "x.npy", "--target", "arcface"], "unknown target"),
        (["--embeddings", "x.npy", "--target", "http://127.0.0.1:9/v1/embed"], "--threshold"),
        (["--embeddings", "x.npy", "--transfer", "dlib"], "needs photos"),
        (["--embeddings", "missing.npy"], "no such embeddings file"),
    ],
)
def test_cli_audit_invert_refuses_bad_arguments(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.eye(4, 128, dtype=np.float32))
    result = runner.invoke(app, ["audit", "invert", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_leaked_rotation_key_gives_no_protection_against_inversion(
    targets: AuditTargets,
) -> None:
    """The keyed rotation keeps every cosine, so with the key the attack is unchanged."""
    from facescope.embed.recognizers import sface_recognizer
    from facescope.privacy import CancelableTransform, invert_batch
    from facescope.privacy.targets import CallableTarget

    transform = CancelableTransform("audit-test-deployment-secret", model="sface")

    def through_key(crops: np.ndarray) -> np.ndarray:
        return transform.protect(sface_recognizer().features_from_crops(crops))

    raw = targets.vectors["sface"]
    plain = invert_batch(raw, "sface", **TINY)
    keyed = invert_batch(
        transform.protect(raw), CallableTarget(through_key, name="rotated sface"), **TINY
    )
    for a, b in zip(plain, keyed, strict=True):
        assert b.pool_score == pytest.approx(a.pool_score, abs=1e-4)
        assert b.score == pytest.approx(a.score, abs=2e-2)


def test_audit_without_gallery_photos_has_no_ranks(people: Path) -> None:
    every = targets_from_folder(people, ["sface"], per_identity=5)  # all photos attacked
    audit = audit_inversion(every, "sface", **TINY, pipeline=False)
    assert all(a.ranks["sface"] is None for a in audit.attempts)
    assert "rank1_sface" not in audit.metrics() and audit.metrics()["targets"] == 4
