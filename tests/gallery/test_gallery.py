"""The embedded gallery: durable enrolment, open-set identify, erasure, export/import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.errors import (
    DuplicateTemplateError,
    EmptyGalleryError,
    EnrollmentError,
    GalleryError,
    GalleryModelMismatchError,
    InvalidEmbeddingError,
    UnknownSubjectError,
    UnknownTemplateError,
)
from facescope.gallery import Gallery


@pytest.fixture
def gallery(uri: str, data: Path) -> Iterator[Gallery]:
    g = Gallery.open(uri)
    g.enroll("obama", [data / "obama_1.jpg"], metadata={"role": "president"})
    g.enroll("biden", [data / "biden_1.jpg", data / "biden_2.jpg"])
    yield g
    g.close()


def test_enrolled_people_are_identified_and_strangers_are_not(gallery: Gallery, data: Path) -> None:
    faces = gallery.identify(data / "biden_left_obama_right.jpg", top_k=2)
    assert [f.identity for f in faces] == ["biden", "obama", None]
    assert faces[0].candidates[0].identity == "biden" and len(faces[0].candidates) == 2
    assert faces[2].score < faces[2].threshold


def test_open_set_threshold_grows_with_the_gallery(gallery: Gallery) -> None:
    two = gallery.open_set_threshold(0.01)
    calibration = fs.match.thresholds.load_calibration().for_model("sface")
    # 2 subjects at FPIR 1% -> per-comparison FMR ~0.005: between the 1e-2 and 1e-3 thresholds
    assert calibration.threshold(1e-2) < two < calibration.threshold(1e-3)
    assert gallery.open_set_threshold(0.001) > two


def test_gallery_survives_reopening(gallery: Gallery, uri: str, data: Path) -> None:
    gallery.close()
    with Gallery.open(uri) as reopened:
        assert {s.name: s.n_templates for s in reopened.list()} == {"biden": 2, "obama": 1}
        assert reopened.show("obama").metadata == {"role": "president"}
        assert reopened.verify("obama", data / "obama_2.jpg").same_person
        assert not reopened.verify("obama", data / "biden_1.jpg").same_person
        assert reopened.integrity_check() == "ok"


def test_remove_erases_every_template(gallery: Gallery, data: Path, uri: str) -> None:
    assert gallery.remove("obama") == 1
    assert [s.name for s in gallery.list()] == ["biden"]
    faces = gallery.identify(data / "obama_2.jpg")
    assert all(c.identity != "obama" for f in faces for c in f.candidates)
    gallery.close()
    with Gallery.open(uri) as reopened:  # the erasure is durable, in every table
        ids, names, _, _ = reopened._store.templates()
        assert names == ["biden", "biden"] and len(ids) == 2
        assert reopened.integrity_check() == "ok"


def test_remove_template_keeps_the_rest_and_the_last_one_takes_the_subject(
    gallery: Gallery, data: Path
) -> None:
    (first, second) = [i for i, _ in gallery.templates("biden")]
    assert gallery.counts() == (2, 3)
    assert gallery.remove_template("biden", first) == 1
    assert [i for i, _ in gallery.templates("biden")] == [second]
    with pytest.raises(UnknownTemplateError, match="no template"):
        gallery.remove_template("biden", first)
    with pytest.raises(UnknownTemplateError):
        gallery.remove_template("obama", second)  # another subject's template
    faces = gallery.identify(data / "biden_2.jpg")
    assert [f.identity for f in faces] == ["biden"]  # the search index follows the delete
    assert gallery.remove_template("biden", second) == 0
    assert not gallery.has_subject("biden") and gallery.has_subject("obama")
    assert gallery.counts() == (1, 1)
    assert gallery.integrity_check() == "ok"


def test_list_pages_by_name(gallery: Gallery) -> None:
    assert [s.name for s in gallery.list()] == ["biden", "obama"]
    assert [s.name for s in gallery.list(limit=1)] == ["biden"]
    assert [(s.name, s.n_templates) for s in gallery.list(limit=5, offset=1)] == [("obama", 1)]
    assert gallery.list(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        gallery.list(limit=-1)


def test_duplicate_photo_is_refused_and_nothing_changes(gallery: Gallery, data: Path) -> None:
    with pytest.raises(DuplicateTemplateError, match="already enrolled"):
        gallery.enroll("obama", [data / "obama_2.jpg", data / "obama_1.jpg"])
    assert gallery.show("obama").n_templates == 1  # obama_2 was not stored either
    with pytest.raises(DuplicateTemplateError, match="given twice"):
        gallery.enroll("new", [data / "obama_2.jpg", data / "obama_2.jpg"])


def test_enrolment_refuses_no_face_and_several_faces(gallery: Gallery, data: Path) -> None:
    with pytest.raises(EnrollmentError, match="no face found"):
        gallery.enroll("wall", [np.full((120, 160, 3), 128, np.uint8)])
    with pytest.raises(EnrollmentError, match="largest_face=True"):
        gallery.enroll("pair", [data / "obama_left_biden_right.jpg"])
    result = gallery.enroll("pair", [data / "obama_left_biden_right.jpg"], largest_face=True)
    assert result.added == 1
    with pytest.raises(fs.InvalidImageError):
        gallery.enroll("bad", [b""])
    assert "wall" not in {s.name for s in gallery.list()}


def test_unknown_subject_and_empty_gallery(gallery: Gallery, tmp_path: Path, data: Path) -> None:
    with pytest.raises(UnknownSubjectError, match="unknown subject 'nobody'"):
        gallery.remove("nobody")
    with pytest.raises(UnknownSubjectError):
        gallery.verify("nobody", data / "obama_1.jpg")
    with Gallery.open(tmp_path / "empty") as empty, pytest.raises(EmptyGalleryError):
        empty.identify(data / "obama_1.jpg")


def test_export_import_round_trip(gallery: Gallery, tmp_path: Path, data: Path) -> None:
    exported = tmp_path / "export.json"
    assert gallery.export(exported) == 3
    with Gallery.open(f"sqlite:///{tmp_path / 'copy.sqlite3'}") as copy:
        assert copy.import_file(exported) == 3
        assert copy.import_file(exported) == 0  # already there: nothing duplicated
        assert copy.identify(data / "obama_2.jpg")[0].identity == "obama"


def test_import_refuses_other_models_and_bad_embeddings(gallery: Gallery, tmp_path: Path) -> None:
    exported = tmp_path / "export.json"
    gallery.export(exported)
    document = json.loads(exported.read_text())
    other = dict(document, model="dlib", model_version="resnet_v1")
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(GalleryModelMismatchError, match="dlib"):
        gallery.import_file(tmp_path / "other.json")
    nan = json.loads(exported.read_text())
    import base64

    nan["subjects"][0]["templates"][0]["embedding"] = base64.b64encode(
        np.full(128, np.nan, "<f4").tobytes()
    ).decode()
    nan["subjects"][0]["name"] = "someone-new"
    (tmp_path / "nan.json").write_text(json.dumps(nan))
    with pytest.raises(InvalidEmbeddingError, match="NaN"):
        gallery.import_file(tmp_path / "nan.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(GalleryError, match="cannot read"):
        gallery.import_file(tmp_path / "junk.json")
    assert "someone-new" not in {s.name for s in gallery.list()}


def test_gallery_created_with_another_model_is_refused(gallery: Gallery, uri: str) -> None:
    gallery.close()
    with pytest.raises(GalleryModelMismatchError, match="created with sface"):
        Gallery.open(uri, model="dlib")


def test_unsupported_uri_and_corrupt_database(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="not supported"):
        Gallery.open("mysql://localhost/db")
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "gallery.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(GalleryError, match="not a facescope gallery database"):
        Gallery.open(folder)


def test_templates_are_encrypted_at_rest_with_a_key(tmp_path: Path, data: Path) -> None:
    import sqlite3

    from facescope.gallery.crypto import GalleryKeyError

    folder = tmp_path / "secret"
    with Gallery.open(folder, key="correct horse battery staple") as g:
        assert g.encrypted
        g.enroll("obama", [data / "obama_1.jpg"])
        plain = g._store.templates()[2][0].astype("<f4").tobytes()
    stored = (
        sqlite3.connect(folder / "gallery.sqlite3")
        .execute("SELECT embedding FROM templates")
        .fetchone()[0]
    )
    assert plain not in stored and len(stored) == 12 + 512 + 16  # nonce + ciphertext + tag
    with pytest.raises(GalleryKeyError, match="this gallery is encrypted"):
        Gallery.open(folder)
    with pytest.raises(GalleryKeyError, match="wrong key"):
        Gallery.open(folder, key="wrong")
    with Gallery.open(folder, key="correct horse battery staple") as g:
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"


def test_key_on_an_unencrypted_gallery_is_refused(tmp_path: Path, data: Path) -> None:
    from facescope.gallery.crypto import GalleryKeyError

    with Gallery.open(tmp_path / "plain") as g:
        g.enroll("obama", [data / "obama_1.jpg"])
    with pytest.raises(GalleryKeyError, match="created without encryption"):
        Gallery.open(tmp_path / "plain", key="k")


def test_tampered_ciphertext_is_detected(tmp_path: Path, data: Path) -> None:
    import sqlite3

    from facescope.gallery.crypto import GalleryKeyError

    folder = tmp_path / "secret"
    with Gallery.open(folder, key="k1") as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
    db = sqlite3.connect(folder / "gallery.sqlite3")
    rows = db.execute("SELECT id, embedding FROM templates ORDER BY id").fetchall()
    db.execute("UPDATE templates SET embedding = ? WHERE id = ?", (rows[1][1], rows[0][0]))
    db.commit()
    db.close()
    with (
        Gallery.open(folder, key="k1") as g,
        pytest.raises(GalleryKeyError, match="failed authentication"),
    ):
        g.identify(data / "obama_2.jpg")


def test_postgres_v1_schema_migrates_to_the_denser_hnsw_index(uri: str, data: Path) -> None:
    if not uri.startswith("postgresql"):
        pytest.skip("PostgreSQL migration")
    import psycopg

    from facescope.gallery.postgres_store import HNSW_M, SCHEMA_VERSION

    schema = uri.rsplit("schema=", 1)[1]
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
    dsn = uri.split("?")[0]
    with psycopg.connect(dsn, autocommit=True) as db:  # make it a v1 gallery again
        db.execute(f"DROP INDEX {schema}.templates_hnsw")
        db.execute(
            f"CREATE INDEX templates_hnsw ON {schema}.templates"
            " USING hnsw (embedding vector_cosine_ops)"
        )
        db.execute(f"UPDATE {schema}.meta SET value = '1' WHERE key = 'schema_version'")
    with Gallery.open(uri) as g:
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"
    with psycopg.connect(dsn, autocommit=True) as db:
        row = db.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (schema, "templates_hnsw"),
        ).fetchone()
        version = db.execute(
            f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
        ).fetchone()
    assert row is not None and f"m='{HNSW_M}'" in row[0]
    assert version == (str(SCHEMA_VERSION),)  # migrated all the way up


def test_open_for_reading_does_not_create(tmp_path: Path) -> None:
    from facescope.errors import GalleryNotFoundError

    with pytest.raises(GalleryNotFoundError, match="no gallery at"):
        Gallery.open(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError for callers
        Gallery.open(f"sqlite:///{tmp_path / 'absent.sqlite3'}", create=False)
    Gallery.open(tmp_path / "made").close()
    Gallery.open(tmp_path / "made", create=False).close()


def test_postgres_counts_are_exact_after_every_write(uri: str, data: Path) -> None:
    """Schema v5 keeps the counts by triggers; they must equal COUNT(*) whatever happened."""
    if not uri.startswith("postgresql"):
        pytest.skip("PostgreSQL counts")
    import psycopg

    schema = uri.rsplit("schema=", 1)[1]
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg", data / "obama_2.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
        assert g.counts() == (2, 3)
        ((template_id, _), _) = g.templates("obama")
        g.remove_template("obama", template_id)
        assert g.counts() == (2, 2)
        g.remove("biden")  # the subject's templates go by cascade
        assert g.counts() == (1, 1)
    with psycopg.connect(uri.split("?")[0], autocommit=True) as db:
        real = db.execute(
            f"SELECT (SELECT COUNT(*) FROM {schema}.subjects),"
            f" (SELECT COUNT(*) FROM {schema}.templates)"
        ).fetchone()
    assert real == (1, 1)
