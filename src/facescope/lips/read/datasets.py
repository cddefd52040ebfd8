"""Word-level lip-reading datasets in their standard layouts (users bring the data).

* **LRW** (Lip Reading in the Wild): ``<root>/<WORD>/{train,val,test}/<WORD>_<nnnnn>.mp4``
  with a ``.txt`` of metadata beside each clip; the word is the folder. LRW has no
  speaker ids (BBC broadcasts), so its splits are the official ``train``/``val``/``test``
  folders (speakers may recur across them; that is the benchmark's protocol).
* **GRID**: ``<root>/s<N>/<video>.mpg`` (or ``<root>/s<N>/video/<video>.mpg``) and the
  word alignments ``<root>/alignments/s<N>/<video>.align`` (or ``<root>/s<N>/align/``):
  lines ``start end word`` in audio samples at 25 kHz, so 1000 per video frame at
  25 fps; ``sil`` and ``sp`` are skipped. Each aligned word is one sample, cut from the
  sentence's track. Speakers are the ``s<N>`` folders; the speaker-independent split
  holds out s1, s2, s20 and s22 (the "unseen speakers" split of LipNet) when present.
* **npz**: ``<root>/<WORD>/[train|val|test/]<name>.npz``, each holding ``crops``
  (T, 88, 88) uint8 and ``lips`` (T, K, 2|3), e.g. the ``track_<id>.npz`` files of
  ``facescope lips VIDEO --out DIR``; an optional ``speaker`` string entry.

Reading a video means extracting its mouth crops and lip landmarks with
:func:`facescope.lips.extract.extract_lips` (one face; the longest track), which is slow:
a ``<video>.npz`` beside the video (the same arrays, as a track file) is used instead
when present, and extractions are written to a `cache` folder when one is given.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope.lips.read.errors import LipReadingError

FORMATS: Final[tuple[str, ...]] = ("lrw", "grid", "npz")
SPLITS: Final[tuple[str, ...]] = ("train", "val", "test")
#: GRID speakers held out by the speaker-independent ("unseen speakers") split.
GRID_UNSEEN: Final[tuple[str, ...]] = ("s1", "s2", "s20", "s22")
#: Alignment tokens that are not words.
SILENCE: Final[frozenset[str]] = frozenset({"sil", "sp"})
#: GRID alignment units per video frame (25 kHz audio samples, 25 fps video).
GRID_UNITS_PER_FRAME: Final[int] = 1000
VIDEO_SUFFIXES: Final[tuple[str, ...]] = (".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv")


@dataclass(frozen=True)
class WordSample:
    """One spoken word: where it is and what it says.

    Attributes:
        word: the label. name: a readable id. source: the ``.npz`` or video file.
        split: ``train``, ``val``, ``test`` or ``""`` (no official split).
        speaker: the speaker id, or None (LRW has none).
        span: (first, end) video frames of the word in the source (GRID), or None.
    """

    word: str
    name: str
    source: Path
    split: str = ""
    speaker: str | None = None
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "name": self.name, "source": str(self.source),
                "split": self.split, "speaker": self.speaker,
                "span": list(self.span) if self.span else None}  # fmt: skip


@dataclass(frozen=True)
class LipDataset:
    """The samples of a dataset folder, its vocabulary (sorted) and what was skipped."""

    format: str
    root: Path
    samples: tuple[WordSample, ...]
    vocabulary: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(sorted({s.speaker for s in self.samples if s.speaker is not None}))

    def subset(self, keep: Callable[[WordSample], bool]) -> LipDataset:
        """The samples for which `keep` is true (same vocabulary)."""
        return LipDataset(self.format, self.root, tuple(s for s in self.samples if keep(s)),
                          self.vocabulary, self.skipped)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "root": str(self.root),
            "samples": len(self.samples),
            "words": len(self.vocabulary),
            "vocabulary": list(self.vocabulary)[:50],
            "speakers": len(self.speakers),
            "splits": dict(sorted(Counter(s.split or "-" for s in self.samples).items())),
            "skipped": len(self.skipped),
        }


# ---- tracks (arrays of one video) -------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """The arrays of one face track: (T, S, S) crops, (T, K, 2|3) lips, (T,) video frames,
    and the MediaPipe mesh index of each landmark when known."""

    crops: npt.NDArray[np.uint8]
    lips: npt.NDArray[np.float32]
    frames: npt.NDArray[np.int64]
    mesh_points: tuple[int, ...] | None = None
    speaker: str | None = field(default=None)

    def cut(self, span: tuple[int, int] | None) -> Track:
        """The frames whose video index lies in [first, end)."""
        if span is None:
            return self
        keep = (self.frames >= span[0]) & (self.frames < span[1])
        return Track(self.crops[keep], self.lips[keep], self.frames[keep], self.mesh_points,
                     self.speaker)  # fmt: skip


def read_track(path: str | os.PathLike[str]) -> Track:
    """A track ``.npz`` (``crops``, ``lips``; optional ``frames``, ``points``, ``speaker``)."""
    file = Path(path)
    if not file.is_file():
        raise LipReadingError(f"no such track file: {file}")
    try:
        with np.load(file, allow_pickle=False) as data:
            if "crops" not in data.files or "lips" not in data.files:
                raise LipReadingError(
                    f"{file} has no 'crops' and 'lips' arrays (found {', '.join(data.files)}); "
                    "make track files with `facescope lips VIDEO --out DIR`"
                )
            crops = np.asarray(data["crops"])
            lips = np.asarray(data["lips"])
            frames = (np.asarray(data["frames"], np.int64) if "frames" in data.files
                      else np.arange(len(crops), dtype=np.int64))  # fmt: skip
            points = (tuple(int(v) for v in np.asarray(data["points"]).ravel())
                      if "points" in data.files else None)  # fmt: skip
            speaker = str(data["speaker"]) if "speaker" in data.files else None
    except LipReadingError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        why = "pickled data is refused" if "pickle" in str(exc) else str(exc)
        raise LipReadingError(f"{file} is not a readable track file (.npz): {why}") from exc
    if crops.dtype != np.uint8 or crops.ndim not in (3, 4):
        raise LipReadingError(f"{file}: crops must be (T, S, S) uint8, got {crops.shape} "
                              f"{crops.dtype}")  # fmt: skip
    if lips.ndim != 3 or len(lips) != len(crops) or lips.shape[-1] not in (2, 3):
        raise LipReadingError(f"{file}: lips must be (T, K, 2|3) for {len(crops)} frames, "
                              f"got {lips.shape}")  # fmt: skip
    if len(frames) != len(crops):
        raise LipReadingError(f"{file}: {len(frames)} frame indices for {len(crops)} crops")
    if points is not None and len(points) != lips.shape[1]:
        points = None
    return Track(crops, lips.astype(np.float32), frames, points, speaker or None)


def extract_track(video: str | os.PathLike[str]) -> Track:
    """Mouth crops and lip landmarks of the longest face track of `video`
    (:func:`facescope.lips.extract.extract_lips`, one face; slow)."""
    from facescope.lips.extract import extract_lips
    from facescope.lips.mouth import LANDMARK_POINTS

    result = extract_lips(video, max_faces=1)
    best = max(result.tracks, key=lambda t: len(t.time))
    return Track(best.crops, best.lips, best.frames, tuple(int(p) for p in LANDMARK_POINTS))


def _save_track(track: Track, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"crops": track.crops, "lips": track.lips, "frames": track.frames}
    if track.mesh_points is not None:
        arrays["points"] = np.asarray(track.mesh_points, np.int64)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def source_track(
    source: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    extract: Callable[[Path], Track] | None = None,
) -> Track:
    """The track of a ``.npz`` file, or of a video: its ``<video>.npz`` beside it, its
    extraction cached under `cache` (named by its path under `root`), or a fresh
    extraction (written to `cache` when given)."""
    file = Path(source)
    if file.suffix.lower() == ".npz":
        return read_track(file)
    beside = file.with_suffix(".npz")
    if beside.is_file():
        return read_track(beside)
    cached = None
    if cache is not None:
        try:
            relative = file.resolve().relative_to(Path(root).resolve()) if root else Path(file.name)
        except ValueError:
            relative = Path(file.name)
        cached = Path(cache) / relative.with_suffix(".npz")
        if cached.is_file():
            return read_track(cached)
    if not file.is_file():
        raise LipReadingError(f"no such video or track file: {file}")
    track = (extract or extract_track)(file)
    if cached is not None:
        _save_track(track, cached)
    return track


# ---- layouts --------------------------------------------------------------------------------


def read_alignment(path: str | os.PathLike[str]) -> list[tuple[int, int, str]]:
    """GRID word alignments as (first frame, end frame, word), silences left out."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LipReadingError(f"cannot read the alignment {file}: {exc}") from exc
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise LipReadingError(
                f"{file}:{number}: expected 'start end word' (integers in 1/25000 s), "
                f"got {line.strip()!r}"
            )
        start, end, word = int(parts[0]), int(parts[1]), parts[2].lower()
        if end < start:
            raise LipReadingError(f"{file}:{number}: the word ends ({end}) before it starts")
        if word in SILENCE:
            continue
        first = round(start / GRID_UNITS_PER_FRAME)
        last = max(first + 1, round(end / GRID_UNITS_PER_FRAME))
        words.append((first, last, word))
    return words


def _lrw(root: Path) -> tuple[list[WordSample], list[tuple[str, str]]]:
    samples: list[WordSample] = []
    skipped: list[tuple[str, str]] = []
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for split in SPLITS:
            folder = word_dir / split
            if not folder.is_dir():
                continue
            stems: dict[str, Path] = {}
            for file in sorted(folder.iterdir()):
                suffix = file.suffix.lower()
                if suffix in VIDEO_SUFFIXES or (suffix == ".npz" and file.stem not in stems):
                    stems[file.stem] = file
            for stem, file in stems.items():
                if not stem.upper().startswith(word_dir.name.upper()):
                    skipped.append((str(file), f"not a clip of {word_dir.name}"))
                    continue
                samples.append(WordSample(word_dir.name.upper(), f"{split}/{stem}", file, split))
    return samples, skipped


def _grid_alignment(root: Path, speaker: str, video: str) -> Path | None:
    for candidate in (root / "alignments" / speaker / f"{video}.align",
                      root / "align" / speaker / f"{video}.align",
                      root / speaker / "align" / f"{video}.align"):  # fmt: skip
        if candidate.is_file():
            return candidate
    return None


def _grid(root: Path) -> tuple[list[WordSample], list[tuple[str, str]]]:
    samples: list[WordSample] = []
    skipped: list[tuple[str, str]] = []
    speakers = sorted((p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name)),
                      key=lambda p: int(p.name[1:]))  # fmt: skip
    for folder in speakers:
        videos: dict[str, Path] = {}
        for place in (folder, folder / "video", folder / "video" / "mpg_6000"):
            if not place.is_dir():
                continue
            for file in sorted(place.iterdir()):
                suffix = file.suffix.lower()
                if suffix in VIDEO_SUFFIXES or (suffix == ".npz" and file.stem not in videos):
                    videos.setdefault(file.stem, file)
        for stem, file in videos.items():
            align = _grid_alignment(root, folder.name, stem)
            if align is None:
                skipped.append((str(file), "no alignment file"))
                continue
            try:
                words = read_alignment(align)
            except LipReadingError as exc:
                skipped.append((str(file), str(exc)))
                continue
            for k, (first, end, word) in enumerate(words):
                samples.append(WordSample(word, f"{folder.name}/{stem}/{k}:{word}", file, "",
                                          folder.name, (first, end)))  # fmt: skip
    return samples, skipped


def _npz(root: Path) -> tuple[list[WordSample], list[tuple[str, str]]]:
    samples: list[WordSample] = []
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(word_dir.rglob("*.npz")):
            parts = file.relative_to(word_dir).parts
            split = parts[0] if len(parts) > 1 and parts[0] in SPLITS else ""
            speaker = None
            try:
                with np.load(file, allow_pickle=False) as data:
                    if "speaker" in data.files:
                        speaker = str(data["speaker"]) or None
            except (OSError, ValueError, EOFError):
                pass  # reported when the sample is read
            name = str(file.relative_to(root).with_suffix(""))
            samples.append(WordSample(word_dir.name, name, file, split, speaker))
    return samples, []


def load_dataset(
    root: str | os.PathLike[str],
    layout: str,
    *,
    words: int | Sequence[str] | None = None,
    per_word: int | None = None,
) -> LipDataset:
    """The samples of a dataset folder in the `layout` (``lrw``, ``grid`` or ``npz``).

    `words`: keep only these words, or the first N in sorted order; `per_word`: at most
    this many samples of each word per split (in file order).
    """
    folder = Path(root)
    if layout not in FORMATS:
        raise LipReadingError(f"unknown dataset layout {layout!r}: use one of {', '.join(FORMATS)}")
    if not folder.is_dir():
        raise LipReadingError(f"no dataset folder at {folder}")
    found, skipped = {"lrw": _lrw, "grid": _grid, "npz": _npz}[layout](folder)
    vocabulary = sorted({s.word for s in found})
    if isinstance(words, int):
        if words < 2:
            raise LipReadingError(f"words must be 2 or more, got {words}")
        vocabulary = vocabulary[:words]
    elif words is not None:
        missing = sorted(set(words) - set(vocabulary))
        if missing:
            raise LipReadingError(f"words not in the dataset: {', '.join(missing[:10])}")
        vocabulary = sorted(set(words))
    chosen = set(vocabulary)
    counts: Counter[tuple[str, str]] = Counter()
    samples = []
    for sample in found:
        if sample.word not in chosen:
            continue
        counts[sample.word, sample.split] += 1
        if per_word is not None and counts[sample.word, sample.split] > per_word:
            continue
        samples.append(sample)
    if len(vocabulary) < 2 or not samples:
        hint = {"lrw": "<root>/<WORD>/{train,val,test}/<WORD>_00001.mp4",
                "grid": "<root>/s1/<video>.mpg with <root>/alignments/s1/<video>.align",
                "npz": "<root>/<WORD>/<name>.npz"}[layout]  # fmt: skip
        raise LipReadingError(
            f"no usable {layout} samples of 2 or more words in {folder} (expected {hint}; "
            f"found {len(found)} samples of {len(vocabulary)} words)"
        )
    return LipDataset(layout, folder, tuple(samples), tuple(vocabulary), tuple(skipped))


# ---- splits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Training and held-out samples, and how they were split."""

    train: tuple[WordSample, ...]
    test: tuple[WordSample, ...]
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"train": len(self.train), "test": len(self.test), "how": self.how}


def split_dataset(dataset: LipDataset, *, test_speakers: Sequence[str] | None = None) -> Split:
    """A speaker-independent split where speakers are known (GRID: s1, s2, s20, s22 held
    out when present, else the last speaker; or `test_speakers`), else the official
    folders (LRW: train vs test, or val without test). Without either, no held-out set.
    """
    samples = dataset.samples
    speakers = dataset.speakers
    if test_speakers is not None:
        unknown = sorted(set(test_speakers) - set(speakers))
        if unknown:
            raise LipReadingError(f"speakers not in the dataset: {', '.join(unknown)}")
        held = set(test_speakers)
    elif dataset.format != "lrw" and len(speakers) >= 2 and not any(s.split for s in samples):
        unseen = set(GRID_UNSEEN) & set(speakers) if dataset.format == "grid" else set()
        held = unseen if unseen and len(unseen) < len(speakers) else {speakers[-1]}
    else:
        held = set()
    if held:
        test = tuple(s for s in samples if s.speaker in held)
        train = tuple(s for s in samples if s.speaker not in held)
        return Split(train, test, f"speaker-independent: held out {', '.join(sorted(held))}")
    splits = {s.split for s in samples}
    target = "test" if "test" in splits else "val" if "val" in splits else None
    if target is None:
        return Split(samples, (), "none (no speakers or split folders)")
    train = tuple(s for s in samples if s.split == "train") or tuple(
        s for s in samples if s.split != target
    )
    test = tuple(s for s in samples if s.split == target)
    note = " (LRW has no speaker ids: the official split)" if dataset.format == "lrw" else ""
    return Split(train, test, f"folders: train vs {target}{note}")


__all__ = [
    "FORMATS",
    "GRID_UNSEEN",
    "LipDataset",
    "Split",
    "Track",
    "WordSample",
    "extract_track",
    "load_dataset",
    "read_alignment",
    "read_track",
    "source_track",
    "split_dataset",
]
