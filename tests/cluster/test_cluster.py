"""FaceLibrary: discover unknown people, with cluster ids that stay put as photos arrive."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facescope.cluster import (
    ClusterError,
    FaceLibrary,
    UnknownClusterError,
    assign_incremental,
    cluster_metrics,
)
from facescope.errors import FacescopeError
from facescope.gallery import Gallery

SINGLES = ["obama_1.jpg", "obama_2.jpg", "biden_1.jpg", "biden_2.jpg"]
GROUPS = ["obama_left_biden_right.jpg", "biden_left_obama_right.jpg"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    """A library of the bundled portraits, added and clustered once (min_faces=2)."""
    folder = tmp_path_factory.mktemp("built")
    with FaceLibrary.open(folder) as library:
        library.add([data / name for name in SINGLES + GROUPS])
        library.cluster(min_faces=2)
    return folder


@pytest.fixture()
def library(built: Path, tmp_path: Path) -> Iterator[FaceLibrary]:
    """A private copy of the built library."""
    copy = tmp_path / "library"
    shutil.copytree(built, copy)
    with FaceLibrary.open(copy) as opened:
        yield opened


def _people(library: FaceLibrary) -> dict[int, set[str]]:
    """Per cluster, the photos its faces come from."""
    return {c.id: {Path(f.source).name for f in library.faces(c.id)} for c in library.clusters()}


def _cluster_of(library: FaceLibrary, photo: str) -> int:
    [cluster] = [i for i, photos in _people(library).items() if photo in photos]
    return cluster


def test_two_people_give_two_pure_clusters(library: FaceLibrary) -> None:
    clusters = library.clusters()
    assert [c.size for c in clusters] == [4, 4]
    people = _people(library)
    obama = _cluster_of(library, "obama_1.jpg")
    biden = _cluster_of(library, "biden_1.jpg")
    assert obama != biden
    assert people[obama] == {"obama_1.jpg", "obama_2.jpg", *GROUPS}
    assert people[biden] == {"biden_1.jpg", "biden_2.jpg", *GROUPS}
    for cluster in clusters:  # one face per group photo: never both people of one photo
        sources = [f.source for f in library.faces(cluster.id)]
        assert len(sources) == len(set(sources))
    for face in library.faces(obama):
        thumb = library.thumbnail(face.id)
        assert thumb is not None and thumb.shape == (112, 112, 3)
        assert face.box is not None and all(np.isfinite(face.box))
        assert np.isfinite(face.quality)
    assert library.counts()["faces"] == 9  # a small background face stays noise
    assert len(library.unclustered()) == 1


def test_adding_again_skips_known_files(library: FaceLibrary, data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy_of_obama.jpg"
    shutil.copy(data / "obama_1.jpg", copy)
    report = library.add([data, copy])
    assert report.added == [] and report.faces == 0
    assert len(report.skipped) == 7 and not report.failed
    assert library.cluster(min_faces=2).processed == 1  # only the old noise face


def test_new_photos_join_clusters_and_old_faces_keep_their_ids(tmp_path: Path, data: Path) -> None:
    with FaceLibrary.open(tmp_path / "lib") as library:
        library.add([data / name for name in SINGLES])
        first = library.cluster(min_faces=2)
        assert len(first.new_clusters) == 2
        before = {f.id: f.cluster_id for c in library.clusters() for f in library.faces(c.id)}
        seen: list[tuple[int, int]] = []
        report = library.add([data / name for name in GROUPS], lambda d, t, p: seen.append((d, t)))
        assert seen == [(1, 2), (2, 2)] and report.faces == 5
        second = library.cluster(min_faces=2)
        assert second.new_clusters == [] and second.joined == 4 and second.noise == 1
        after = {f.id: f.cluster_id for c in library.clusters() for f in library.faces(c.id)}
        assert {k: after[k] for k in before} == before
        assert [c.size for c in library.clusters()] == [4, 4]


def test_rename_merge_split(library: FaceLibrary) -> None:
    obama = _cluster_of(library, "obama_1.jpg")
    biden = _cluster_of(library, "biden_1.jpg")
    library.rename(obama, "  Obama ")
    assert library.cluster_info(obama).name == "Obama"
    with pytest.raises(ClusterError, match="already named"):
        library.rename(biden, "Obama")
    with pytest.raises(ClusterError, match="empty"):
        library.rename(biden, " ")
    assert library.merge(biden, obama) == biden
    merged = library.cluster_info(biden)
    assert merged.size == 8 and merged.name == "Obama"  # took the name it lacked
    with pytest.raises(UnknownClusterError):
        library.cluster_info(obama)
    obama_faces = [f.id for f in library.faces(biden) if "obama_1" in f.source]
    new = library.split(biden, obama_faces)
    assert new > max(obama, biden)  # ids are never reused
    assert library.cluster_info(new).face_ids == obama_faces
    assert library.cluster_info(biden).size == 7
    with pytest.raises(ClusterError, match="all of cluster"):
        library.split(new, obama_faces)
    with pytest.raises(ClusterError, match="not in cluster"):
        library.split(biden, obama_faces)
    with pytest.raises(ClusterError, match="itself"):
        library.merge(new, new)


def test_unknown_cluster_is_a_clear_error(library: FaceLibrary) -> None:
    for call in (
        lambda: library.faces(999),
        lambda: library.rename(999, "x"),
        lambda: library.merge(999, 1),
        lambda: library.split(999, [1]),
    ):
        with pytest.raises(UnknownClusterError, match="unknown cluster 999") as info:
            call()
        assert isinstance(info.value, FacescopeError)


def test_promoted_cluster_identifies_the_person(
    library: FaceLibrary, data: Path, tmp_path: Path
) -> None:
    obama = _cluster_of(library, "obama_1.jpg")
    with pytest.raises(ClusterError, match="no name"):
        library.promote(obama, Gallery.open(tmp_path / "unused"))
    with Gallery.open(tmp_path / "gallery") as gallery:
        result = library.promote(obama, gallery, "Barack Obama")
        assert result.added == 4 and result.subject == "Barack Obama"
        [hit] = gallery.identify(data / "obama_2.jpg")
        assert hit.identity == "Barack Obama"
        assert library.promote(obama, gallery).added == 0  # nothing new to enrol
        info = library.cluster_info(obama)
        assert info.name == info.subject == "Barack Obama"
        # a new photo of him is labelled by the gallery and goes into his cluster
        flipped = tmp_path / "obama_flipped.png"
        from PIL import Image

        Image.open(data / "obama_1.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped)
        library.add(flipped)
        report = library.cluster(min_faces=2, gallery=gallery)
        assert report.labelled == 1
        assert library.cluster_info(obama).size == 5
        [face] = [f for f in library.faces(obama) if f.source.endswith("obama_flipped.png")]
        assert face.identity == "Barack Obama"


def test_bad_input_is_reported_not_raised(tmp_path: Path, data: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "notes.txt").write_text("not a photo")
    shutil.copy(data / "obama_1.jpg", photos / "obama.jpg")
    with FaceLibrary.open(tmp_path / "lib") as library:
        report = library.add([photos, tmp_path / "missing.jpg"])
        assert [Path(p).name for p in report.added] == ["obama.jpg"]
        assert set(map(lambda p: Path(p).name, report.failed)) == {"broken.jpg", "missing.jpg"}
        assert all(report.failed.values())
        with pytest.raises(ClusterError, match="finite"):
            library.add_embeddings("nan", np.full((1, 128), np.nan))
        with pytest.raises(ClusterError, match="eps"):
            library.cluster(eps=0.0)
        with pytest.raises(ClusterError, match="min_faces"):
            library.cluster(min_faces=0)
        assert library.cluster(min_faces=2).noise == 1
        with pytest.raises(ClusterError, match="unknown face"):
            library.thumbnail(12345)
    garbage = tmp_path / "garbage" / "library.sqlite3"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ClusterError, match="not a facescope face library"):
        FaceLibrary.open(garbage.parent)


def _unit(degrees: float) -> np.ndarray:
    vector = np.zeros(128, np.float32)
    vector[0], vector[1] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return vector


def test_a_face_linking_two_clusters_suggests_a_merge(tmp_path: Path) -> None:
    with FaceLibrary.open(tmp_path / "lib") as library:
        for angle in (-5, 0, 5, 85, 90, 95):
            library.add_embeddings(f"face {angle}", _unit(angle)[None])
        first = library.cluster(min_faces=3)
        assert len(first.new_clusters) == 2 and not first.suggestions
        library.add_embeddings("bridge", _unit(45)[None])
        second = library.cluster(min_faces=3)
        assert second.joined == 1 and second.new_clusters == []
        [suggestion] = library.suggestions()
        assert (suggestion.a, suggestion.b, suggestion.faces) == (1, 2, 1)
        assert [c.size for c in library.clusters()] == [4, 3]  # joined one, merged nothing
        library.merge(1, 2)
        assert library.suggestions() == []


def test_assign_incremental_never_relabels() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.full(40, -1)
    labels[:5] = 7
    result = assign_incremental(vectors, labels, eps=0.45, min_faces=2)
    assert (result.labels[:5] == 7).all()
    assert result.noise == 35  # random directions are nobody's neighbours
    with pytest.raises(ValueError):
        assign_incremental(vectors, labels, eps=2.5)


@pytest.mark.slow
def test_video_contributes_one_face_per_track(tmp_path: Path, data: Path) -> None:
    from video_scenes import scene

    from facescope.video import VideoWriter

    video = tmp_path / "walk.mp4"
    with VideoWriter(video, 25.0, 640, 360) as writer:
        for frame in scene(data):
            writer.write(frame)
    with FaceLibrary.open(tmp_path / "lib") as library:
        report = library.add(video)
        assert report.faces == 2 and not report.failed
        faces = library.unclustered()
        assert all(f.frame is not None and f.time is not None and f.box is None for f in faces)
        assert library.thumbnail(faces[0].id) is not None
        assert library.add(video).skipped == [str(video)]


@pytest.mark.slow
def test_aligned_celebrities_are_clustered_purely(celebrities: Path) -> None:
    from facescope.pipeline import embed_largest_faces

    rows = list(csv.DictReader((celebrities / "labels.csv").open()))
    batch = embed_largest_faces([celebrities / r["path"] for r in rows], ["sface"])
    assert batch.found.all()
    vectors = batch.embeddings["sface"].vectors
    truth = np.array([r["identity"] for r in rows])
    # measured (benchmarks/bench_cluster.py): purity 1.0, precision 1.0, recall 0.92, noise 0.02
    everything = assign_incremental(vectors, np.full(len(rows), -1))
    metrics = cluster_metrics(everything.labels, truth)
    assert metrics.purity >= 0.95 and metrics.precision >= 0.95
    assert metrics.recall >= 0.8 and metrics.noise <= 0.06
    # half first, then the rest: the first half keeps its clusters
    order = np.random.default_rng(0).permutation(len(rows))
    first = np.zeros(len(rows), bool)
    first[order[: len(rows) // 2]] = True
    half = assign_incremental(vectors, np.full(len(rows), -1), eligible=first)
    full = assign_incremental(vectors, half.labels)
    kept = half.labels >= 0
    assert (full.labels[kept] == half.labels[kept]).all()
    later = cluster_metrics(full.labels, truth)
    assert later.purity >= 0.95 and later.precision >= 0.95
