"""Renderers: WAV sound, motor schedules (CSV or JSON, any update rate and PWM depth),
an animated heat-map preview (GIF), and sound playback through PortAudio."""

from __future__ import annotations

import csv
import json
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.haptics.errors import HapticsError
from facescope.haptics.stimulus import GRID, MOTORS, Stimulus

#: Schedule update rates accepted (Hz) and PWM depths (bits).
MIN_RATE, MAX_RATE = 1.0, 1000.0
MIN_BITS, MAX_BITS = 1, 16


@dataclass(frozen=True, eq=False)
class MotorSchedule:
    """Motor commands at a fixed update rate: (T,) times and (T, 25) PWM duty values."""

    name: str
    rate: float
    bits: int
    times: npt.NDArray[np.float64]
    pwm: npt.NDArray[np.int64]

    @property
    def max_value(self) -> int:
        return (1 << self.bits) - 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON schedule: header and one row of 25 PWM values per update."""
        return {
            "name": self.name,
            "rate_hz": self.rate,
            "bits": self.bits,
            "max_value": self.max_value,
            "motors": MOTORS,
            "layout": "motor m at row m // 5 (0: wrist end), column m % 5",
            "times": [round(float(t), 6) for t in self.times],
            "frames": self.pwm.tolist(),
        }


def check_rate(rate: float, bits: int = 8) -> None:
    """HapticsError unless `rate` is in 1..1000 Hz and `bits` in 1..16."""
    if not isinstance(rate, int | float) or not math.isfinite(rate):
        raise HapticsError(f"rate must be a number of updates per second, got {rate!r}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise HapticsError(f"rate must be {MIN_RATE:g}..{MAX_RATE:g} Hz, got {rate:g}")
    if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise HapticsError(f"bits must be {MIN_BITS}..{MAX_BITS}, got {bits!r}")


def schedule(stimulus: Stimulus, rate: float = 100.0, bits: int = 8) -> MotorSchedule:
    """`stimulus`'s intensities resampled to `rate` Hz and quantised to `bits`-bit PWM."""
    check_rate(rate, bits)
    n = max(1, math.floor(stimulus.duration * rate + 1e-9))
    times = np.arange(n) / rate
    source = stimulus.times
    values = np.stack(
        [np.interp(times, source, stimulus.intensities[:, m]) for m in range(MOTORS)], axis=1
    )
    top = (1 << bits) - 1
    pwm = np.clip(np.rint(values * top), 0, top).astype(np.int64)
    return MotorSchedule(stimulus.name, float(rate), bits, times, pwm)


def write_wav(stimulus: Stimulus, path: str | Path) -> Path:
    """The contact sound as 16-bit mono PCM WAV."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(np.rint(stimulus.audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(stimulus.sample_rate)
        out.writeframes(pcm.tobytes())
    return target


def write_schedule(plan: MotorSchedule, path: str | Path) -> Path:
    """The schedule as CSV (``time`` then ``m00``..``m24``) or JSON, by `path`'s suffix."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix.lower()
    if suffix == ".json":
        target.write_text(json.dumps(plan.to_dict()))
    elif suffix == ".csv":
        with target.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", *(f"m{m:02d}" for m in range(MOTORS))])
            for t, row in zip(plan.times, plan.pwm, strict=True):
                writer.writerow([f"{t:.6f}", *row.tolist()])
    else:
        raise HapticsError(f"schedule format must be .csv or .json, got {target.name!r}")
    return target


def read_schedule_csv(path: str | Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(times, (T, 25) PWM) from a schedule CSV written by :func:`write_schedule`."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or len(rows[0]) != MOTORS + 1 or rows[0][0] != "time":
        raise HapticsError(f"{path}: not a motor schedule (time + 25 motor columns)")
    data = np.array(rows[1:], dtype=np.float64).reshape(-1, MOTORS + 1)
    return data[:, 0], data[:, 1:].astype(np.int64)


def _heat(values: npt.NDArray[np.float64], cell: int) -> npt.NDArray[np.uint8]:
    """A (5*cell, 5*cell, 3) heat map (black -> red -> yellow -> white) of 25 values."""
    v = np.clip(values.reshape(GRID, GRID), 0, 1)
    rgb = np.stack([np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)], -1)
    image = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    image[::cell, :] = 0.25  # grid lines
    image[:, ::cell] = 0.25
    return (image * 255).astype(np.uint8)


def write_preview(
    stimulus: Stimulus, path: str | Path, *, fps: float = 20.0, cell: int = 24
) -> Path:
    """An animated heat map of the 5x5 grid over time (GIF via Pillow; row 0 at the top)."""
    from PIL import Image

    if not (math.isfinite(fps) and 1 <= fps <= 50):
        raise HapticsError(f"preview fps must be 1..50, got {fps!r}")
    target = Path(path)
    if target.suffix.lower() != ".gif":
        raise HapticsError(f"the preview is a .gif, got {target.name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, round(stimulus.rate / fps))
    frames = [Image.fromarray(_heat(row, cell)) for row in stimulus.intensities[::step]] or [
        Image.fromarray(_heat(np.zeros(MOTORS), cell))
    ]
    frames[0].save(
        target,
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 * step / stimulus.rate),
        loop=0,
    )
    return target


def play_audio(stimulus: Stimulus, *, wait: bool = True) -> None:
    """Play the contact sound on the default output (needs the sounddevice package and the
    PortAudio library).

    Raises:
        HapticsError: no PortAudio or no output device; the message offers the WAV.
    """
    hint = (
        "cannot play sound: {why}; install PortAudio (e.g. apt install libportaudio2) and "
        "`pip install sounddevice`, or play the WAV that `facescope haptics render` writes"
    )
    try:
        import sounddevice  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except (ImportError, OSError) as exc:
        raise HapticsError(hint.format(why=str(exc) or type(exc).__name__)) from None
    try:
        sounddevice.play(stimulus.audio, stimulus.sample_rate)
        if wait:
            sounddevice.wait()
    except Exception as exc:  # PortAudioError and friends
        raise HapticsError(hint.format(why=str(exc))) from None


__all__ = [
    "MotorSchedule",
    "check_rate",
    "play_audio",
    "read_schedule_csv",
    "schedule",
    "write_preview",
    "write_schedule",
    "write_wav",
]
