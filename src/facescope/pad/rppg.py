"""Remote photoplethysmography (rPPG): a pulse signal from the skin's colour over time.

Training-free, from the per-frame mean RGB of skin pixels:

* **POS** (Wang, den Brinker, Stuijk & de Haan 2017, "Algorithmic principles
  of remote PPG"): in sliding windows of 1.6 s, each colour channel is divided
  by its mean (temporal normalisation), projected on the plane orthogonal to
  the skin tone with ``[[0, 1, -1], [-2, 1, 1]]``, the two projections are
  combined with ``alpha = std(S1) / std(S2)`` ("alpha tuning"), and the
  zero-mean window is overlap-added into the pulse signal.
* **CHROM** (de Haan & Jeanne 2013): in Hann-weighted windows of 1.6 s with
  half overlap, normalised channels give ``Xs = 3R - 2G`` and
  ``Ys = 1.5R + G - 1.5B``, both are band-passed to 0.7-4 Hz, and
  ``S = Xf - alpha Yf`` with ``alpha = std(Xf) / std(Yf)`` is overlap-added.

Frames rarely come at a constant rate (webcams drop frames), so samples are
first resampled to a uniform grid (:func:`resample_uniform`; linear
interpolation, also over frames where no face was measured).

The heart rate is the peak of the pulse's power spectrum within 0.7-4 Hz
(42-240 bpm). The SNR follows de Haan & Jeanne: the power within ±0.1 Hz of the
fundamental and of its first harmonic, over the rest of the 0.7-4 Hz band, in
dB. De Haan measures it around a reference (contact) heart rate; here the
reference is the estimated peak itself, so even pure noise scores a few dB
above what it would against a true reference (the comparison of a pulse with
noise at equal settings is what the number is for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import signal as sps

from facescope.pad.cues import PADError

FloatArray = npt.NDArray[np.float64]
Method = Literal["pos", "chrom"]

#: The heart-rate band, Hz (42-240 bpm).
BAND_HZ = (0.7, 4.0)
#: Sliding-window length of POS and CHROM, seconds.
WINDOW_S = 1.6
#: Half-width of the SNR's pulse template around the fundamental and harmonic, Hz.
SNR_HALF_WIDTH_HZ = 0.1
#: Shortest recording a heart rate is estimated from, seconds.
MIN_SECONDS = 4.0
#: Lowest (uniform) sampling rate the 0.7-4 Hz band needs, Hz (Nyquist: 2 x 4 Hz).
MIN_RATE_HZ = 2.0 * BAND_HZ[1]
#: Default rate of the uniform grid, Hz.
DEFAULT_RATE_HZ = 30.0
_P_POS = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])


@dataclass(frozen=True)
class PulseEstimate:
    """A pulse signal and what it says.

    Attributes:
        method: ``"pos"`` or ``"chrom"``.
        signal: the pulse on the uniform grid (zero mean).
        fs: the grid's sampling rate, Hz.
        bpm: the heart rate, beats per minute (peak of the spectrum in 0.7-4 Hz).
        snr_db: de Haan's SNR around that peak and its first harmonic, dB.
    """

    method: str
    signal: FloatArray
    fs: float
    bpm: float
    snr_db: float


def resample_uniform(
    times: npt.ArrayLike, values: npt.ArrayLike, fs: float = DEFAULT_RATE_HZ
) -> tuple[FloatArray, FloatArray]:
    """Linear interpolation of ``(n, k)`` samples at increasing `times` onto a grid at `fs` Hz.

    Rows with a non-finite value (no face in that frame) are left out before
    interpolating. Returns the grid times and the ``(m, k)`` resampled values.
    """
    t = np.asarray(times, np.float64).reshape(-1)
    v = np.asarray(values, np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] != t.size:
        raise PADError(f"expected one row of values per timestamp, got {v.shape} for {t.size}")
    if not math.isfinite(fs) or fs <= 0:
        raise PADError(f"sampling rate must be > 0, got {fs}")
    keep = np.isfinite(t) & np.all(np.isfinite(v), axis=1)
    t, v = t[keep], v[keep]
    if t.size < 2:
        raise PADError(f"need at least 2 measured samples to resample, got {t.size}")
    if np.any(np.diff(t) < 0):
        raise PADError("timestamps must not decrease")
    grid = t[0] + np.arange(math.floor((t[-1] - t[0]) * fs) + 1) / fs
    out = np.stack([np.interp(grid, t, v[:, k]) for k in range(v.shape[1])], axis=1)
    return grid, out


def _check_rgb(rgb: npt.ArrayLike, fs: float) -> FloatArray:
    c = np.asarray(rgb, np.float64)
    if c.ndim != 2 or c.shape[1] != 3:
        raise PADError(f"expected (n, 3) mean RGB values, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise PADError("mean RGB values must be finite (resample first to fill gaps)")
    if np.any(c <= 0):
        raise PADError("mean RGB values must be > 0 (skin pixels, not black)")
    if not math.isfinite(fs) or fs < MIN_RATE_HZ:
        raise PADError(f"sampling rate {fs:g} Hz is below the {MIN_RATE_HZ:g} Hz the band needs")
    if c.shape[0] < _window_length(fs):
        raise PADError(
            f"{c.shape[0]} samples ({c.shape[0] / fs:.2f} s) is shorter than one "
            f"{WINDOW_S} s window"
        )
    return c


def _window_length(fs: float) -> int:
    return max(2, math.ceil(WINDOW_S * fs))


def pos_pulse(rgb: npt.ArrayLike, fs: float) -> FloatArray:
    """The POS pulse signal of ``(n, 3)`` uniformly sampled mean skin RGB values."""
    c = _check_rgb(rgb, fs)
    n, length = c.shape[0], _window_length(fs)
    pulse = np.zeros(n)
    for start in range(n - length + 1):
        block = c[start : start + length]
        projected = (block / block.mean(axis=0)) @ _P_POS.T
        s1, s2 = projected[:, 0], projected[:, 1]
        h = s1 + (s1.std() / max(float(s2.std()), 1e-12)) * s2
        pulse[start : start + length] += h - h.mean()
    return pulse


def _bandpass(fs: float) -> tuple[FloatArray, FloatArray]:
    high = min(BAND_HZ[1], 0.45 * fs)
    b, a = sps.butter(3, [BAND_HZ[0] / (fs / 2), high / (fs / 2)], btype="bandpass")
    return np.asarray(b, np.float64), np.asarray(a, np.float64)


def chrom_pulse(rgb: npt.ArrayLike, fs: float) -> FloatArray:
    """The CHROM pulse signal of ``(n, 3)`` uniformly sampled mean skin RGB values."""
    c = _check_rgb(rgb, fs)
    n = c.shape[0]
    length = _window_length(fs)
    length += length % 2
    hop = length // 2
    b, a = _bandpass(fs)
    pad = min(3 * max(len(a), len(b)), length - 1)
    taper = np.hanning(length)
    pulse = np.zeros(n)
    starts = list(range(0, max(n - length, 0) + 1, hop))
    if starts[-1] + length < n:
        starts.append(n - length)
    for start in starts:
        block = c[start : start + length]
        if block.shape[0] < length:
            break
        norm = block / block.mean(axis=0)
        xs = 3.0 * norm[:, 0] - 2.0 * norm[:, 1]
        ys = 1.5 * norm[:, 0] + norm[:, 1] - 1.5 * norm[:, 2]
        xf = sps.filtfilt(b, a, xs, padlen=pad)
        yf = sps.filtfilt(b, a, ys, padlen=pad)
        s = xf - (xf.std() / max(float(yf.std()), 1e-12)) * yf
        pulse[start : start + length] += taper * s
    return pulse


def pulse_spectrum(pulse: npt.ArrayLike, fs: float) -> tuple[FloatArray, FloatArray]:
    """Frequencies (Hz) and power of a pulse signal (Hann window, zero-padded to 0.01 Hz)."""
    x = np.asarray(pulse, np.float64).reshape(-1)
    nfft = max(x.size, 1 << math.ceil(math.log2(fs / 0.01)))
    freqs, power = sps.periodogram(x, fs=fs, window="hann", nfft=nfft, detrend="constant")
    return np.asarray(freqs, np.float64), np.asarray(power, np.float64)


def heart_rate_snr(pulse: npt.ArrayLike, fs: float) -> tuple[float, float]:
    """Heart rate (bpm) at the spectral peak in 0.7-4 Hz, and de Haan's SNR (dB) around it."""
    freqs, power = pulse_spectrum(pulse, fs)
    band = (freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])
    if not np.any(band) or float(power[band].sum()) <= 0:
        return math.nan, math.nan
    peak = float(freqs[band][np.argmax(power[band])])
    template = (np.abs(freqs - peak) <= SNR_HALF_WIDTH_HZ) | (
        np.abs(freqs - 2 * peak) <= SNR_HALF_WIDTH_HZ
    )
    signal_power = float(power[band & template].sum())
    noise_power = float(power[band & ~template].sum())
    snr = 10.0 * math.log10(max(signal_power, 1e-30) / max(noise_power, 1e-30))
    return 60.0 * peak, snr


def estimate_pulse(
    times: npt.ArrayLike,
    rgb: npt.ArrayLike,
    *,
    method: Method = "pos",
    fs: float = DEFAULT_RATE_HZ,
) -> PulseEstimate:
    """Pulse, heart rate and SNR from per-frame mean skin RGB at (possibly uneven) `times`.

    Rows of `rgb` that are not finite (no face measured in that frame) are
    interpolated over. Raises :class:`PADError` for a recording shorter than
    :data:`MIN_SECONDS`, a frame rate below :data:`MIN_RATE_HZ`, or too few
    measured frames.
    """
    if method not in ("pos", "chrom"):
        raise PADError(f"unknown rPPG method {method!r}; use 'pos' or 'chrom'")
    t = np.asarray(times, np.float64).reshape(-1)
    c = np.asarray(rgb, np.float64)
    if c.ndim != 2 or c.shape != (t.size, 3):
        raise PADError(f"expected (n, 3) mean RGB for n={t.size} timestamps, got {c.shape}")
    measured = np.isfinite(t) & np.all(np.isfinite(c), axis=1)
    if measured.sum() < 2:
        raise PADError(f"only {int(measured.sum())} frames with a measured face")
    span = float(t[measured][-1] - t[measured][0])
    if span < MIN_SECONDS:
        raise PADError(
            f"too short for a heart rate: {span:.2f} s of face, needs >= {MIN_SECONDS:g} s"
        )
    rate = (measured.sum() - 1) / span
    if rate < MIN_RATE_HZ:
        raise PADError(
            f"too few frames for a heart rate: {rate:.1f} measured frames/s, "
            f"needs >= {MIN_RATE_HZ:g} (the band reaches {BAND_HZ[1]:g} Hz)"
        )
    _, uniform = resample_uniform(t, c, fs)
    pulse = pos_pulse(uniform, fs) if method == "pos" else chrom_pulse(uniform, fs)
    bpm, snr = heart_rate_snr(pulse, fs)
    return PulseEstimate(method, pulse, float(fs), bpm, snr)


__all__ = [
    "BAND_HZ",
    "MIN_SECONDS",
    "PulseEstimate",
    "chrom_pulse",
    "estimate_pulse",
    "heart_rate_snr",
    "pos_pulse",
    "pulse_spectrum",
    "resample_uniform",
]
