"""A video's audio energy at given times: a reference for visual voice activity.

:func:`audio_energy` decodes the first audio stream with PyAV, mixes it to mono
at :data:`SAMPLE_RATE` Hz and returns the RMS level (dB relative to full scale)
of a window centred on each time. :func:`audio_speech` marks the times whose
(smoothed) level is within 25 dB of the recording's loud level (a crude acoustic
voice activity: any loud sound counts, so use it on talking-head recordings).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.lips.errors import LipsError

FloatArray = npt.NDArray[np.float64]

#: Audio is resampled to this rate (Hz) before the energy is measured.
SAMPLE_RATE = 16_000
#: Silence floor (dBFS) of the returned levels (the level of digital silence).
FLOOR_DB = -100.0


def decode_audio(path: str | os.PathLike[str]) -> FloatArray:
    """The first audio stream of `path` as mono float samples at :data:`SAMPLE_RATE`."""
    import av
    import av.error

    name = str(path)
    file = Path(name)
    if not file.is_file():
        raise LipsError(f"{name}: no such file")
    if file.stat().st_size == 0:
        raise LipsError(f"{name}: empty file (0 bytes)")
    try:
        container = av.open(name)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise LipsError(f"{name}: cannot be decoded ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise LipsError(f"{name}: no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[npt.NDArray[np.float32]] = []  # mono float32 blocks
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1))
            for out in resampler.resample(None):
                chunks.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if not chunks:
                raise LipsError(f"{name}: the audio cannot be decoded ({exc})") from exc
    if not chunks:
        raise LipsError(f"{name}: the audio track is empty")
    return np.concatenate(chunks).astype(np.float64)


def audio_energy(
    path: str | os.PathLike[str], times: npt.ArrayLike, window_s: float = 0.04
) -> FloatArray:
    """RMS level (dBFS, at least :data:`FLOOR_DB`) of `path`'s audio around each of `times`.

    Raises:
        LipsError: the file is missing, empty, not decodable, or has no audio track;
            `window_s` is not positive.
    """
    if not (np.isfinite(window_s) and window_s > 0):
        raise LipsError(f"window_s must be > 0, got {window_s!r}")
    t = np.asarray(times, np.float64).reshape(-1)
    if not np.isfinite(t).all():
        raise LipsError("times must be finite")
    samples = decode_audio(path)
    half = max(1, round(window_s * SAMPLE_RATE / 2))
    cumulative = np.concatenate([[0.0], np.cumsum(samples**2)])
    centre = np.round(t * SAMPLE_RATE).astype(np.int64)
    lo = np.clip(centre - half, 0, len(samples))
    hi = np.clip(centre + half, 0, len(samples))
    power = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    power[hi <= lo] = 0.0
    level = 10 * np.log10(np.maximum(power, 10 ** (FLOOR_DB / 10)))
    return np.asarray(level, np.float64)


def audio_speech(
    level_db: npt.ArrayLike,
    time: npt.ArrayLike | None = None,
    below_peak_db: float = 25.0,
    window_s: float = 0.3,
) -> npt.NDArray[np.bool_]:
    """Times whose level is at most `below_peak_db` under the loud level (95th percentile).

    With `time`, levels are first averaged (in dB) over a centred `window_s`-second
    window, so the short dips between syllables do not count as silence.
    """
    level = np.asarray(level_db, np.float64)
    if level.size == 0:
        return np.zeros(0, bool)
    if time is not None:
        t = np.asarray(time, np.float64)
        if t.shape != level.shape:
            raise LipsError(f"{t.size} times for {level.size} levels")
        cumulative = np.concatenate([[0.0], np.cumsum(level)])
        lo = np.searchsorted(t, t - window_s / 2, side="left")
        hi = np.searchsorted(t, t + window_s / 2, side="right")
        level = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    loud = float(np.percentile(level, 95))
    if loud <= FLOOR_DB + 1:
        return np.zeros(level.shape, bool)  # digital silence
    return np.asarray(level >= loud - below_peak_db, bool)
