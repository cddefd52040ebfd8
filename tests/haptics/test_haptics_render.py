"""WAV, motor schedules (CSV/JSON), the GIF preview, and sound playback without PortAudio."""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facescope.haptics import (
    HapticsError,
    schedule,
    stimulus,
    write_preview,
    write_schedule,
    write_wav,
)
from facescope.haptics.render import play_audio, read_schedule_csv


def test_wav_holds_the_sound(tmp_path: Path) -> None:
    s = stimulus("tap", duration=1.0)
    path = write_wav(s, tmp_path / "tap.wav")
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, s.sample_rate)
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert len(pcm) == len(s.audio)
    assert np.abs(pcm / 32767 - s.audio).max() < 1e-3


def test_csv_schedule_has_a_time_column_and_25_motors(tmp_path: Path) -> None:
    s = stimulus("stroke", duration=2.0)
    plan = schedule(s, rate=100, bits=8)
    path = write_schedule(plan, tmp_path / "stroke.csv")
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time", *(f"m{m:02d}" for m in range(25))]
    assert len(rows) == 1 + 200
    times, pwm = read_schedule_csv(path)
    assert np.allclose(np.diff(times), 0.01)
    assert pwm.shape == (200, 25) and pwm.min() >= 0 and pwm.max() <= 255
    assert (
        pwm.max() == round(s.intensities.max() * 255)
        or abs(pwm.max() - s.intensities.max() * 255) <= 1
    )


def test_json_schedule_rate_and_bits(tmp_path: Path) -> None:
    s = stimulus("calm", duration=1.0)
    plan = schedule(s, rate=50, bits=10)
    doc = json.loads(write_schedule(plan, tmp_path / "calm.json").read_text())
    assert doc["rate_hz"] == 50 and doc["bits"] == 10 and doc["max_value"] == 1023
    assert len(doc["frames"]) == len(doc["times"]) == 50
    assert all(len(f) == 25 for f in doc["frames"])
    assert max(max(f) for f in doc["frames"]) > 255  # 10-bit values


@pytest.mark.parametrize(("rate", "bits"), [(0, 8), (5000, 8), (float("nan"), 8), (100, 0)])
def test_bad_rates_and_depths(rate: float, bits: int) -> None:
    with pytest.raises(HapticsError):
        schedule(stimulus("tap"), rate=rate, bits=bits)


def test_unknown_schedule_format(tmp_path: Path) -> None:
    with pytest.raises(HapticsError, match=r"\.csv or \.json"):
        write_schedule(schedule(stimulus("tap")), tmp_path / "x.txt")


def test_gif_preview_animates_the_grid(tmp_path: Path) -> None:
    s = stimulus("stroke", duration=1.0)
    path = write_preview(s, tmp_path / "stroke.gif", fps=20, cell=10)
    with Image.open(path) as gif:
        assert gif.size == (50, 50)
        assert gif.n_frames == 20
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("L"), np.float64))
    # the bright band moves down the picture (rows) during the sweep
    rows = [np.argmax(f.sum(axis=1)) for f in frames[:8]]
    assert rows[-1] > rows[0]


def test_playing_sound_without_portaudio_offers_the_wav() -> None:
    try:
        import sounddevice  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    except (ImportError, OSError):
        with pytest.raises(HapticsError, match="WAV"):
            play_audio(stimulus("tap", duration=0.2))
    else:
        pytest.skip("PortAudio is available here")
