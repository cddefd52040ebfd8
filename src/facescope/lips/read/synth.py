"""Synthetic word samples in the dataset layouts, for tests, benchmarks and smoke runs.

A mouth-like picture on an 88x88 grey crop: the lips a mid-grey ellipse, the open mouth
a dark inner ellipse. Each *word* is a pattern of mouth movement over time (how far the
lips open and how wide the mouth is, frame by frame); each sample varies the speaker
(mouth place, size, tilt, skin and lip tone), the speed (10 to 18 frames of word
between closed still frames), the amplitude, and adds per-frame noise. The 20 lip
landmarks of each frame (iBUG mouth layout: outer ring 48-59, inner ring 60-67, in
crop pixels, with noise) follow the same ellipses, so both streams of the network see
the word.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

#: Word -> (opening(u), widening(u)) over the word's normalised time u in [0, 1].
WORDS: Final[tuple[str, ...]] = ("ba", "baba", "oo", "ee", "pop", "bite")


def _pattern(word: str, u: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64],
                                                           npt.NDArray[np.float64]]:  # fmt: skip
    bump = np.sin(np.pi * u)
    hold = np.clip(np.minimum(u, 1 - u) * 5, 0, 1)
    if word == "ba":
        return bump, 0 * u
    if word == "baba":
        return np.abs(np.sin(2 * np.pi * u)), 0 * u
    if word == "oo":
        return 0.45 * hold, -0.35 * hold
    if word == "ee":
        return 0.2 * hold, 0.35 * hold
    if word == "pop":  # opens late
        return np.where(u > 0.5, np.sin(2 * np.pi * (u - 0.5)), 0.0), 0 * u
    if word == "bite":  # opens early, then spreads
        return np.where(u < 0.5, np.sin(2 * np.pi * u), 0.0), 0.3 * np.clip(2 * u - 1, 0, 1)
    raise ValueError(f"unknown synthetic word {word!r}: use one of {', '.join(WORDS)}")


@dataclass(frozen=True)
class SyntheticWord:
    """(T, 88, 88) uint8 crops, (T, 20, 2) float32 landmarks in pixels, the word."""

    crops: npt.NDArray[np.uint8]
    lips: npt.NDArray[np.float32]
    word: str


def synthetic_word(
    word: str,
    rng: np.random.Generator,
    *,
    size: int = 88,
    speaker: int | None = None,
    lead: int = 3,
) -> SyntheticWord:
    """One spoken `word` (see :data:`WORDS`); `speaker` seeds the mouth's look."""
    look = np.random.default_rng(speaker) if speaker is not None else rng
    s = float(size)
    cx = s / 2 + look.normal(0, 0.04 * s)
    cy = s / 2 + look.normal(0, 0.04 * s)
    width0 = s * look.uniform(0.24, 0.32)
    height0 = s * look.uniform(0.08, 0.11)
    tilt = look.normal(0, 0.06)
    skin, lip = look.uniform(140, 200), look.uniform(80, 120)
    length = int(rng.integers(10, 19))
    amp = rng.uniform(0.8, 1.2)
    u = np.linspace(0, 1, length)
    opening, widening = _pattern(word, u)
    opening = np.concatenate([np.zeros(lead), opening, np.zeros(lead)])
    widening = np.concatenate([np.zeros(lead), widening, np.zeros(lead)])
    frames = len(opening)
    crops = np.empty((frames, size, size), np.uint8)
    lips = np.empty((frames, 20, 2), np.float32)
    rot = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    for t in range(frames):
        w = width0 * (1 + amp * widening[t])
        h_in = 0.9 * height0 * amp * opening[t]
        h_out = height0 + h_in
        img = np.full((size, size), skin, np.float32)
        centre = (round(cx), round(cy))
        angle = float(np.degrees(tilt))
        cv2.ellipse(img, centre, (round(w), max(1, round(h_out))), angle, 0, 360, lip, -1)
        if h_in >= 0.5:
            cv2.ellipse(img, centre, (round(0.75 * w), round(h_in)), angle, 0, 360, 25, -1)
        else:
            cv2.line(img, (round(cx - 0.75 * w), round(cy)), (round(cx + 0.75 * w), round(cy)),
                     45, 1)  # fmt: skip
        img += rng.normal(0, 4.0, img.shape)
        crops[t] = np.clip(img, 0, 255).astype(np.uint8)
        a_out = np.pi + 2 * np.pi * np.arange(12) / 12
        a_in = np.pi + 2 * np.pi * np.arange(8) / 8
        outer = np.stack([w * np.cos(a_out), h_out * np.sin(a_out)], 1)
        inner = np.stack([0.75 * w * np.cos(a_in), max(h_in, 0.3) * np.sin(a_in)], 1)
        points = np.concatenate([outer, inner]) @ rot.T + [cx, cy]
        lips[t] = points + rng.normal(0, 0.3, points.shape)
    return SyntheticWord(crops, lips, word)


def _save(path: Path, sample: SyntheticWord, speaker: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(sample.crops)
    np.savez_compressed(path, crops=sample.crops, lips=sample.lips,
                        time=np.arange(n) / 25.0, frames=np.arange(n),
                        speaking=np.ones(n, bool), speaker=np.array(speaker))  # fmt: skip


def write_npz_dataset(
    root: str | Path,
    *,
    words: tuple[str, ...] = WORDS[:4],
    speakers: int = 3,
    per_speaker: int = 2,
    seed: int = 0,
    splits: bool = False,
) -> Path:
    """``root/<WORD>/<speaker>_<k>.npz`` samples (``crops``, ``lips``, ``time``, ``speaker``);
    with `splits`, the last speaker's samples go to ``<WORD>/test/`` and the others to
    ``<WORD>/train/``. Returns `root`."""
    folder = Path(root)
    rng = np.random.default_rng(seed)
    for s in range(speakers):
        for word in words:
            for k in range(per_speaker):
                sample = synthetic_word(word, rng, speaker=seed * 1000 + s)
                split = ("test" if s == speakers - 1 else "train") if splits else ""
                _save(folder / word / split / f"spk{s}_{k}.npz", sample, f"spk{s}")
    return folder


def write_lrw(root: str | Path, *, words: tuple[str, ...] = WORDS[:3], per_split: int = 2,
              seed: int = 0) -> Path:  # fmt: skip
    """An LRW-style folder of pre-extracted samples
    (``root/<WORD>/{train,val,test}/<WORD>_<nnnnn>.npz`` with a ``.txt`` beside each)."""
    folder = Path(root)
    rng = np.random.default_rng(seed)
    for word in words:
        n = 0
        for split in ("train", "val", "test"):
            for _ in range(per_split):
                n += 1
                name = f"{word.upper()}_{n:05d}"
                where = folder / word.upper() / split
                _save(where / f"{name}.npz", synthetic_word(word, rng), "")
                (where / f"{name}.txt").write_text(
                    f"Text:  {word.upper()}\nConf:  1\n\nDuration: 0.4 seconds\n"
                )
    return folder  # fmt: skip


def write_grid(
    root: str | Path,
    *,
    speakers: int = 3,
    sentences: int = 2,
    words: tuple[str, ...] = WORDS[:4],
    seed: int = 0,
) -> Path:
    """A GRID-style folder of pre-extracted sentences: ``root/s<N>/<video>.npz`` (the
    cache of ``<video>.mpg``) and ``root/alignments/s<N>/<video>.align`` (``start end
    word`` in 1/25000 s, ``sil`` around the words)."""
    folder = Path(root)
    rng = np.random.default_rng(seed)
    for s in range(1, speakers + 1):
        for k in range(sentences):
            order = [words[(k + j) % len(words)] for j in range(len(words))]
            crops, lips, lines, at = [], [], [], 0
            for word in order:
                sample = synthetic_word(word, rng, speaker=seed * 1000 + s, lead=1)
                n = len(sample.crops)
                lines.append(f"{at * 1000} {(at + n) * 1000} {word}")
                crops.append(sample.crops)
                lips.append(sample.lips)
                at += n
            video = f"b{s}{k}a{k}n"
            merged = SyntheticWord(np.concatenate(crops), np.concatenate(lips), "")
            _save(folder / f"s{s}" / f"{video}.npz", merged, f"s{s}")
            align = folder / "alignments" / f"s{s}" / f"{video}.align"
            align.parent.mkdir(parents=True, exist_ok=True)
            body = ["0 0 sil", *lines, f"{at * 1000} {at * 1000 + 5000} sil"]
            align.write_text("\n".join(body) + "\n")
    return folder


__all__ = [
    "WORDS",
    "SyntheticWord",
    "synthetic_word",
    "write_grid",
    "write_lrw",
    "write_npz_dataset",
]
