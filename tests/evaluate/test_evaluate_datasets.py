"""Evaluation datasets: loaders, pairs files, seeded protocols and the embedding cache."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import facescope
from facescope.errors import FacescopeError
from facescope.evaluate import cache as cache_module
from facescope.evaluate.cache import (
    EmbeddingCache,
    default_cache_path,
    embed_dataset,
    model_version,
)
from facescope.evaluate.datasets import (
    Dataset,
    DatasetError,
    Pairs,
    generate_pairs,
    identification_split,
    load_dataset,
)
from facescope.models.consent import LicenceNotAcceptedError
from facescope.pipeline import largest

PORTRAITS = {"obama": ["obama_1.jpg", "obama_2.jpg"], "biden": ["biden_1.jpg", "biden_2.jpg"]}


def _tree(data: Path, root: Path, *, lfw: bool = False) -> Path:
    """root/<name>/<file>; with `lfw`, files are named <name>_0001.jpg, <name>_0002.jpg."""
    for name, files in PORTRAITS.items():
        (root / name).mkdir(parents=True)
        for k, file in enumerate(files, 1):
            target = f"{name}_{k:04d}.jpg" if lfw else file
            shutil.copy(data / file, root / name / target)
    return root


def _labelled(data: Path, root: Path, *, extras: bool = False) -> Path:
    """A folder with labels.csv (path,identity,group); with `extras`, a blank and a broken image."""
    root.mkdir(parents=True)
    lines = ["path,identity,group"]
    for name, files in PORTRAITS.items():
        (root / "img").mkdir(exist_ok=True)
        for file in files:
            shutil.copy(data / file, root / "img" / file)
            lines.append(f"img/{file},{name},{'A' if name == 'obama' else 'B'}")
    if extras:
        Image.new("RGB", (160, 120), (128, 128, 128)).save(root / "img" / "blank.png")
        (root / "img" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
        lines += ["img/blank.png,ghost,B", "img/broken.jpg,ghost,B"]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def _fake(identities: list[str]) -> Dataset:
    """A dataset of labels only (the protocols never open the files)."""
    paths = [Path(f"/nowhere/{i}.jpg") for i in range(len(identities))]
    return Dataset("fake", Path("/nowhere"), paths, identities)


def _pair_set(pairs: Pairs) -> list[tuple[int, int, bool]]:
    return list(zip(pairs.a.tolist(), pairs.b.tolist(), pairs.same.tolist(), strict=True))


# --------------------------------------------------------------------------- loaders


def test_folder_per_identity(data: Path, tmp_path: Path) -> None:
    dataset = load_dataset(_tree(data, tmp_path / "people"))
    assert dataset.name == "people"
    assert dataset.root == tmp_path / "people"
    assert len(dataset) == 4
    assert dataset.subjects == ["biden", "obama"]
    assert dataset.identities == ["biden", "biden", "obama", "obama"]
    assert all(p.is_file() for p in dataset.paths)
    assert dataset.groups == {}
    assert dataset.pairs is None
    assert load_dataset(tmp_path / "people", name="mine").name == "mine"


def test_labels_csv_folder_keeps_extra_columns(data: Path, tmp_path: Path) -> None:
    dataset = load_dataset(_labelled(data, tmp_path / "set"))
    assert dataset.name == "set"
    assert len(dataset) == 4
    assert dataset.identities == ["obama", "obama", "biden", "biden"]
    assert dataset.groups == {"group": ["A", "A", "B", "B"]}
    assert dataset.paths[0] == tmp_path / "set" / "img" / "obama_1.jpg"


def test_csv_file(data: Path, tmp_path: Path) -> None:
    root = _labelled(data, tmp_path / "set")
    other = root / "subset.csv"
    other.write_text("identity,path\nobama,img/obama_1.jpg\nbiden,img/biden_1.jpg\n")
    dataset = load_dataset(other)
    assert dataset.name == "subset"
    assert dataset.root == root
    assert dataset.identities == ["obama", "biden"]
    assert load_dataset(root / "labels.csv").name == "set"


def test_dataset_errors(data: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder or file"):
        load_dataset(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "solo" / "obama").mkdir(parents=True)
    shutil.copy(data / "obama_1.jpg", tmp_path / "solo" / "obama")
    with pytest.raises(DatasetError, match="at least 2 identity"):
        load_dataset(tmp_path / "solo")
    root = _labelled(data, tmp_path / "set")

    def csv(text: str) -> Path:
        file = root / "bad.csv"
        file.write_text(text)
        return file

    with pytest.raises(DatasetError, match="missing column"):
        load_dataset(csv("file,identity\nimg/obama_1.jpg,obama\n"))
    with pytest.raises(DatasetError, match="line 3: 3 fields"):
        load_dataset(csv("path,identity\nimg/obama_1.jpg,obama\nimg/biden_1.jpg,biden,x\n"))
    with pytest.raises(DatasetError, match=r"line 2: image .*nope.jpg not found"):
        load_dataset(csv("path,identity\nimg/nope.jpg,obama\n"))
    with pytest.raises(DatasetError, match="line 2: empty path or identity"):
        load_dataset(csv("path,identity\nimg/obama_1.jpg,\n"))
    with pytest.raises(DatasetError, match="listed twice"):
        load_dataset(csv("path,identity\nimg/obama_1.jpg,a\nimg/obama_1.jpg,b\n"))
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(csv("path,identity\n"))
    with pytest.raises(DatasetError, match="empty file"):
        load_dataset(csv(""))
    with pytest.raises(DatasetError, match="at least 2 identities, found 1"):
        load_dataset(csv("path,identity\nimg/obama_1.jpg,obama\nimg/obama_2.jpg,obama\n"))
    # one type to catch, and a ValueError for generic callers
    assert issubclass(DatasetError, FacescopeError) and issubclass(DatasetError, ValueError)


# --------------------------------------------------------------------------- pairs files


def test_lfw_pairs_txt(data: Path, tmp_path: Path) -> None:
    root = _tree(data, tmp_path / "lfw", lfw=True)
    pairs_txt = tmp_path / "pairs.txt"
    pairs_txt.write_text("1\t2\nobama\t1\t2\nbiden\t1\t2\nobama\t1\tbiden\t2\nbiden 1 obama 2\n")
    dataset = load_dataset(root, pairs=pairs_txt)
    assert dataset.pairs is not None
    p = dataset.pairs
    assert len(p) == 4 and p.genuine == 2 and p.impostor == 2
    names = [(dataset.paths[a].name, dataset.paths[b].name) for a, b in zip(p.a, p.b, strict=True)]
    assert names == [
        ("obama_0001.jpg", "obama_0002.jpg"),
        ("biden_0001.jpg", "biden_0002.jpg"),
        ("obama_0001.jpg", "biden_0002.jpg"),
        ("biden_0001.jpg", "obama_0002.jpg"),
    ]
    assert p.same.tolist() == [True, True, False, False]
    # the bare "N" header (pairsDevTrain.txt)
    pairs_txt.write_text("1\nobama 1 2\nobama 2 biden 1\n")
    short = load_dataset(root, pairs=pairs_txt).pairs
    assert short is not None and short.same.tolist() == [True, False]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\nobama 1 2\nclinton 1 obama 2\n", r"line 3: unknown identity 'clinton'"),
        ("1\nobama 1 3\nobama 1 biden 2\n", r"line 2: image .*obama_0003.jpg is not in"),
        ("1\nobama 1\nobama 1 biden 2\n", r"line 2: expected 'name i j'"),
        ("1\nobama one two\nobama 1 biden 2\n", r"line 2: expected 'name i j'"),
        ("pairs\nobama 1 2\n", r"line 1: expected a header"),
        ("2\nobama 1 2\nobama 1 biden 2\n", r"header promises 1 fold"),
        ("1\nobama 1 1\nobama 1 biden 2\n", r"line 2: pairs an image with itself"),
        ("", r"empty pairs file"),
    ],
)
def test_lfw_pairs_errors(data: Path, tmp_path: Path, text: str, message: str) -> None:
    root = _tree(data, tmp_path / "lfw", lfw=True)
    (tmp_path / "pairs.txt").write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root, pairs=tmp_path / "pairs.txt")


def test_pairs_file_missing(data: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="pairs file not found"):
        load_dataset(_tree(data, tmp_path / "p"), pairs=tmp_path / "none.txt")


def test_pairs_csv_infers_same(data: Path, tmp_path: Path) -> None:
    root = _labelled(data, tmp_path / "set")
    file = tmp_path / "pairs.csv"
    file.write_text("a,b\nimg/obama_1.jpg,img/obama_2.jpg\nimg/obama_1.jpg,img/biden_1.jpg\n")
    p = load_dataset(root, pairs=file).pairs
    assert p is not None
    assert p.same.tolist() == [True, False]
    assert p.a.tolist() == [0, 0] and p.b.tolist() == [1, 2]
    file.write_text(
        "a,b,same\nimg/biden_2.jpg,img/biden_1.jpg,TRUE\nimg/obama_2.jpg,img/biden_2.jpg,0\n"
    )
    p = load_dataset(root, pairs=file).pairs
    assert p is not None and p.same.tolist() == [True, False] and p.a.tolist() == [3, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,c\nimg/obama_1.jpg,img/obama_2.jpg\n", "missing column"),
        ("a,b\nimg/obama_1.jpg,img/nobody.jpg\n", r"line 2: image .*nobody.jpg is not in"),
        ("a,b,same\nimg/obama_1.jpg,img/obama_2.jpg,maybe\n", r"line 2: same='maybe'"),
        ("a,b,same\nimg/obama_1.jpg,img/biden_2.jpg,1\n", r"line 2: same=1 but the identities"),
        ("a,b\nimg/obama_1.jpg,img/obama_1.jpg\n", r"line 2: pairs an image with itself"),
        ("a,b\n", "no pairs after the header"),
    ],
)
def test_pairs_csv_errors(data: Path, tmp_path: Path, text: str, message: str) -> None:
    root = _labelled(data, tmp_path / "set")
    (tmp_path / "pairs.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root, pairs=tmp_path / "pairs.csv")


# --------------------------------------------------------------------------- protocols

IDENTITIES = [f"id{k % 7}" for k in range(40)] + ["solo"]


def test_generate_all_pairs() -> None:
    dataset = _fake(IDENTITIES)
    n = len(dataset)
    pairs = generate_pairs(dataset)
    assert len(pairs) == n * (n - 1) // 2
    assert np.all(pairs.a < pairs.b)
    assert len({(a, b) for a, b, _ in _pair_set(pairs)}) == len(pairs)
    labels = np.asarray(IDENTITIES)
    assert np.array_equal(pairs.same, labels[pairs.a] == labels[pairs.b])
    expected_genuine = sum(c * (c - 1) // 2 for c in np.unique(labels, return_counts=True)[1])
    assert pairs.genuine == expected_genuine
    assert pairs.impostor == len(pairs) - expected_genuine
    assert generate_pairs(dataset, seed=5).a.tolist() == pairs.a.tolist()  # nothing sampled


def test_generate_pairs_sampling_is_seeded() -> None:
    dataset = _fake(IDENTITIES)
    every = set(_pair_set(generate_pairs(dataset)))
    kwargs = {"max_genuine": 20, "max_impostor": 50}
    first = generate_pairs(dataset, seed=3, **kwargs)
    assert first.genuine == 20 and first.impostor == 50
    assert set(_pair_set(first)) <= every
    assert len(set(_pair_set(first))) == len(first)
    assert _pair_set(generate_pairs(dataset, seed=3, **kwargs)) == _pair_set(first)
    assert _pair_set(generate_pairs(dataset, seed=4, **kwargs)) != _pair_set(first)
    # capping genuine pairs does not change the impostor draw (independent streams)
    other = generate_pairs(dataset, seed=3, max_impostor=50)
    assert _pair_set(other)[other.genuine :] == _pair_set(first)[first.genuine :]
    ratio = generate_pairs(dataset, max_genuine=10, impostor_per_genuine=2.5, seed=1)
    assert ratio.genuine == 10 and ratio.impostor == 25
    capped = generate_pairs(dataset, impostor_per_genuine=100.0, max_impostor=30)
    assert capped.impostor == 30
    with pytest.raises(DatasetError, match="max_impostor must be >= 0"):
        generate_pairs(dataset, max_impostor=-1)


def test_impostor_sampling_covers_all_pairs() -> None:
    """Sampling all but one impostor pair by rank recovers the full set minus one."""
    dataset = _fake(IDENTITIES)
    full = generate_pairs(dataset)
    sampled = generate_pairs(dataset, max_impostor=full.impostor - 1, seed=2)
    assert set(_pair_set(sampled)) < set(_pair_set(full))
    assert len(set(_pair_set(full)) - set(_pair_set(sampled))) == 1


def test_identification_split() -> None:
    dataset = _fake(IDENTITIES)
    gallery, probes = identification_split(dataset, seed=0)
    assert sorted(gallery.tolist() + probes.tolist()) == list(range(len(dataset)))
    labels = np.asarray(IDENTITIES)
    enrolled = set(labels[gallery].tolist())
    assert len(gallery) == len(enrolled)  # one image per enrolled subject
    assert len(enrolled) == len(dataset.subjects) - len(dataset.subjects) // 2
    nonmated = set(dataset.subjects) - enrolled
    assert all(labels[i] in nonmated or labels[i] in enrolled for i in probes)
    assert not nonmated & enrolled
    again = identification_split(dataset, seed=0)
    assert gallery.tolist() == again[0].tolist() and probes.tolist() == again[1].tolist()
    assert any(
        identification_split(dataset, seed=s)[0].tolist() != gallery.tolist() for s in (1, 2)
    )
    two, _ = identification_split(dataset, gallery_per_subject=2, nonmated_fraction=0.0)
    assert len(two) == 2 * 7 + 1  # "solo" has one image only
    few, _ = identification_split(dataset, nonmated_fraction=0.01)
    assert len(few) == len(dataset.subjects) - 1  # a positive fraction leaves one out
    with pytest.raises(DatasetError, match="nonmated_fraction"):
        identification_split(dataset, nonmated_fraction=1.0)
    with pytest.raises(DatasetError, match="gallery_per_subject"):
        identification_split(dataset, gallery_per_subject=0)


# --------------------------------------------------------------------------- cache


@pytest.mark.slow
def test_embed_dataset_caches_vectors_and_failures(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(_labelled(data, tmp_path / "set", extras=True))
    models = ["sface", "dlib"]
    store = EmbeddingCache(tmp_path / "cache.sqlite3")
    seen: list[int] = []

    def progress(items: Iterable[Any]) -> Iterable[Any]:
        listed = list(items)
        seen.append(len(listed))
        return listed

    first = embed_dataset(dataset, models, cache=store, batch_size=2, progress=progress)
    n = len(dataset)
    assert seen == [n]
    assert first.computed == n * len(models) and first.cached_hits == 0
    assert first.found.tolist() == [True] * 4 + [False, False]
    blank, broken = (str(p) for p in dataset.paths[4:])
    assert set(first.failures) == {blank, broken}
    assert first.failures[blank] == "no face found"
    assert first.failures[broken] != "no face found"
    for m in models:
        vectors = first.vectors[m]
        assert vectors.shape == (n, 128) and vectors.dtype == np.float32
        assert np.isnan(vectors[~first.found]).all()
        assert np.allclose(np.linalg.norm(vectors[first.found], axis=1), 1.0, atol=1e-5)
    assert len(store) == n * len(models)  # failures are stored too

    def no_inference(*args: object, **kwargs: object) -> None:
        raise AssertionError("inference ran on a cached dataset")

    monkeypatch.setattr(cache_module, "embed_largest_faces", no_inference)
    again = embed_dataset(dataset, models, cache=EmbeddingCache(store.path))
    assert again.computed == 0 and again.cached_hits == n * len(models)
    assert again.failures == first.failures
    assert np.array_equal(again.found, first.found)
    for m in models:
        np.testing.assert_array_equal(again.vectors[m], first.vectors[m])
    monkeypatch.undo()

    # vectors match a direct facescope.embed of the largest face
    for i in np.flatnonzero(first.found):
        faces = largest(facescope.detect(dataset.paths[i]))
        for m in models:
            direct = facescope.embed(dataset.paths[i], faces, model=m).vectors[0]
            np.testing.assert_allclose(first.vectors[m][i], direct, atol=1e-6)

    # another alignment setting is another cache entry
    aligned = embed_dataset(dataset, ["sface"], cache=store, assume_aligned=True)
    assert aligned.computed == n and aligned.cached_hits == 0


def test_embed_dataset_without_cache_and_unreadable(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = load_dataset(_tree(data, tmp_path / "people"))
    dataset.paths[0].unlink()  # vanished after loading
    result = embed_dataset(dataset, ["sface"], cache=None)
    assert result.computed == 3 and result.cached_hits == 0
    assert result.failures[str(dataset.paths[0])].startswith("cannot read file")
    assert result.found.tolist() == [False, True, True, True]
    with pytest.raises(ValueError, match="unknown model 'facenet'"):
        embed_dataset(dataset, ["facenet"], cache=None)
    # the opt-in model is refused without its licence consent in the data folder
    monkeypatch.setenv("FACESCOPE_DATA", str(tmp_path / "data"))
    with pytest.raises(LicenceNotAcceptedError, match="facescope models enable arcface-mbf"):
        embed_dataset(dataset, ["arcface"], cache=None)


def test_cache_location_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACESCOPE_CACHE", raising=False)
    assert default_cache_path() == Path.home() / ".cache" / "facescope" / "embeddings.sqlite3"
    monkeypatch.setenv("FACESCOPE_CACHE", str(tmp_path / "x.sqlite3"))
    assert EmbeddingCache().path == tmp_path / "x.sqlite3"
    monkeypatch.setenv("FACESCOPE_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "embeddings.sqlite3"
    assert model_version("sface") != model_version("dlib")
    fp32 = model_version("sface")
    monkeypatch.setenv("FACESCOPE_SFACE_PRECISION", "int8")
    assert model_version("sface") != fp32


# --------------------------------------------------------------------------- shared data


def test_shared_datasets(orl: Path, celebrities: Path) -> None:
    dataset = load_dataset(orl)
    assert len(dataset) == 400 and len(dataset.subjects) == 40
    celebs = load_dataset(celebrities)
    assert len(celebs) == 600 and len(celebs.subjects) == 12
    pairs = generate_pairs(celebs)
    assert len(pairs) == 600 * 599 // 2
