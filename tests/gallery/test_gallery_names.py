"""Issue 28: a new subject named like an enrolled one ("obama" next to "Obama") is refused
unless forced, on both backends, by an index lookup; old galleries gain the name keys."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facescope.cli import app
from facescope.errors import SimilarSubjectError
from facescope.gallery import Gallery
from facescope.gallery.store import name_key


def test_name_key_folds_case_whitespace_and_width() -> None:
    assert name_key("Barack  Obama") == name_key(" barack obama ") == name_key("BARACKOBAMA")
    assert name_key("\uff2f\uff42\uff41\uff4d\uff41") == name_key("obama")  # full width
    assert name_key("Straße") == name_key("STRASSE")  # case folding, not lower()
    assert name_key("obama") != name_key("osama")


def test_similar_names_are_refused_unless_forced(uri: str, data: Path) -> None:
    with Gallery.open(uri) as g:
        g.enroll("Obama", [data / "obama_1.jpg"])
        with pytest.raises(SimilarSubjectError, match="'Obama' is enrolled") as caught:
            g.enroll(" obama", [data / "obama_2.jpg"])
        assert caught.value.similar == ["Obama"] and caught.value.subject == " obama"
        assert [s.name for s in g.list()] == ["Obama"]  # nothing stored
        g.enroll("Obama", [data / "obama_2.jpg"])  # the same name adds to the subject
        g.enroll("biden", [data / "biden_1.jpg"])  # another name is fine
        g.enroll("OBAMA", [data / "obama_2.jpg"], allow_similar=True)
        assert sorted(s.name for s in g.list()) == ["OBAMA", "Obama", "biden"]
        # the lookup is the store's, by key: both near-duplicates are named
        with pytest.raises(SimilarSubjectError) as caught:
            g.enroll("o bama", [data / "obama_1.jpg"])
        assert caught.value.similar == ["OBAMA", "Obama"]


def test_cli_enroll_refuses_then_forces(data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "g")
    assert (
        runner.invoke(app, ["enroll", "Obama", str(data / "obama_1.jpg"), "-g", store]).exit_code
        == 0
    )
    refused = runner.invoke(app, ["enroll", "obama", str(data / "obama_2.jpg"), "-g", store])
    assert refused.exit_code == 2
    assert "'Obama' is enrolled" in refused.stderr and "--force" in refused.stderr
    forced = runner.invoke(
        app, ["enroll", "obama", str(data / "obama_2.jpg"), "-g", store, "--force", "--json"]
    )
    assert forced.exit_code == 0 and json.loads(forced.stdout)["subject"] == "obama"


def test_bulk_index_reports_a_similar_name_per_photo(data: Path, tmp_path: Path) -> None:
    tree = tmp_path / "people"
    for person, photos in {"Obama": ["obama_1.jpg"], "biden": ["biden_1.jpg"]}.items():
        (tree / person).mkdir(parents=True)
        for photo in photos:
            shutil.copy(data / photo, tree / person / photo)
    store = str(tmp_path / "g")
    with Gallery.open(store) as g:
        g.enroll("obama", [data / "obama_2.jpg"])
    result = CliRunner().invoke(app, ["index", str(tree), "-g", store, "--json"])
    assert result.exit_code == 0
    done = json.loads(result.stdout)
    assert done["added"] == 1 and len(done["skipped"]) == 1
    assert "obama_1.jpg" in done["skipped"][0]["path"]
    assert "equal up to case" in done["skipped"][0]["problem"]


def test_a_v3_sqlite_gallery_gains_name_keys(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "g"
    with Gallery.open(folder) as g:
        g.enroll("Obama", [data / "obama_1.jpg"])
    db = sqlite3.connect(folder / "gallery.sqlite3")
    db.execute("DROP INDEX subjects_name_key")
    db.execute("ALTER TABLE subjects DROP COLUMN name_key")
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    with Gallery.open(folder) as g, pytest.raises(SimilarSubjectError):
        g.enroll("obama", [data / "obama_2.jpg"])
    db = sqlite3.connect(folder / "gallery.sqlite3")
    assert db.execute("SELECT name, name_key FROM subjects").fetchall() == [("Obama", "obama")]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    plan = " ".join(
        str(row) for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT name FROM subjects WHERE name_key = 'x'"
        )
    )  # fmt: skip
    assert "subjects_name_key" in plan  # an index lookup, not a scan
    db.close()
