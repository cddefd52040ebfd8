"""The serial protocol and driver against a virtual sleeve on a pseudo-terminal."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from facescope.haptics import HapticsError, schedule, stimulus
from facescope.haptics.device import (
    FRAME_SIZE,
    HapticDevice,
    VirtualDevice,
    arrival_jitter,
    crc8,
    decode_frame,
    encode_frame,
    play,
)

pytest.importorskip("serial")


def test_frames_round_trip_and_checksums_catch_errors() -> None:
    assert crc8(b"123456789") == 0xF4  # the CRC-8/SMBUS check value
    values = np.arange(25) * 10
    frame = encode_frame(300, values)
    assert len(frame) == FRAME_SIZE == 30 and frame[:2] == b"\xa5\x5a" and frame[2] == 300 % 256
    assert decode_frame(frame) == (44, values.tolist())
    broken = bytearray(frame)
    broken[10] ^= 0x01
    with pytest.raises(HapticsError, match="checksum"):
        decode_frame(bytes(broken))
    with pytest.raises(HapticsError):
        encode_frame(0, np.full(25, 256))
    with pytest.raises(HapticsError):
        encode_frame(0, np.zeros(24))


def test_a_schedule_arrives_whole_in_order_and_on_time() -> None:
    plan = schedule(stimulus("anger", duration=1.5), rate=100)
    with VirtualDevice() as device:
        done = play(device.port, plan)
        time.sleep(0.05)
        got = device.received
    assert got.bad == 0 and done.resent == 0 and done.frames == 150
    assert got.seqs == [k % 256 for k in range(151)]  # 150 frames and the motors-off frame
    assert np.array_equal(np.array(got.values[:150]), plan.pwm)
    assert got.values[-1] == [0] * 25
    jitter = arrival_jitter(got.times[:150], plan.rate)
    # 100 Hz through a pty on a shared CPU: the period holds on average, jitter stays small
    assert abs(jitter["interval_ms_mean"] - 10.0) < 0.5, jitter
    assert jitter["interval_ms_std"] < 4.0, jitter
    assert jitter["drift_ms_max"] < 25.0, jitter
    assert done.ack_ms_mean < 5.0


def test_a_silent_device_times_out_instead_of_hanging() -> None:
    with VirtualDevice(ack=False) as device:
        began = time.perf_counter()
        with pytest.raises(HapticsError, match="did not acknowledge frame 0 within 100 ms"):
            play(device.port, schedule(stimulus("tap")), ack_timeout=0.1)
        assert time.perf_counter() - began < 1.0


def test_a_rejected_frame_is_sent_again() -> None:
    with VirtualDevice(corrupt_first=True) as device:
        done = play(device.port, schedule(stimulus("tap", duration=0.2), rate=50))
        time.sleep(0.02)
        assert device.received.bad == 1 and done.resent == 1
        assert device.received.seqs[:2] == [0, 1]


def test_missing_ports() -> None:
    with pytest.raises(HapticsError, match="--port"):
        HapticDevice(None)
    with pytest.raises(HapticsError, match="cannot open serial port"):
        HapticDevice("/dev/facescope-no-such-port")


def test_without_pyserial_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(HapticsError, match=r"pip install 'facescope\[haptics\]'"):
        HapticDevice("/dev/ttyUSB0")
