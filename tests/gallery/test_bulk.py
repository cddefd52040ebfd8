"""Bulk enrolment: the Ray engine builds the same gallery as the in-process path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from facescope.cli import app
from facescope.errors import EngineNotAvailableError, EnrollmentError, GalleryModelMismatchError
from facescope.gallery import Gallery
from facescope.gallery.bulk import BulkResult, bulk_enroll, compute_templates, require_engine
from facescope.gallery.templates import photo_template

runner = CliRunner()


@pytest.fixture(scope="module")
def people(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-per-identity tree: 4 good photos and 4 that must be skipped and reported."""
    root = tmp_path_factory.mktemp("bulk") / "people"
    files = {
        "obama/a.jpg": "obama_1.jpg",
        "obama/b.jpg": "obama_2.jpg",
        "obama/copy_of_a.jpg": "obama_1.jpg",  # same pixels as a.jpg: a duplicate
        "biden/a.jpg": "biden_1.jpg",
        "biden/b.jpg": "biden_2.jpg",
        "pair/both.jpg": "obama_left_biden_right.jpg",  # two faces, no --largest-face
    }
    for target, source in files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / source, root / target)
    (root / "biden" / "broken.jpg").write_bytes((data / "biden_1.jpg").read_bytes()[:4000])
    from PIL import Image

    (root / "wall").mkdir()
    Image.new("RGB", (200, 150), (90, 90, 90)).save(root / "wall" / "blank.png")
    return root


EXPECTED_PROBLEMS = {
    "biden/broken.jpg": "truncated or corrupt",
    "obama/copy_of_a.jpg": "this photo is already enrolled for 'obama'",
    "pair/both.jpg": "2 faces found",
    "wall/blank.png": "no face found",
}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    """A local Ray (2 CPUs) for the whole module, initialised by the caller as a user would."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'facescope[ray]')")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(
    people: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gallery, BulkResult]]:
    """The tree enrolled in this process (engine "local"): the reference."""
    gallery = Gallery.open(tmp_path_factory.mktemp("local") / "g")
    result = bulk_enroll(gallery, people)
    yield gallery, result
    gallery.close()


def _snapshot(gallery: Gallery) -> dict[str, Any]:
    _, names, matrix, records = gallery._store.templates()
    return {
        "subjects": {s.name: s.n_templates for s in gallery.list()},
        "rows": [(n, r.content_hash, r.source) for n, r in zip(names, records, strict=True)],
        "matrix": matrix,
    }


def _problems(result: BulkResult, root: Path) -> list[tuple[str, str]]:
    return [(path.relative_to(root).as_posix(), reason) for path, reason in result.problems]


def test_local_bulk_enrolment_skips_and_reports_bad_photos(
    local_run: tuple[Gallery, BulkResult], people: Path
) -> None:
    local_gallery, result = local_run
    assert (result.added, result.total) == (4, 8)
    problems = dict(_problems(result, people))
    assert set(problems) == set(EXPECTED_PROBLEMS)
    for name, reason in EXPECTED_PROBLEMS.items():
        assert reason in problems[name]
        assert problems[name].startswith(str(people / name))  # the message names the photo
    assert {s.name: s.n_templates for s in local_gallery.list()} == {"biden": 2, "obama": 2}


@pytest.mark.slow
def test_ray_bulk_enrolment_equals_the_local_path(
    ray_session: Any,
    local_run: tuple[Gallery, BulkResult],
    people: Path,
    data: Path,
    tmp_path: Path,
) -> None:
    local_gallery, local_result = local_run
    with Gallery.open(tmp_path / "ray") as gallery:
        # batches of 3 photos: several tasks, finishing in any order
        result = bulk_enroll(gallery, people, engine="ray", batch_size=3)
        assert (result.added, result.total) == (local_result.added, local_result.total)
        assert result.problems == local_result.problems
        ours, theirs = _snapshot(gallery), _snapshot(local_gallery)
        assert ours["subjects"] == theirs["subjects"]
        assert ours["rows"] == theirs["rows"]  # same content hashes and sources, same order
        np.testing.assert_allclose(ours["matrix"], theirs["matrix"], atol=1e-5, rtol=0)
        probe = data / "biden_left_obama_right.jpg"
        found, expected = gallery.identify(probe), local_gallery.identify(probe)
        assert [f.identity for f in found] == [f.identity for f in expected]
        assert [f.identity for f in found] == ["biden", "obama", None]
        np.testing.assert_allclose(
            [f.score for f in found], [f.score for f in expected], atol=1e-5, rtol=0
        )
        # a second run over the same tree adds nothing and reports every enrolled photo
        again = bulk_enroll(gallery, people, engine="ray")
        assert again.added == 0
        assert sum("already enrolled" in reason for _, reason in again.problems) == 5
    assert ray_session.is_initialized()  # a Ray the caller started is left running


@pytest.mark.slow
def test_ray_worker_errors_are_the_local_errors(ray_session: Any, people: Path) -> None:
    photos = [(people / "wall" / "blank.png", "blank"), (people / "biden" / "a.jpg", "biden")]
    local = list(compute_templates(photos, "sface"))
    remote = list(compute_templates(photos, "sface", engine="ray"))
    assert isinstance(remote[0].error, EnrollmentError)
    assert str(remote[0].error) == str(local[0].error) == "blank: no face found"
    assert remote[0].content_hash == local[0].content_hash
    assert remote[1].record is not None and local[1].record is not None
    np.testing.assert_allclose(remote[1].record.embedding, local[1].record.embedding, atol=1e-5)


@pytest.mark.slow
def test_ray_workers_with_another_model_version_are_refused(ray_session: Any, data: Path) -> None:
    photos = [(data / "obama_1.jpg", "obama")]
    with pytest.raises(GalleryModelMismatchError, match="install the same facescope"):
        list(compute_templates(photos, "sface", engine="ray", expected_version="sface-v0"))


@pytest.mark.slow
def test_cli_index_on_ray(ray_session: Any, people: Path, tmp_path: Path) -> None:
    gallery = str(tmp_path / "g")
    result = runner.invoke(app, ["index", str(people), "-g", gallery, "--engine", "ray"])
    assert result.exit_code == 0, result.stderr
    assert "enrolled 4 of 8" in result.stdout
    assert "both.jpg: 2 faces found" in result.stderr and "blank.png" in result.stderr
    with Gallery.open(gallery) as opened:
        assert {s.name: s.n_templates for s in opened.list()} == {"biden": 2, "obama": 2}


def test_missing_ray_is_one_line_with_the_install_command(
    people: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(EngineNotAvailableError, match=r'pip install "facescope\[ray\]"'):
        require_engine("ray")
    gallery = tmp_path / "g"
    result = runner.invoke(app, ["index", str(people), "-g", str(gallery), "--engine", "ray"])
    assert result.exit_code == 2
    assert 'pip install "facescope[ray]"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not gallery.exists()  # refused before the gallery was created


def test_engine_and_address_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        require_engine("spark")
    with pytest.raises(ValueError, match="only used with --engine ray"):
        require_engine("local", "ray://head:10001")


def test_ray_is_not_imported_with_facescope() -> None:
    code = (
        "import sys, facescope, facescope.cli, facescope.gallery.bulk; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_photo_template_is_what_the_gallery_stores(data: Path, tmp_path: Path) -> None:
    record = photo_template(data / "obama_1.jpg", "sface")
    assert record.source == str(data / "obama_1.jpg")
    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("obama", [data / "obama_1.jpg"])
        _, _, matrix, records = gallery._store.templates("obama")
    assert records[0].content_hash == record.content_hash
    np.testing.assert_array_equal(matrix[0], record.embedding)
    with pytest.raises(EnrollmentError, match="largest_face=True"):
        photo_template(data / "obama_left_biden_right.jpg", "sface")
