"""Vibrotactile patterns on a 5x5 motor grid and matching contact sounds, from (valence,
arousal) and a touch gesture.

A :class:`Stimulus` holds 25 motor intensity curves (0..1, sampled at
:data:`MOTOR_RATE` Hz) and a mono sound (:data:`SAMPLE_RATE` Hz) on the same timeline.
Motor ``m`` sits at row ``m // 5`` (0 at the wrist end of the sleeve, 4 at the elbow end)
and column ``m % 5``. The design rules (docs/haptics.md has them as a table):

* arousal -> peak intensity ``0.30 + 0.65 a'``, tempo ``(1 + 7 a') x gesture tempo`` beats
  per second, vibration frequency ``80 + 170 a'`` Hz, sound loudness and brightness, with
  ``a' = (arousal + 1) / 2``;
* valence -> smoothness ``v'`` (0: abrupt attack and exponential decay; 1: raised-sine
  swell) and spatial spread ``0.6 + 1.2 v'`` motor spacings (unpleasant is focal and
  sharp, pleasant broad and soft), ``v' = (valence + 1) / 2``;
* gesture -> contact dynamics (:data:`DYNAMICS`): how long each contact lasts (duty), its
  size, how it moves across the grid, and the contact sound's frequency band.

Everything is deterministic: the same arguments give the same arrays.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.haptics.anchors import (
    EMOTION_GESTURES,
    EMOTIONS,
    GESTURES,
    check_name,
    check_point,
    emotion_anchors,
    nearest_emotion,
)
from facescope.haptics.errors import HapticsError

FloatArray = npt.NDArray[np.float64]

#: Motor grid side (5 x 5 = 25 motors).
GRID = 5
MOTORS = GRID * GRID
#: Sampling rate of the motor intensity curves (Hz); schedules are resampled from it.
MOTOR_RATE = 200.0
#: Sampling rate of the contact sound (Hz).
SAMPLE_RATE = 16000
#: Shortest and longest stimulus (seconds).
MIN_DURATION, MAX_DURATION = 0.2, 120.0


@dataclass(frozen=True)
class Dynamics:
    """Contact dynamics of a gesture (one row of the gesture table)."""

    tempo_scale: float  # x the arousal tempo: contacts (or sweeps, breaths) per second
    duty: float  # share of each beat the skin is touched (1: continuous contact)
    size: float  # x the valence spread (contact radius)
    motion: str  # how the contact moves on the grid
    band: tuple[float, float]  # contact sound band (Hz) at medium arousal
    loudness: float  # contact sound gain
    sound: str  # the texture, in words


#: gesture -> contact dynamics.
DYNAMICS: dict[str, Dynamics] = {
    "tap": Dynamics(1.0, 0.25, 0.6, "a fingertip, a new spot near the centre each beat",
                    (1500.0, 6000.0), 0.9, "tapping: short bright clicks"),
    "stroke": Dynamics(0.35, 1.0, 1.0, "a palm sweeping from row 0 to row 4, once per beat",
                       (400.0, 3000.0), 0.6, "rubbing: steady band noise while moving"),
    "pat": Dynamics(0.6, 0.4, 1.6, "a flat palm on the centre, lifted between beats",
                    (120.0, 700.0), 0.9, "patting: dull thuds"),
    "hold": Dynamics(0.2, 1.0, 3.0, "the whole grid, still, swelling slowly (breathing)",
                     (60.0, 250.0), 0.35, "holding: a soft low rumble"),
    "squeeze": Dynamics(0.5, 0.7, 0.7, "a ring closing from the edges to the centre",
                        (150.0, 900.0), 0.6, "squeezing: muffled swells"),
    "tickle": Dynamics(2.0, 0.2, 0.45, "three light fingertip touches at random spots per beat",
                       (3000.0, 7500.0), 0.5, "tickling: light scratches"),
}  # fmt: skip


@dataclass(frozen=True)
class Parameters:
    """What the design rules chose for one stimulus."""

    peak: float
    tempo_hz: float
    frequency_hz: float
    smoothness: float
    spread: float
    scale: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in self.__dict__.items()}


def parameters(valence: float, arousal: float, gesture: str, scale: float = 1.0) -> Parameters:
    """The design rules: (valence, arousal, gesture) -> intensity, tempo, frequency, shape."""
    v, a = check_point(valence, arousal)
    if gesture not in DYNAMICS:
        raise HapticsError(f"unknown gesture {gesture!r}: one of {', '.join(GESTURES)}")
    if not (math.isfinite(scale) and 0 <= scale <= 1):
        raise HapticsError(f"scale must be in [0, 1], got {scale!r}")
    a1, v1 = (a + 1) / 2, (v + 1) / 2
    dyn = DYNAMICS[gesture]
    return Parameters(
        peak=0.30 + 0.65 * a1,
        tempo_hz=(1.0 + 7.0 * a1) * dyn.tempo_scale,
        frequency_hz=80.0 + 170.0 * a1,
        smoothness=v1,
        spread=(0.6 + 1.2 * v1) * dyn.size,
        scale=float(scale),
    )


@dataclass(frozen=True, eq=False)
class Stimulus:
    """A vibrotactile pattern and its contact sound on one timeline.

    Attributes:
        name: the emotion or gesture, or ``valence=+0.20,arousal=-0.40`` for a point.
        kind: ``emotion``, ``gesture`` or ``point``.
        gesture: the touch gesture that shapes the contacts.
        valence, arousal: the affect point, both in [-1, 1].
        params: what the design rules chose.
        intensities: (T, 25) motor intensities in [0, 1] at :attr:`rate` Hz.
        audio: (N,) float32 sound in [-1, 1] at :attr:`sample_rate` Hz.
    """

    name: str
    kind: str
    gesture: str
    valence: float
    arousal: float
    params: Parameters
    intensities: FloatArray = field(repr=False)
    audio: npt.NDArray[np.float32] = field(repr=False)
    rate: float = MOTOR_RATE
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.intensities) / self.rate

    @property
    def times(self) -> FloatArray:
        return np.arange(len(self.intensities)) / self.rate

    @property
    def mean_intensity(self) -> float:
        return float(self.intensities.mean()) if self.intensities.size else 0.0

    def centroid(self) -> FloatArray:
        """(T, 2) intensity-weighted (column, row) of the grid; NaN while nothing vibrates."""
        return centroid(self.intensities)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "gesture": self.gesture,
            "valence": round(self.valence, 4),
            "arousal": round(self.arousal, 4),
            "duration": round(self.duration, 4),
            "motor_rate": self.rate,
            "sample_rate": self.sample_rate,
            "mean_intensity": round(self.mean_intensity, 4),
            "peak_intensity": round(float(self.intensities.max(initial=0.0)), 4),
            "params": self.params.to_dict(),
        }


def centroid(intensities: npt.ArrayLike) -> FloatArray:
    """(T, 2) intensity-weighted (column, row) of (T, 25) intensities; NaN for silent rows."""
    grid = np.asarray(intensities, np.float64).reshape(-1, GRID, GRID)
    total = grid.sum(axis=(1, 2))
    index = np.arange(GRID, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        col = (grid.sum(axis=1) @ index) / total
        row = (grid.sum(axis=2) @ index) / total
    out = np.stack([col, row], axis=1)
    out[total <= 1e-9] = np.nan
    return out


def dominant_rate(curve: npt.ArrayLike, rate: float) -> float:
    """The strongest repetition rate (Hz) of `curve`: the spectral peak above 0.3 Hz."""
    x = np.asarray(curve, np.float64)
    x = x - x.mean()
    n = max(8192, 1 << math.ceil(math.log2(len(x) * 4)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[freqs < 0.3] = 0
    return float(freqs[int(np.argmax(spectrum))])


# ---- synthesis ---------------------------------------------------------------------------


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _envelope(phase: FloatArray, duty: float, smoothness: float) -> FloatArray:
    """A contact's pressure over one beat: a swell (smooth) or a hit that decays (sharp)."""
    u = phase / duty
    inside = u < 1
    u = np.clip(u, 0, 1)
    smooth = np.sin(np.pi * u)
    attack = np.minimum(1.0, u / 0.04)
    sharp = attack * np.exp(-4.0 * u) * (1 - u) ** 0.5
    return np.where(inside, smoothness * smooth + (1 - smoothness) * sharp, 0.0)


def _blobs(xs: FloatArray, ys: FloatArray, amps: FloatArray, sigma: float) -> FloatArray:
    """(T, 25) sum of Gaussian contacts (T, K) at columns xs, rows ys, heights amps."""
    index = np.arange(GRID, dtype=np.float64)
    col = np.tile(index, GRID)
    row = np.repeat(index, GRID)
    d2 = (col[None, None] - xs[..., None]) ** 2 + (row[None, None] - ys[..., None]) ** 2
    return np.asarray((amps[..., None] * np.exp(-d2 / (2 * sigma**2))).sum(axis=1), np.float64)


def _pattern(t: FloatArray, gesture: str, p: Parameters, seed: int) -> FloatArray:
    """(T, 25) intensities of `gesture` at times `t` (before scaling and clipping)."""
    dyn = DYNAMICS[gesture]
    beats = t * p.tempo_hz
    beat = np.floor(beats).astype(np.int64)
    phase = beats - beat
    centre = (GRID - 1) / 2
    sigma = max(p.spread, 0.3)
    if gesture in ("tap", "pat", "tickle"):
        k = 3 if gesture == "tickle" else 1
        jitter = {"tap": 0.7, "pat": 0.3, "tickle": 2.0}[gesture]
        rng = np.random.default_rng(seed)
        offsets = rng.uniform(-jitter, jitter, size=(int(beat.max(initial=0)) + 2, k, 2))
        xs = centre + offsets[beat, :, 0]
        ys = centre + offsets[beat, :, 1]
        env = _envelope(phase, dyn.duty, p.smoothness)
        amps = np.repeat((p.peak * env)[:, None], k, axis=1)
        return _blobs(xs, ys, amps, sigma)
    if gesture == "stroke":
        ys = (-1.5 + (GRID + 2.0) * phase)[:, None]  # enters below row 0, leaves past row 4
        xs = np.full_like(ys, centre)
        edge = np.minimum(1.0, np.minimum(phase, 1 - phase) / 0.08)  # lift at each end
        amps = (p.peak * (0.4 + 0.6 * edge ** (1 - p.smoothness + 0.2)))[:, None]
        return _blobs(xs, ys, amps, sigma)
    if gesture == "hold":
        ramp = np.clip(t / 0.3, 0, 1)
        breath = 1 - 0.2 * (0.5 - 0.5 * np.cos(2 * np.pi * phase))
        amps = (p.peak * ramp * breath)[:, None]
        return _blobs(np.full_like(amps, centre), np.full_like(amps, centre), amps, sigma)
    # squeeze: a ring of radius closing 2.8 -> 0.3 while the pressure swells
    index = np.arange(GRID, dtype=np.float64)
    radius = np.hypot(np.tile(index, GRID) - centre, np.repeat(index, GRID) - centre)
    ring = 2.8 - 2.5 * np.clip(phase / dyn.duty, 0, 1)
    env = _envelope(phase, dyn.duty, p.smoothness)
    width = max(sigma, 0.5)
    return (p.peak * env)[:, None] * np.exp(-((radius[None] - ring[:, None]) ** 2) / (2 * width**2))


def _band_noise(n: int, band: tuple[float, float], seed: int) -> FloatArray:
    """White noise band-passed to `band` (Hz) in the frequency domain, unit RMS."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    lo, hi = band
    mask = 1 / (1 + (lo / np.maximum(freqs, 1e-3)) ** 4) / (1 + (freqs / hi) ** 4)
    noise = np.fft.irfft(spectrum * mask, n)
    return np.asarray(noise / (noise.std() + 1e-12), np.float64)


def _sound(intensities: FloatArray, gesture: str, p: Parameters, seed: int) -> FloatArray:
    """The contact sound: band noise shaped by the strongest contact's pressure."""
    dyn = DYNAMICS[gesture]
    n = round(len(intensities) / MOTOR_RATE * SAMPLE_RATE)
    if n == 0:
        return np.zeros(0)
    a1 = (p.peak - 0.30) / 0.65
    shift = 0.7 + 0.6 * a1  # brighter when aroused
    band = (dyn.band[0] * shift, min(dyn.band[1] * shift, SAMPLE_RATE / 2 - 200))
    pressure = intensities.max(axis=1)
    motor_t = np.arange(len(pressure)) / MOTOR_RATE
    env = np.interp(np.arange(n) / SAMPLE_RATE, motor_t, pressure)
    if gesture == "stroke":  # rubbing sounds only while the palm is on the grid
        env = env * (pressure.max(initial=0) > 0)
    gain = dyn.loudness * (0.35 + 0.65 * a1)
    sound = _band_noise(n, band, seed) * env * gain * 0.3
    return np.asarray(np.clip(sound, -0.99, 0.99), np.float64)


def synthesize(
    valence: float,
    arousal: float,
    gesture: str,
    *,
    duration: float = 2.0,
    scale: float = 1.0,
    name: str | None = None,
    kind: str = "point",
) -> Stimulus:
    """The stimulus of (valence, arousal) touched with `gesture` for `duration` seconds.

    Raises:
        HapticsError: valence or arousal outside [-1, 1], an unknown gesture, a duration
            outside [0.2, 120] s, or a scale outside [0, 1].
    """
    if not (math.isfinite(duration) and MIN_DURATION <= duration <= MAX_DURATION):
        raise HapticsError(
            f"duration must be {MIN_DURATION}..{MAX_DURATION} seconds, got {duration!r}"
        )
    p = parameters(valence, arousal, gesture, scale)
    v, a = check_point(valence, arousal)
    label = name or f"valence={v:+.2f},arousal={a:+.2f}"
    seed = _seed(gesture, round(v, 3), round(a, 3))
    t = np.arange(round(duration * MOTOR_RATE)) / MOTOR_RATE
    intensities = np.clip(_pattern(t, gesture, p, seed), 0.0, 1.0) * scale
    audio = _sound(intensities / max(scale, 1e-9), gesture, p, seed) * scale
    return Stimulus(label, kind, gesture, v, a, p, intensities, audio.astype(np.float32))


def stimulus(
    name: str | None = None,
    *,
    valence: float | None = None,
    arousal: float | None = None,
    gesture: str | None = None,
    duration: float = 2.0,
    scale: float = 1.0,
) -> Stimulus:
    """A stimulus from the library (`name`: an emotion or a gesture) or for any point.

    * an emotion: its anchor and its gesture (:data:`EMOTION_GESTURES`);
    * a gesture: that gesture at (0, 0), or at `valence`/`arousal` when given;
    * no name: the point (`valence`, `arousal`), touched with `gesture` or, by default,
      the gesture of the nearest emotion anchor (the continuous mapping).

    Raises:
        HapticsError: unknown name, a point outside [-1, 1], a name and a point together
            for an emotion, or neither.
    """
    if name is not None:
        key = check_name(name)
        if key in EMOTIONS:
            if valence is not None or arousal is not None:
                raise HapticsError(
                    f"{key} has its own (valence, arousal); give either a name or a point"
                )
            v, a = emotion_anchors()[key]
            chosen = gesture or EMOTION_GESTURES[key]
            return synthesize(v, a, chosen, duration=duration, scale=scale, name=key,
                              kind="emotion")  # fmt: skip
        v, a = (valence or 0.0), (arousal or 0.0)
        return synthesize(v, a, key, duration=duration, scale=scale, name=key, kind="gesture")
    if valence is None or arousal is None:
        raise HapticsError("give an emotion or gesture name, or both --valence and --arousal")
    v, a = check_point(valence, arousal)
    chosen = gesture or EMOTION_GESTURES[nearest_emotion(v, a)]
    return synthesize(v, a, chosen, duration=duration, scale=scale)


def concatenate(parts: list[Stimulus], name: str = "timeline") -> Stimulus:
    """One stimulus playing `parts` one after another (the mirror's timeline)."""
    if not parts:
        raise HapticsError("nothing to concatenate")
    first = parts[0]
    intensities = np.concatenate([s.intensities for s in parts])
    audio = np.concatenate([s.audio for s in parts]).astype(np.float32)
    weights = np.array([s.duration for s in parts])
    v = float(np.average([s.valence for s in parts], weights=weights))
    a = float(np.average([s.arousal for s in parts], weights=weights))
    return Stimulus(name, "timeline", first.gesture, v, a, first.params, intensities, audio)


__all__ = [
    "DYNAMICS",
    "GRID",
    "MOTORS",
    "MOTOR_RATE",
    "SAMPLE_RATE",
    "Dynamics",
    "Parameters",
    "Stimulus",
    "centroid",
    "concatenate",
    "dominant_rate",
    "parameters",
    "stimulus",
    "synthesize",
]
