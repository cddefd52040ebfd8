"""The embedded gallery's search index and its on-disk cache.

The index is a cache of the SQLite templates: whatever state the cache file is
in (missing, stale after a crash, truncated, tampered, from before an erasure),
search must return exactly what an exact search over the database returns.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from facescope.gallery import sqlite_store
from facescope.gallery.sqlite_store import SQLiteStore
from facescope.gallery.store import TemplateRecord
from facescope.gallery.vector_index import VectorIndex, fingerprint


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def record(vector: np.ndarray, tag: str) -> TemplateRecord:
    digest = hashlib.sha256(tag.encode()).hexdigest()
    return TemplateRecord(vector.astype(np.float32), 1.0, 0.9, tag, digest)


def exact(store: SQLiteStore, probe: np.ndarray, top_k: int) -> list[tuple[str, float]]:
    """Reference: best template per subject over every stored row."""
    _, names, matrix, _ = store.templates()
    best: dict[str, float] = {}
    for name, score in zip(names, (matrix @ probe).tolist(), strict=True):
        best[name] = max(best.get(name, -2.0), score)
    return sorted(best.items(), key=lambda item: -item[1])[:top_k]


def assert_same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [n for n, _ in got] == [n for n, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def fill(store: SQLiteStore, vectors: np.ndarray, prefix: str, per_subject: int = 2) -> None:
    for start in range(0, len(vectors), per_subject):
        block = vectors[start : start + per_subject]
        store.add_templates(
            f"{prefix}{start // per_subject:05d}",
            [record(v, f"{prefix}-{start + i}") for i, v in enumerate(block)],
            "synthetic",
            "1",
        )


@pytest.fixture
def persist_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the cache on disk even for the small galleries of these tests."""
    monkeypatch.setattr(sqlite_store, "PERSIST_MIN", 1)


# ---- the index itself ------------------------------------------------------------------


@pytest.mark.slow
def test_quantized_search_finds_the_exact_top_10_and_returns_exact_scores() -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng, 20_000)
    ids = np.arange(20_000, dtype=np.int64) * 3 + 1
    quantized = VectorIndex(mode="quantized")
    quantized.add(ids, ids // 2, ids, vectors)
    assert quantized.quantized
    probes = unit(rng, 50) * 0.2 + vectors[:50]
    recall = []
    for probe in probes / np.linalg.norm(probes, axis=1, keepdims=True):
        truth = set(ids[np.argsort(-(vectors @ probe))[:10]].tolist())
        hits = quantized.search(probe, 10)
        recall.append(len(truth & set(hits.template_ids.tolist())) / 10)
        rows = np.searchsorted(ids, hits.template_ids)
        np.testing.assert_allclose(hits.scores, vectors[rows] @ probe, atol=1e-6)
        assert np.all(np.diff(hits.scores) <= 0)
    assert np.mean(recall) >= 0.98


def test_removed_rows_are_gone_from_vectors_and_codes() -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 2_000)
    ids = np.arange(2_000, dtype=np.int64)
    index = VectorIndex(mode="quantized")
    index.add(ids, ids, ids, vectors)
    gone = ids[::3]
    assert index.remove(gone) == len(gone)
    assert index.quantized and index._pq.ntotal == len(index) == 2_000 - len(gone)
    for probe in vectors[gone[:20]]:
        hits = index.search(probe, 10)
        assert not set(hits.template_ids.tolist()) & set(gone.tolist())
    assert index.remove(gone) == 0


def test_diff_redoes_rows_whose_subject_or_photo_changed() -> None:
    index = VectorIndex()
    index.add(np.array([1, 2, 3]), np.array([10, 10, 20]), np.array([5, 6, 7]), np.eye(3, 128))
    missing, stale = index.diff(np.array([1, 2, 4]), np.array([10, 11, 20]), np.array([5, 6, 8]))
    assert missing.tolist() == [2, 4]  # 2 moved to another subject (a reused id), 4 is new
    assert stale.tolist() == [2, 3]


def test_serialised_index_round_trips_and_rejects_damage() -> None:
    rng = np.random.default_rng(2)
    vectors = unit(rng, 1_000)
    ids = np.arange(1_000, dtype=np.int64)
    index = VectorIndex(mode="quantized")
    index.add(ids, ids % 7, ids, vectors)
    data = index.to_bytes()
    again = VectorIndex.from_bytes(data, 128, mode="quantized")
    assert again.quantized
    for probe in vectors[:5]:
        a, b = index.search(probe, 10), again.search(probe, 10)
        assert a.template_ids.tolist() == b.template_ids.tolist()
    for bad in (data[:-10], data + b"x", b"garbage", data[:20]):
        with pytest.raises(ValueError):
            VectorIndex.from_bytes(bad, 128)
    with pytest.raises(ValueError, match="dimension"):
        VectorIndex.from_bytes(data, 512)


def test_index_mode_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESCOPE_INDEX", "hnsw")
    with pytest.raises(ValueError, match="FACESCOPE_INDEX"):
        VectorIndex()


# ---- the cache file against the database -------------------------------------------------


def test_cache_file_is_used_and_caught_up_after_a_crash(
    tmp_path: Path, persist_small: None
) -> None:
    rng = np.random.default_rng(3)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    fill(store, unit(rng, 400), "a")
    probes = unit(rng, 5)
    store.search(probes, 5)
    store.close()
    assert store.cache_path.exists()
    old_cache = tmp_path / "old.index"
    shutil.copy(store.cache_path, old_cache)

    # more work, then a "crash" that leaves the cache from before it on disk
    store = SQLiteStore(db)
    fill(store, unit(rng, 100), "b")
    store.remove_subject("a00003")
    store.close()
    shutil.copy(old_cache, store.cache_path)

    store = SQLiteStore(db)
    loaded = store._load_cache()
    assert loaded is not None and len(loaded) == 400  # the stale cache is read...
    for probe in probes:
        assert_same(store.search(probe[None], 5)[0], exact(store, probe, 5))  # ...and caught up
    names = {name for name, _ in store.search(unit(rng, 50), 50)[0]}
    assert "a00003" not in names
    store.close()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "foreign"])
def test_damaged_cache_is_rebuilt(tmp_path: Path, persist_small: None, damage: str) -> None:
    rng = np.random.default_rng(4)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    fill(store, unit(rng, 300), "a")
    store.search(unit(rng, 1), 1)
    store.close()
    data = store.cache_path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    elif damage == "empty":
        data = b""
    else:  # a cache of another gallery with the same ids
        other = VectorIndex()
        other.add(np.arange(1, 301), np.arange(1, 301), np.arange(1, 301), unit(rng, 300))
        data = other.to_bytes()
    store.cache_path.write_bytes(data)
    store = SQLiteStore(db)
    for probe in unit(rng, 5):
        assert_same(store.search(probe[None], 5)[0], exact(store, probe, 5))
    store.close()


def test_erasure_leaves_no_copy_of_the_template_on_disk(
    tmp_path: Path, persist_small: None
) -> None:
    rng = np.random.default_rng(5)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db)
    vectors = unit(rng, 200)
    fill(store, vectors, "a")
    store.search(vectors[:1], 1)
    store.close()
    secret = vectors[6].astype("<f4").tobytes()  # subject a00003's first template
    assert secret in store.cache_path.read_bytes()

    store = SQLiteStore(db)
    store.search(vectors[:1], 1)
    assert store.remove_subject("a00003") == 2
    assert store.search(vectors[6][None], 3)[0][0][0] != "a00003"
    store.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("g.sqlite3")]
    assert store.cache_path in files  # rewritten on close, without the erased rows
    for path in files:
        assert secret not in path.read_bytes(), path.name


def test_encrypted_gallery_cache_is_encrypted(tmp_path: Path, persist_small: None) -> None:
    rng = np.random.default_rng(6)
    db = tmp_path / "g.sqlite3"
    store = SQLiteStore(db, secret="correct horse")
    vectors = unit(rng, 100)
    fill(store, vectors, "a")
    store.search(vectors[:1], 1)
    store.close()
    blob = store.cache_path.read_bytes()
    assert vectors[0].astype("<f4").tobytes() not in blob
    store = SQLiteStore(db, secret="correct horse")
    assert store._load_cache() is not None
    assert_same(store.search(vectors[:1], 3)[0], exact(store, vectors[0], 3))
    store.close()


def test_other_process_writes_are_followed(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    db = tmp_path / "g.sqlite3"
    reader, writer = SQLiteStore(db), SQLiteStore(db)
    fill(writer, unit(rng, 50), "a")
    probe = unit(rng, 1)[0]
    assert_same(reader.search(probe[None], 3)[0], exact(writer, probe, 3))
    fill(writer, probe[None], "new", per_subject=1)
    assert reader.search(probe[None], 1)[0][0][0] == "new00000"
    writer.remove_subject("new00000")
    assert reader.search(probe[None], 1)[0][0][0] != "new00000"
    reader.close()
    writer.close()


def test_fingerprint_is_60_bits_of_the_photo_hash() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert fingerprint(digest) == int(digest[:15], 16) < 2**60
    assert 0 <= fingerprint("not-hex-label") < 2**60  # imported labels of any form
    assert fingerprint("ab") != fingerprint("ac")
