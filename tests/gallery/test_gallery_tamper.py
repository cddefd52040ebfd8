"""The embedded gallery against tampering and damage (security review findings).

1. The search cache file (``<db>.index``) is authenticated: vectors changed in it
   are never searched, the cache is rebuilt from the database instead.
2. Encrypted templates are bound to their subject's name and their row id:
   a row moved to another subject, or a renamed subject, fails authentication
   with a clear error instead of naming the wrong person.
3. NaN, zero, scaled or wrong-length embeddings written with SQL are refused on
   load, naming the file and the template.
4. Damaged files (flipped bytes, a zeroed page, a truncated file, a damaged
   cache) give CorruptGalleryError or a clean rebuild, never a raw traceback.
5. Erasure with a reader in the way is reported as pending and finished later;
   nothing of the erased subject stays on disk once it is finished.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.errors import (
    CorruptGalleryError,
    GalleryBusyError,
    GalleryError,
    InvalidEmbeddingError,
)
from facescope.gallery import Gallery, sqlite_store
from facescope.gallery.crypto import GalleryKeyError, TemplateAuthenticationError, TemplateCipher
from facescope.gallery.sqlite_store import SQLiteStore
from facescope.gallery.store import TemplateRecord
from facescope.gallery.vector_index import VectorIndex

KEY = "correct horse battery staple"
NO_BOX = np.zeros((1, 4), np.float32)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def record(vector: np.ndarray, tag: str) -> TemplateRecord:
    digest = hashlib.sha256(tag.encode()).hexdigest()
    return TemplateRecord(vector.astype(np.float32), 1.0, 0.9, f"{tag}.jpg", digest)


def sql(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Write to the gallery file behind facescope's back, as an attacker with SQL would."""
    connection = sqlite3.connect(db)
    for statement, params in statements:
        connection.execute(statement, params)
    connection.commit()
    connection.close()


def blob_of(db: Path, row_id: int) -> bytes:
    connection = sqlite3.connect(db)
    row = connection.execute("SELECT embedding FROM templates WHERE id = ?", (row_id,)).fetchone()
    connection.close()
    return bytes(row[0])


def template_id(db: Path, subject: str) -> int:
    connection = sqlite3.connect(db)
    row = connection.execute(
        "SELECT t.id FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.name = ?",
        (subject,),
    ).fetchone()
    connection.close()
    return int(row[0])


@pytest.fixture
def persist_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the search cache on disk even for these small galleries."""
    monkeypatch.setattr(sqlite_store, "PERSIST_MIN", 1)


@pytest.fixture
def pair(tmp_path: Path, data: Path) -> Path:
    """A plain gallery folder with obama and biden enrolled (one photo each)."""
    folder = tmp_path / "pair"
    with Gallery.open(folder) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
    return folder


@pytest.fixture
def encrypted_pair(tmp_path: Path, data: Path) -> Path:
    """An encrypted gallery folder with obama and biden enrolled (one photo each)."""
    folder = tmp_path / "secret"
    with Gallery.open(folder, key=KEY) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
    return folder


# ---- 1. the search cache file is authenticated -------------------------------------------


def test_tampered_cache_vectors_do_not_change_who_is_identified(
    tmp_path: Path, data: Path, persist_small: None
) -> None:
    folder = tmp_path / "g"
    with Gallery.open(folder) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
        assert g.identify(data / "biden_2.jpg")[0].identity == "biden"  # builds the cache
        obama = g.templates("obama")[0][1].embedding
    cache = folder / "gallery.sqlite3.index"
    original = cache.read_bytes()
    stored = np.asarray(obama, "<f4").tobytes()
    assert original.count(stored) == 1
    # the attacker puts the probe's own embedding in obama's place: a perfect "obama" match
    probe = fs.embed(data / "biden_2.jpg").vectors[0]
    cache.write_bytes(original.replace(stored, np.asarray(probe, "<f4").tobytes()))

    with Gallery.open(folder) as g:
        face = g.identify(data / "biden_2.jpg", top_k=2)[0]
        assert face.identity == "biden"
        scores = {c.identity: c.score for c in face.candidates}
        assert scores["obama"] < 0.5 < scores["biden"]  # obama's true template was searched
    # the rebuilt cache was written back, authenticated again and without the forged vector
    assert np.asarray(probe, "<f4").tobytes() not in cache.read_bytes()
    store = SQLiteStore(folder / "gallery.sqlite3")
    assert store._load_cache() is not None
    store.close()


def test_a_cache_without_a_valid_mac_is_not_loaded(tmp_path: Path, persist_small: None) -> None:
    rng = np.random.default_rng(11)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    vectors = unit(rng, 40)
    for i, vector in enumerate(vectors):
        store.add_templates(f"s{i:02d}", [record(vector, f"t{i}")], "synthetic", "1")
    store.search(vectors[:1], 1)
    store.close()
    good = store.cache_path.read_bytes()
    store = SQLiteStore(db)
    assert store._load_cache() is not None
    # one flipped bit anywhere, a cache of the bare old format, another gallery's cache
    flipped = bytearray(good)
    flipped[-5] ^= 0x01
    bare = VectorIndex()
    bare.add(np.arange(1, 41), np.arange(1, 41), np.arange(1, 41), vectors)
    other = tmp_path / "other.sqlite3"
    foreign = SQLiteStore(other)
    for i, vector in enumerate(vectors):
        foreign.add_templates(f"s{i:02d}", [record(vector, f"t{i}")], "synthetic", "1")
    foreign.search(vectors[:1], 1)
    foreign.close()
    for bad in (bytes(flipped), bare.to_bytes(), foreign.cache_path.read_bytes()):
        store.cache_path.write_bytes(bad)
        assert store._load_cache() is None
    store.close()


# ---- 2. encrypted templates are bound to their subject and row ---------------------------


def test_a_ciphertext_moved_to_another_subject_fails_authentication(
    encrypted_pair: Path, data: Path
) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    biden_template = template_id(db, "biden")
    # biden's template now belongs to obama: biden would be identified as obama
    sql(
        db,
        (
            "UPDATE templates SET subject_id = (SELECT id FROM subjects WHERE name = 'obama')"
            " WHERE subject_id = (SELECT id FROM subjects WHERE name = 'biden')",
            (),
        ),
    )
    expected = rf"template {biden_template} of subject 'obama' failed authentication: the row was"
    with Gallery.open(encrypted_pair, key=KEY) as g:
        for attempt in (
            lambda: g.identify(data / "biden_2.jpg"),
            lambda: g.verify("obama", data / "biden_2.jpg"),
            lambda: g.templates("obama"),
            lambda: g.export(encrypted_pair / "export.json"),
        ):
            with pytest.raises(TemplateAuthenticationError, match=expected) as caught:
                attempt()
            error = caught.value
            assert isinstance(error, CorruptGalleryError) and isinstance(error, GalleryKeyError)
            assert error.template_id == biden_template
            assert error.path == db
            assert str(error) == f"{db}: {error.reason}"
            assert "moved or altered" in error.reason


def test_renamed_subjects_fail_authentication(encrypted_pair: Path, data: Path) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    sql(  # swap the two names: every search would name the other person
        db,
        ("UPDATE subjects SET name = 'x' WHERE name = 'obama'", ()),
        ("UPDATE subjects SET name = 'obama' WHERE name = 'biden'", ()),
        ("UPDATE subjects SET name = 'biden' WHERE name = 'x'", ()),
    )
    with (
        Gallery.open(encrypted_pair, key=KEY) as g,
        pytest.raises(TemplateAuthenticationError, match="failed authentication"),
    ):
        g.identify(data / "biden_2.jpg")


def test_swapped_ciphertexts_between_rows_fail_authentication(
    encrypted_pair: Path, data: Path
) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    connection = sqlite3.connect(db)
    rows = connection.execute("SELECT id, embedding FROM templates ORDER BY id").fetchall()
    connection.close()
    sql(db, ("UPDATE templates SET embedding = ? WHERE id = ?", (rows[1][1], rows[0][0])))
    with (
        Gallery.open(encrypted_pair, key=KEY) as g,
        pytest.raises(GalleryKeyError, match=f"template {rows[0][0]} .*failed authentication"),
    ):
        g.identify(data / "obama_2.jpg")


def _seal_the_old_way(db: Path) -> None:
    """Make an encrypted v3 gallery what v2 wrote: ciphertexts bound to the content hash only."""
    connection = sqlite3.connect(db)
    salt = connection.execute("SELECT value FROM meta WHERE key = 'kdf_salt'").fetchone()[0]
    cipher = TemplateCipher(KEY, base64.b64decode(salt))
    rows = connection.execute(
        "SELECT t.id, s.name, t.embedding, t.content_hash FROM templates t"
        " JOIN subjects s ON s.id = t.subject_id"
    ).fetchall()
    for row_id, name, blob, content_hash in rows:
        raw = cipher.decrypt(blob, sqlite_store._template_aad(name, row_id, content_hash))
        connection.execute(
            "UPDATE templates SET embedding = ? WHERE id = ?",
            (cipher.encrypt(raw, content_hash.encode()), row_id),
        )
    connection.execute("PRAGMA user_version = 2")
    connection.commit()
    connection.close()


def test_v2_encrypted_gallery_is_resealed_on_open_and_then_bound(
    encrypted_pair: Path, data: Path
) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    _seal_the_old_way(db)
    with pytest.raises(GalleryKeyError, match="this gallery is encrypted"):
        Gallery.open(encrypted_pair)  # no key: refused, and not migrated
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 2
    with Gallery.open(encrypted_pair, key=KEY) as g:
        assert g.identify(data / "biden_2.jpg")[0].identity == "biden"
        assert g.verify("obama", data / "obama_2.jpg").same_person
    version = sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0]
    assert version == sqlite_store.SCHEMA_VERSION
    # re-sealed with the subject name and row id: moving a row is now detected
    sql(
        db,
        (
            "UPDATE templates SET subject_id = (SELECT id FROM subjects WHERE name = 'obama')"
            " WHERE subject_id = (SELECT id FROM subjects WHERE name = 'biden')",
            (),
        ),
    )
    with (
        Gallery.open(encrypted_pair, key=KEY) as g,
        pytest.raises(TemplateAuthenticationError, match="moved or altered"),
    ):
        g.identify(data / "biden_2.jpg")


def test_a_row_tampered_before_the_v3_migration_is_reported_not_fatal(
    encrypted_pair: Path, data: Path
) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    _seal_the_old_way(db)
    biden = template_id(db, "biden")
    sql(db, ("UPDATE templates SET embedding = ? WHERE id = ?", (b"\x00" * 540, biden)))
    with Gallery.open(encrypted_pair, key=KEY) as g:  # opens: the other rows are re-sealed
        with pytest.raises(TemplateAuthenticationError) as caught:
            g.identify(data / "obama_2.jpg")
        assert caught.value.template_id == biden
        assert g.remove_template("biden", biden) == 0  # the way out the message names
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"


# ---- 3. impossible embeddings written with SQL -------------------------------------------

BAD_BLOBS: dict[str, Callable[[bytes], bytes]] = {
    "zeros": lambda good: bytes(512),
    "nan": lambda good: np.full(128, np.nan, "<f4").tobytes(),
    "inf": lambda good: np.full(128, np.inf, "<f4").tobytes(),
    "short": lambda good: good[:256],
    "long": lambda good: good + good,
    "empty": lambda good: b"",
    "scaled": lambda good: (np.frombuffer(good, "<f4") * 100).astype("<f4").tobytes(),
}


@pytest.mark.parametrize("kind", sorted(BAD_BLOBS))
def test_impossible_embeddings_are_refused_on_load(pair: Path, data: Path, kind: str) -> None:
    db = pair / "gallery.sqlite3"
    biden = template_id(db, "biden")
    blob = BAD_BLOBS[kind](blob_of(db, biden))
    sql(db, ("UPDATE templates SET embedding = ? WHERE id = ?", (blob, biden)))
    with Gallery.open(pair) as g:
        for attempt in (
            lambda: g.identify(data / "obama_2.jpg"),
            lambda: g.verify("biden", data / "biden_2.jpg"),
            lambda: g.templates("biden"),
            lambda: g.export(pair / "export.json"),
        ):
            with pytest.raises(CorruptGalleryError, match=f"template {biden} of subject 'biden'"):
                attempt()
        with pytest.raises(CorruptGalleryError) as caught:
            g.identify(data / "obama_2.jpg")
        assert caught.value.template_id == biden and caught.value.path == db
        assert str(db) in str(caught.value) and "facescope gallery remove" in str(caught.value)
        g.remove_template("biden", biden)  # the damaged row can be removed...
        assert g.identify(data / "obama_2.jpg")[0].identity == "obama"  # ...and all works


def test_a_zeroed_template_on_an_encrypted_gallery_fails_authentication(
    encrypted_pair: Path, data: Path
) -> None:
    db = encrypted_pair / "gallery.sqlite3"
    sql(db, ("UPDATE templates SET embedding = zeroblob(512)", ()))
    with (
        Gallery.open(encrypted_pair, key=KEY) as g,
        pytest.raises(TemplateAuthenticationError, match="failed authentication"),
    ):
        g.identify(data / "obama_2.jpg")


def test_zeroed_template_is_refused_on_both_backends(uri: str, data: Path) -> None:
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.enroll("biden", [data / "biden_1.jpg"])
        [(biden, _)] = g.templates("biden")
    if uri.startswith("postgresql"):
        import psycopg

        schema = uri.rsplit("schema=", 1)[1]
        with psycopg.connect(uri.split("?")[0], autocommit=True) as db:
            with pytest.raises(psycopg.errors.DataException, match="NaN not allowed"):
                db.execute(
                    f"UPDATE {schema}.templates SET embedding = %s::vector WHERE id = %s",
                    ("[" + ",".join(["NaN"] * 128) + "]", biden),
                )
            db.execute(
                f"UPDATE {schema}.templates SET embedding = %s::vector WHERE id = %s",
                ("[" + ",".join(["0"] * 128) + "]", biden),
            )
    else:
        sql(
            Path(uri) / "gallery.sqlite3",
            ("UPDATE templates SET embedding = zeroblob(512) WHERE id = ?", (biden,)),
        )
    with Gallery.open(uri) as g:
        with pytest.raises(CorruptGalleryError, match=f"template {biden} .*all zeros") as caught:
            g.identify(data / "obama_2.jpg")  # a zero row would score NaN, ranked first
        assert caught.value.template_id == biden
        with pytest.raises(CorruptGalleryError, match="all zeros"):
            g.verify("biden", data / "biden_2.jpg")


@pytest.mark.parametrize(
    ("vector", "problem"),
    [
        (np.full(128, np.nan, np.float32), "NaN"),
        (np.zeros(128, np.float32), "all zeros"),
        (np.full(128, 1.0, np.float32), "not a unit vector"),
        (np.full(64, 0.125, np.float32), "64 values"),
    ],
)
def test_impossible_embeddings_are_never_stored(
    uri: str, data: Path, vector: np.ndarray, problem: str
) -> None:
    with Gallery.open(uri) as g:
        with pytest.raises(InvalidEmbeddingError, match=problem):
            g.enroll_templates("x", [record(vector, "bad")])
        assert g.counts() == (0, 0)


# ---- 4. damaged files ----------------------------------------------------------------


@pytest.fixture(scope="module")
def big_gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A closed gallery of 300 synthetic templates (about 70 pages of 4 KiB)."""
    folder = tmp_path_factory.mktemp("big") / "g"
    vectors = unit(np.random.default_rng(21), 300)
    with Gallery.open(folder) as g:
        for i, vector in enumerate(vectors):
            g.enroll_templates(f"person-{i:03d}", [record(vector, f"photo-{i:03d}")])
    return folder, vectors


def damaged_copy(
    big: tuple[Path, np.ndarray], tmp_path: Path, damage: Callable[[bytearray], None]
) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(big[0], folder)
    db = folder / "gallery.sqlite3"
    content = bytearray(db.read_bytes())
    damage(content)
    db.write_bytes(bytes(content))
    return folder


def operations(
    g: Gallery, probes: np.ndarray, out: Path
) -> Iterator[tuple[str, Callable[[], object]]]:
    yield "identify", lambda: g.identify_embeddings(NO_BOX, probes[:1])
    yield "list", g.list
    yield "export", lambda: g.export(out)


def flip_middle(content: bytearray) -> None:
    middle = len(content) // 2
    for i in range(middle - 6000, middle + 6000):
        content[i] ^= 0xFF


def flip_few(content: bytearray) -> None:
    middle = len(content) // 2
    for i in range(middle, middle + 64):
        content[i] ^= 0xFF


def zero_page_2(content: bytearray) -> None:
    content[4096:8192] = bytes(4096)


def zero_last_page(content: bytearray) -> None:
    content[-4096:] = bytes(4096)


@pytest.mark.parametrize("damage", [flip_middle, flip_few, zero_page_2, zero_last_page])
def test_damaged_gallery_files_give_corrupt_gallery_error(
    big_gallery: tuple[Path, np.ndarray], tmp_path: Path, damage: Callable[[bytearray], None]
) -> None:
    folder = damaged_copy(big_gallery, tmp_path, damage)
    db = folder / "gallery.sqlite3"
    try:
        g = Gallery.open(folder)
    except CorruptGalleryError as exc:  # the damage is in what opening reads
        assert exc.path == db and str(exc).startswith(f"{db}: ")
        assert "restore it from a backup" in exc.reason
        return
    failed = []
    with g:
        for name, operation in operations(g, big_gallery[1], tmp_path / "export.json"):
            try:
                operation()
            except CorruptGalleryError as exc:
                assert exc.path == db and "\n" not in str(exc)
                assert "facescope gallery import" in str(exc) or exc.template_id is not None
                failed.append(name)
        assert g.integrity_check() != "ok"
    assert "export" in failed  # export reads every row: it cannot miss the damage


def test_a_zeroed_second_page_fails_on_open(
    big_gallery: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    folder = damaged_copy(big_gallery, tmp_path, zero_page_2)
    with pytest.raises(CorruptGalleryError, match="malformed"):
        Gallery.open(folder)


def test_an_empty_gallery_file_is_refused_not_recreated(
    big_gallery: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    folder = damaged_copy(big_gallery, tmp_path, lambda content: content.clear())
    db = folder / "gallery.sqlite3"
    with pytest.raises(
        CorruptGalleryError, match=r"is empty \(0 bytes\): it was truncated"
    ) as caught:
        Gallery.open(folder)
    assert caught.value.path == db and "delete the file" in caught.value.reason
    assert db.stat().st_size == 0  # left as it was, for the operator
    db.unlink()
    with Gallery.open(folder) as g:  # deleting it starts a new gallery, as the message says
        assert g.counts() == (0, 0)


def test_a_new_gallery_file_is_never_empty(tmp_path: Path) -> None:
    """A gallery is created whole, so an empty file can only be a truncated one."""
    store = SQLiteStore(tmp_path / "new.sqlite3")
    assert (tmp_path / "new.sqlite3").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []
    store.close()
    again = SQLiteStore(tmp_path / "new.sqlite3")  # and it opens as a gallery
    assert again.count() == (0, 0)
    again.close()


def test_a_locked_gallery_is_busy_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0.2)
    rng = np.random.default_rng(5)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        with pytest.raises(GalleryBusyError, match="busy") as caught:
            store.add_templates("a", [record(unit(rng, 1)[0], "a")], "synthetic", "1")
        assert not isinstance(caught.value, CorruptGalleryError)
        assert caught.value.path == db
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    store.add_templates("a", [record(unit(rng, 1)[0], "a")], "synthetic", "1")  # usable again
    assert store.count() == (1, 1)
    store.close()


def _with_mac(db: Path, body: bytes) -> bytes:
    """A cache file carrying a valid MAC over `body` (the key is read from the database)."""
    connection = sqlite3.connect(db)
    row = connection.execute(
        "SELECT value FROM meta WHERE key = ?", (sqlite_store._CACHE_KEY,)
    ).fetchone()
    connection.close()
    tag = hmac.new(base64.b64decode(row[0]), body, hashlib.sha256).digest()
    return sqlite_store._CACHE_MAGIC + tag + body


def _header(fields: dict[str, object]) -> bytes:
    raw = json.dumps(fields).encode()
    return b"FSIDX1\n" + len(raw).to_bytes(4, "little") + raw


def duplicate_ids() -> bytes:
    """A well-formed index whose rows repeat an id (diff assumes unique ids)."""
    index = VectorIndex()
    vectors = unit(np.random.default_rng(3), 4)
    index.add(np.array([1, 1, 1, 2]), np.array([9, 9, 9, 9]), np.array([0, 0, 0, 0]), vectors)
    return index.to_bytes()


DAMAGED_CACHES: dict[str, Callable[[], bytes]] = {
    "bad json": lambda: b"FSIDX1\n" + (9).to_bytes(4, "little") + b"{not json",
    "not utf-8": lambda: b"FSIDX1\n" + (4).to_bytes(4, "little") + b"\xff\xfe\xfd\xfc",
    "no rows field": lambda: _header({"dim": 128}),
    "negative rows": lambda: _header({"dim": 128, "rows": -5, "codes": 0}),
    "garbage codes": lambda: (
        _header({"dim": 128, "rows": 0, "codes": 16, "trained_on": 0}) + bytes(range(16))
    ),
    "huge size": lambda: b"FSIDX1\n" + (2**31).to_bytes(4, "little") + b"{}",
    "duplicate ids": duplicate_ids,
}


@pytest.mark.parametrize("kind", sorted(DAMAGED_CACHES))
def test_a_damaged_cache_with_a_valid_mac_is_rebuilt_not_fatal(
    tmp_path: Path, persist_small: None, kind: str
) -> None:
    """Even a cache that passes the MAC (a bug, or someone with the key) cannot crash search."""
    rng = np.random.default_rng(8)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    vectors = unit(rng, 60)
    for i, vector in enumerate(vectors):
        store.add_templates(f"s{i:02d}", [record(vector, f"t{i}")], "synthetic", "1")
    store.search(vectors[:1], 1)
    store.close()
    store.cache_path.write_bytes(_with_mac(db, DAMAGED_CACHES[kind]()))
    store = SQLiteStore(db)
    for i in (0, 17, 59):
        assert store.search(vectors[i][None], 1)[0][0][0] == f"s{i:02d}"
    assert len(store._current_index()) == 60
    store.close()


def test_a_damaged_cache_file_through_the_gallery(
    tmp_path: Path, data: Path, persist_small: None
) -> None:
    folder = tmp_path / "g"
    with Gallery.open(folder) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        g.identify(data / "obama_2.jpg")
    cache = folder / "gallery.sqlite3.index"
    for content in (b"", b"\x00" * 10_000, cache.read_bytes()[:-100], b"FSCACHE2\n" + b"x" * 99):
        cache.write_bytes(content)
        with Gallery.open(folder) as g:
            assert g.identify(data / "obama_2.jpg")[0].identity == "obama"


# ---- 5. erasure with a reader in the way ---------------------------------------------------

SECRET_NAME = "subject-7f3a9c-erase-me"
SECRET_FILE = "source-91c2e4-erase-me.jpg"


@pytest.fixture
def with_secret(tmp_path: Path, data: Path) -> Iterator[tuple[Gallery, Path]]:
    folder = tmp_path / "g"
    photo = tmp_path / SECRET_FILE
    shutil.copy(data / "biden_1.jpg", photo)
    g = Gallery.open(folder)
    g.enroll("obama", [data / "obama_1.jpg"])
    g.enroll(SECRET_NAME, [photo])
    yield g, folder / "gallery.sqlite3"
    g.close()


def on_disk(db: Path) -> dict[str, bytes]:
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + ".index")]
    return {p.name: p.read_bytes() for p in files if p.exists()}


def holds_secret(content: bytes) -> bool:
    return SECRET_NAME.encode() in content or SECRET_FILE.encode() in content


def test_erasure_blocked_by_a_reader_is_pending_then_finished(
    with_secret: tuple[Gallery, Path],
) -> None:
    g, db = with_secret
    wal = db.with_name(db.name + "-wal")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM templates").fetchone() == (2,)  # a snapshot
    started = time.monotonic()
    assert g.remove(SECRET_NAME) == 1
    assert time.monotonic() - started < 5  # not the 30 s busy wait
    assert not g.has_subject(SECRET_NAME)
    assert g.erasure_pending
    assert holds_secret(wal.read_bytes())  # the reader's snapshot keeps the old pages
    assert g.finish_erasure() is False and g.erasure_pending
    reader.execute("COMMIT")
    assert g.finish_erasure() is True and not g.erasure_pending
    for name, content in on_disk(db).items():
        assert not holds_secret(content), name
    reader.close()


def test_a_pending_erasure_is_finished_by_the_next_operation(
    with_secret: tuple[Gallery, Path],
) -> None:
    g, db = with_secret
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM subjects").fetchone()
    g.remove(SECRET_NAME)
    assert g.erasure_pending and g.list()  # still pending while the reader is there
    assert g.erasure_pending
    reader.execute("COMMIT")
    assert [s.name for s in g.list()] == ["obama"]
    assert not g.erasure_pending
    for name, content in on_disk(db).items():
        assert not holds_secret(content), name
    reader.close()


def test_finish_erasure_waits_for_the_reader(with_secret: tuple[Gallery, Path]) -> None:
    g, db = with_secret
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM subjects").fetchone()
    g.remove(SECRET_NAME)
    assert g.erasure_pending
    done = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
    done.start()
    try:
        assert g.finish_erasure(timeout_s=10) is True
    finally:
        done.join()
        reader.close()
    for name, content in on_disk(db).items():
        assert not holds_secret(content), name
    with pytest.raises(ValueError, match="timeout_s"):
        g.finish_erasure(-1)


def test_a_pending_erasure_survives_close_and_is_finished_on_reopen(
    with_secret: tuple[Gallery, Path],
) -> None:
    g, db = with_secret
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM subjects").fetchone()
    g.remove(SECRET_NAME)
    g.close()  # cannot finish it: the reader is still there
    meta = reader.execute("SELECT value FROM meta WHERE key = 'erasure_pending'").fetchall()
    assert meta == []  # (the reader's snapshot predates the record)
    reader.execute("COMMIT")
    recorded = reader.execute("SELECT COUNT(*) FROM meta WHERE key = 'erasure_pending'")
    assert recorded.fetchone() == (1,)  # recorded for whoever opens the gallery next
    with Gallery.open(db.parent) as again:  # opening finishes it
        assert not again.erasure_pending
        assert again.counts() == (1, 1)
        flag = sqlite3.connect(db).execute(
            "SELECT COUNT(*) FROM meta WHERE key = 'erasure_pending'"
        )
        assert flag.fetchone() == (0,)
        for name, content in on_disk(db).items():
            assert not holds_secret(content), name
    reader.close()


def test_erasure_without_readers_is_complete_on_return(
    with_secret: tuple[Gallery, Path],
) -> None:
    g, db = with_secret
    assert g.remove(SECRET_NAME) == 1
    assert not g.erasure_pending and g.finish_erasure()
    for name, content in on_disk(db).items():
        assert not holds_secret(content), name


def test_postgres_store_has_no_pending_erasure(uri: str, data: Path) -> None:
    with Gallery.open(uri) as g:
        g.enroll("obama", [data / "obama_1.jpg"])
        assert g.remove("obama") == 1
        assert not g.erasure_pending and g.finish_erasure() is True


def test_errors_keep_their_attributes_through_pickle() -> None:
    """The REST service and worker pools may pass errors between processes."""
    import pickle

    error = CorruptGalleryError(
        "/x/gallery.sqlite3: damaged", Path("/x/gallery.sqlite3"), template_id=4
    )
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.reason, again.template_id) == (error.path, "damaged", 4)
    assert str(again) == str(error)
    busy = pickle.loads(pickle.dumps(GalleryBusyError("/x: busy", "/x")))
    assert isinstance(busy, GalleryError) and busy.reason == "busy"
