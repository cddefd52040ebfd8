"""Template length per model: 128 for sface and dlib (unchanged), 512 for arcface."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from facescope.errors import CorruptGalleryError, InvalidEmbeddingError
from facescope.gallery.sqlite_store import SQLiteStore
from facescope.gallery.store import DIM, TemplateRecord, check_embedding, dim_for, vector_problem


def _record(vector: np.ndarray, tag: str) -> TemplateRecord:
    unit = (vector / np.linalg.norm(vector)).astype(np.float32)
    return TemplateRecord(unit, 1.0, 0.9, f"{tag}.jpg", hashlib.sha256(tag.encode()).hexdigest())


def test_dimension_per_model() -> None:
    assert DIM == 128
    assert dim_for("sface") == dim_for("dlib") == dim_for(None) == dim_for("old-model") == 128
    assert dim_for("arcface") == 512


def test_the_checks_hold_at_every_length() -> None:
    unit = np.ones(512, np.float32) / np.sqrt(512)
    assert check_embedding(unit, "x", 512).shape == (512,)
    with pytest.raises(InvalidEmbeddingError, match="has 512 values, not 128"):
        check_embedding(unit, "x")
    bad = unit.copy()
    bad[3] = np.nan
    assert vector_problem(bad, 512) == "holds NaN or infinite values"
    assert "not a unit vector" in (vector_problem(unit * 2, 512) or "")
    assert vector_problem(np.zeros(512, np.float32), 512) == "is all zeros"


def test_an_arcface_store_keeps_and_searches_512_d_templates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "gallery.sqlite3"
    store = SQLiteStore(path)
    store.set_meta({"model": "arcface", "model_version": "w600k_mbf"})
    assert store.dim == 512
    people = {name: rng.normal(size=512) for name in ("ada", "bob", "cy")}
    for name, vector in people.items():
        store.add_templates(name, [_record(vector, name)], "arcface", "w600k_mbf")
    with pytest.raises(InvalidEmbeddingError, match="not 128-d ones of sface"):
        store.add_templates("dee", [_record(rng.normal(size=128), "dee")], "sface", "x")
    with pytest.raises(InvalidEmbeddingError, match="has 128 values, not 512"):
        store.add_templates("dee", [_record(rng.normal(size=128), "dee")], "arcface", "x")
    probe = people["bob"] + 0.3 * rng.normal(size=512)
    probe = (probe / np.linalg.norm(probe)).astype(np.float32)
    assert store.search(probe[None], 1)[0][0][0] == "bob"
    store.close()

    again = SQLiteStore(path)  # reopened: rows read back and checked at 512
    try:
        _, names, vectors, _ = again.templates()
        assert vectors.shape == (3, 512) and sorted(names) == ["ada", "bob", "cy"]
        assert again.search(probe[None], 2)[0][0][0] == "bob"
    finally:
        again.close()


def test_a_default_gallery_is_unchanged_at_128(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    store = SQLiteStore(tmp_path / "g.sqlite3")
    try:
        store.set_meta({"model": "sface", "model_version": "2021dec-fp32"})
        assert store.dim == 128
        store.add_templates("ada", [_record(rng.normal(size=128), "ada")], "sface", "v")
        with pytest.raises(InvalidEmbeddingError, match="has 512 values, not 128"):
            store.add_templates("bob", [_record(rng.normal(size=512), "bob")], "sface", "v")
        assert store.templates()[2].shape == (1, 128)
    finally:
        store.close()


def test_a_128_d_row_in_an_arcface_gallery_is_damage(tmp_path: Path) -> None:
    import sqlite3

    rng = np.random.default_rng(2)
    path = tmp_path / "g.sqlite3"
    store = SQLiteStore(path)
    store.set_meta({"model": "arcface", "model_version": "w600k_mbf"})
    store.add_templates("ada", [_record(rng.normal(size=512), "ada")], "arcface", "v")
    store.close()
    short = _record(rng.normal(size=128), "x").embedding.astype("<f4").tobytes()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE templates SET embedding = ?", (short,))
    again = SQLiteStore(path)
    try:
        with pytest.raises(CorruptGalleryError, match="512"):
            again.templates()
    finally:
        again.close()


def test_an_arcface_gallery_needs_the_licence_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facescope.gallery import Gallery
    from facescope.models.consent import DATA_ENV, LicenceNotAcceptedError

    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    with pytest.raises(LicenceNotAcceptedError, match="facescope models enable arcface-mbf"):
        Gallery.open(tmp_path / "g", model="arcface")
    with pytest.raises(ValueError, match="gallery model must be one of sface, dlib, arcface"):
        Gallery.open(tmp_path / "g", model="facenet")
