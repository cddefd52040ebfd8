"""Lip reading: dataset layouts (LRW, GRID, npz), alignments, splits, track files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facescope.lips.read import (
    LipReadingError,
    Track,
    load_dataset,
    read_alignment,
    read_track,
    source_track,
    split_dataset,
)
from facescope.lips.read.preprocess import fill_missing, normalise_lips, prepare_sample
from facescope.lips.read.synth import (
    WORDS,
    synthetic_word,
    write_grid,
    write_lrw,
    write_npz_dataset,
)
from facescope.lips.read.train import prepare_training_set


def test_synthetic_words_move_the_mouth_as_the_word_says() -> None:
    rng = np.random.default_rng(0)
    for word in WORDS:
        sample = synthetic_word(word, rng)
        assert sample.crops.shape[1:] == (88, 88) and sample.crops.dtype == np.uint8
        assert sample.lips.shape == (len(sample.crops), 20, 2)
        assert 16 <= len(sample.crops) <= 24  # 10-18 word frames + 3 still frames each side
    # the opening (inner-lip height: points 62 -> 66) has one bump for "ba", two for "baba"
    ba = synthetic_word("ba", rng, lead=0)
    baba = synthetic_word("baba", rng, lead=0)

    def peaks(lips: np.ndarray) -> int:
        h = lips[:, 18, 1] - lips[:, 14, 1]
        high = h > 0.6 * h.max()
        return int(np.sum(high[1:] & ~high[:-1]) + high[0])

    assert peaks(ba.lips) == 1 and peaks(baba.lips) == 2
    # the dark open mouth shows in the crop where the landmarks say it is open
    middle = ba.crops[len(ba.crops) // 2]
    assert middle[40:48, 40:48].mean() < ba.crops[0][40:48, 40:48].mean() - 20


def test_npz_layout_with_speakers_is_split_by_speaker(tmp_path: Path) -> None:
    root = write_npz_dataset(tmp_path / "npz", speakers=3, per_speaker=2)
    data = load_dataset(root, "npz")
    assert data.vocabulary == ("ba", "baba", "ee", "oo")
    assert len(data.samples) == 24 and data.speakers == ("spk0", "spk1", "spk2")
    split = split_dataset(data)
    assert {s.speaker for s in split.test} == {"spk2"}
    assert {s.speaker for s in split.train} == {"spk0", "spk1"}
    assert "speaker-independent" in split.how
    mine = split_dataset(data, test_speakers=["spk0"])
    assert {s.speaker for s in mine.test} == {"spk0"} and len(mine.train) == 16
    with pytest.raises(LipReadingError, match="speakers not in the dataset"):
        split_dataset(data, test_speakers=["nobody"])
    few = load_dataset(root, "npz", words=2, per_word=3)
    assert few.vocabulary == ("ba", "baba") and len(few.samples) == 6
    assert load_dataset(root, "npz", words=["oo", "ee"]).vocabulary == ("ee", "oo")


def test_lrw_layout_uses_the_official_splits(tmp_path: Path) -> None:
    root = write_lrw(tmp_path / "lrw", words=("ba", "oo"), per_split=2)
    assert (root / "BA" / "train" / "BA_00001.txt").is_file()
    data = load_dataset(root, "lrw")
    assert data.vocabulary == ("BA", "OO") and data.speakers == ()
    assert data.to_dict()["splits"] == {"test": 4, "train": 4, "val": 4}
    split = split_dataset(data)
    assert {s.split for s in split.train} == {"train"} and {s.split for s in split.test} == {"test"}
    assert "LRW has no speaker ids" in split.how
    prepared = prepare_training_set(split.train, data.vocabulary, frames=12, size=48)
    assert prepared.crops.shape == (4, 12, 48, 48) and prepared.lips.shape == (4, 12, 20, 2)


def test_grid_layout_cuts_words_by_the_alignments(tmp_path: Path) -> None:
    root = write_grid(tmp_path / "grid", speakers=3, sentences=2)
    data = load_dataset(root, "grid")
    assert data.speakers == ("s1", "s2", "s3")
    assert len(data.samples) == 3 * 2 * 4 and set(data.vocabulary) == {"ba", "baba", "ee", "oo"}
    first = data.samples[0]
    assert first.span is not None and first.span[0] == 0 and first.span[1] >= 11
    # GRID holds out s1, s2, s20, s22 (those present), keeping the others for training
    split = split_dataset(data)
    assert {s.speaker for s in split.test} == {"s1", "s2"}
    assert {s.speaker for s in split.train} == {"s3"}
    prepared = prepare_training_set(data.samples, data.vocabulary, frames=10, size=48)
    assert len(prepared.labels) == 24 and not prepared.skipped
    track = read_track(first.source).cut(first.span)
    assert len(track.crops) == first.span[1] - first.span[0]


def test_alignment_files(tmp_path: Path) -> None:
    good = tmp_path / "a.align"
    good.write_text("0 23750 sil\n23750 29500 bin\n29500 34000 blue\n34000 35500 sp\n"
                    "35500 41000 at\n74500 74500 sil\n")  # fmt: skip
    assert read_alignment(good) == [(24, 30, "bin"), (30, 34, "blue"), (36, 41, "at")]
    bad = tmp_path / "b.align"
    bad.write_text("0 23750 sil\n23750 bin\n")
    with pytest.raises(LipReadingError, match=r"b.align:2: expected 'start end word'"):
        read_alignment(bad)
    backwards = tmp_path / "c.align"
    backwards.write_text("500 100 bin\n")
    with pytest.raises(LipReadingError, match="ends"):
        read_alignment(backwards)
    root = write_grid(tmp_path / "grid", speakers=2, sentences=1)
    (root / "alignments" / "s2" / "b20a0n.align").write_text("nonsense\n")
    data = load_dataset(root, "grid")
    assert {s.speaker for s in data.samples} == {"s1"}
    assert any("expected 'start end word'" in why for _, why in data.skipped)


def test_bad_dataset_folders(tmp_path: Path) -> None:
    with pytest.raises(LipReadingError, match="no dataset folder"):
        load_dataset(tmp_path / "nope", "npz")
    with pytest.raises(LipReadingError, match="unknown dataset layout"):
        load_dataset(tmp_path, "lrs3")
    with pytest.raises(LipReadingError, match="no usable lrw samples"):
        load_dataset(tmp_path, "lrw")
    root = write_npz_dataset(tmp_path / "npz", speakers=1, per_speaker=1)
    with pytest.raises(LipReadingError, match="words not in the dataset: zz"):
        load_dataset(root, "npz", words=["ba", "zz"])
    (root / "ba" / "broken.npz").write_bytes(b"junk")
    data = load_dataset(root, "npz")
    prepared = prepare_training_set(data.samples, data.vocabulary, frames=8, size=48)
    assert len(prepared.labels) == 4
    assert [n for n, _ in prepared.skipped] == ["ba/broken"]


def test_track_files_and_videos(tmp_path: Path) -> None:
    with pytest.raises(LipReadingError, match="no such track file"):
        read_track(tmp_path / "none.npz")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(LipReadingError, match="no 'crops' and 'lips'"):
        read_track(wrong)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, crops=np.array([object()], dtype=object), lips=np.zeros((1, 3, 2)))
    with pytest.raises(LipReadingError, match="pickled data is refused"):
        read_track(pickled)
    # a video: extracted once (here by a stand-in extractor), then read from the cache
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded here")
    sample = synthetic_word("ba", np.random.default_rng(0))
    calls: list[Path] = []

    def extract(path: Path) -> Track:
        calls.append(path)
        n = len(sample.crops)
        return Track(sample.crops, sample.lips, np.arange(n), tuple(range(20)))

    cache = tmp_path / "cache"
    first = source_track(video, cache=cache, root=tmp_path, extract=extract)
    again = source_track(video, cache=cache, root=tmp_path, extract=extract)
    assert calls == [video] and (cache / "clip.npz").is_file()
    assert np.array_equal(first.crops, again.crops) and again.mesh_points == tuple(range(20))
    with pytest.raises(LipReadingError, match="no such video"):
        source_track(tmp_path / "missing.mp4")


def test_preprocessing() -> None:
    rng = np.random.default_rng(0)
    sample = synthetic_word("oo", rng)
    lips = sample.lips.copy()
    lips[2] = np.nan
    filled = fill_missing(lips)
    assert np.array_equal(filled[2], lips[1]) or np.array_equal(filled[2], lips[3])
    with pytest.raises(LipReadingError, match="no frame"):
        fill_missing(np.full((3, 20, 2), np.nan, np.float32))
    crops, points = prepare_sample(sample.crops, np.dstack([lips, np.ones((len(lips), 20, 1))]),
                                   frames=29, size=64)  # fmt: skip
    assert crops.shape == (29, 64, 64) and points.shape == (29, 20, 2)
    assert np.isfinite(points).all() and abs(float(points.mean())) < 1e-5
    assert float(np.sqrt((points**2).sum(-1).mean())) == pytest.approx(1.0, abs=1e-4)
    # position and scale are gone
    moved = normalise_lips(sample.lips * 3 + 17)
    assert np.allclose(moved, normalise_lips(sample.lips), atol=1e-4)
    with pytest.raises(LipReadingError, match="crops must be"):
        prepare_sample(np.zeros((5, 8, 9), np.uint8), sample.lips[:5], frames=4, size=16)
    with pytest.raises(LipReadingError, match="uint8"):
        prepare_sample(np.zeros((5, 8, 8)), sample.lips[:5], frames=4, size=16)
    with pytest.raises(LipReadingError, match="lips must be"):
        prepare_sample(sample.crops, sample.lips[..., :1], frames=4, size=16)
    with pytest.raises(LipReadingError, match="frames but lips"):
        prepare_sample(sample.crops, sample.lips[:3], frames=4, size=16)
