"""A serial driver for a 5x5 vibration-motor sleeve, and a virtual device on a pty.

The protocol (115200 baud, 8N1 by default; docs/haptics.md):

* host -> device, one frame per update, 30 bytes::

      0xA5 0x5A SEQ 0x19 P0 P1 ... P24 CRC

  ``SEQ`` counts frames modulo 256, ``0x19`` is the payload length (25), ``P0..P24`` the
  motors' 8-bit PWM duty (motor m: row m // 5, column m % 5), and ``CRC`` the CRC-8
  (polynomial 0x07, initial value 0, no reflection) of the bytes ``SEQ`` to ``P24``.
* device -> host, after every frame: ``0x06 SEQ`` (ACK: applied) or ``0x15 SEQ`` (NAK: bad
  checksum or length; the host resends that frame once).
* the host waits at most ``ack_timeout`` for each answer; no answer is an error (never a
  hang). After the last frame the host sends an all-zero frame (motors off).

pyserial is imported only when a port is opened (``pip install 'facescope[haptics]'``).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.haptics.errors import HapticsError
from facescope.haptics.render import MotorSchedule
from facescope.haptics.stimulus import MOTORS

START = b"\xa5\x5a"
ACK, NAK = 0x06, 0x15
FRAME_SIZE = len(START) + 2 + MOTORS + 1
INSTALL_HINT = "pyserial is not installed: pip install 'facescope[haptics]'"


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0 (CRC-8/SMBUS)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_frame(seq: int, values: npt.ArrayLike) -> bytes:
    """One 30-byte frame: start, sequence number, length, 25 PWM bytes, CRC-8."""
    pwm = np.asarray(values)
    if pwm.shape != (MOTORS,) or pwm.min(initial=0) < 0 or pwm.max(initial=0) > 255:
        raise HapticsError(f"a frame is 25 values in 0..255, got shape {pwm.shape}")
    body = bytes([seq & 0xFF, MOTORS]) + bytes(int(v) for v in pwm)
    return START + body + bytes([crc8(body)])


def decode_frame(frame: bytes) -> tuple[int, list[int]]:
    """(sequence number, 25 values) of a frame; HapticsError if it is malformed."""
    if len(frame) != FRAME_SIZE or frame[:2] != START or frame[3] != MOTORS:
        raise HapticsError("malformed frame")
    body = frame[2:-1]
    if crc8(body) != frame[-1]:
        raise HapticsError("bad checksum")
    return body[0], list(body[2:])


def _to_8bit(plan: MotorSchedule) -> npt.NDArray[np.int64]:
    if plan.bits == 8:
        return plan.pwm
    return np.asarray(np.rint(plan.pwm * (255 / plan.max_value)), np.int64)


@dataclass(frozen=True)
class Playback:
    """How a schedule went out: frames, resends, acknowledgement latency, send timing."""

    port: str
    frames: int
    rate: float
    resent: int
    duration: float
    ack_ms_mean: float
    ack_ms_max: float
    late_ms_max: float  # worst delay of a send after its scheduled time
    interval_ms_std: float  # jitter of the send intervals

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class HapticDevice:
    """The sleeve on a serial port. Use as a context manager, or call close()."""

    def __init__(self, port: str | None, *, baudrate: int = 115200, ack_timeout: float = 0.2):
        if not port:
            raise HapticsError("no serial port given: pass --port (e.g. /dev/ttyUSB0)")
        if not 0 < ack_timeout <= 10:
            raise HapticsError(f"ack_timeout must be in (0, 10] seconds, got {ack_timeout!r}")
        try:
            import serial
        except ImportError:
            raise HapticsError(INSTALL_HINT) from None
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=ack_timeout,
                                         write_timeout=ack_timeout)  # fmt: skip
        except (serial.SerialException, OSError, ValueError) as exc:
            raise HapticsError(f"cannot open serial port {port}: {exc}") from None
        self.port = port
        self.ack_timeout = ack_timeout
        self._seq = 0

    def __enter__(self) -> HapticDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._serial.close()

    def _answer(self, seq: int) -> bool:
        """True on ACK of `seq`, False on its NAK; HapticsError when nothing comes in time."""
        deadline = time.perf_counter() + self.ack_timeout
        while time.perf_counter() < deadline:
            head = self._serial.read(1)
            if not head:
                break
            if head[0] not in (ACK, NAK):
                continue
            got = self._serial.read(1)
            if got and got[0] == seq:
                return bool(head[0] == ACK)
        raise HapticsError(
            f"the device on {self.port} did not acknowledge frame {seq} within "
            f"{self.ack_timeout * 1000:.0f} ms (is it connected and speaking the protocol?)"
        )

    def send(self, values: npt.ArrayLike) -> tuple[float, int]:
        """Send one frame of 25 PWM values; (ack latency in seconds, resends)."""
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFF
        frame = encode_frame(seq, values)
        began = time.perf_counter()
        for attempt in range(2):
            try:
                self._serial.write(frame)
            except Exception as exc:
                raise HapticsError(f"cannot write to {self.port}: {exc}") from None
            if self._answer(seq):
                return time.perf_counter() - began, attempt
        raise HapticsError(f"the device on {self.port} rejected frame {seq} twice (checksum)")

    def play(self, plan: MotorSchedule) -> Playback:
        """Send `plan` frame by frame at its rate, then switch the motors off."""
        values = _to_8bit(plan)
        latencies: list[float] = []
        sent: list[float] = []
        late = 0.0
        resent = 0
        start = time.perf_counter() + 0.002
        for i, row in enumerate(values):
            due = start + i / plan.rate
            while (wait := due - time.perf_counter()) > 0:
                time.sleep(wait - 0.001 if wait > 0.002 else 0)
            now = time.perf_counter()
            late = max(late, now - due)
            sent.append(now)
            latency, again = self.send(row)
            latencies.append(latency)
            resent += again
        self.send(np.zeros(MOTORS, np.int64))
        intervals = np.diff(sent) if len(sent) > 1 else np.zeros(1)
        return Playback(
            port=self.port,
            frames=len(values),
            rate=plan.rate,
            resent=resent,
            duration=float(sent[-1] - sent[0]) if sent else 0.0,
            ack_ms_mean=float(np.mean(latencies) * 1000) if latencies else 0.0,
            ack_ms_max=float(np.max(latencies) * 1000) if latencies else 0.0,
            late_ms_max=late * 1000,
            interval_ms_std=float(np.std(intervals) * 1000),
        )


def play(port: str | None, plan: MotorSchedule, *, ack_timeout: float = 0.2) -> Playback:
    """Open `port`, play `plan`, close."""
    with HapticDevice(port, ack_timeout=ack_timeout) as device:
        return device.play(plan)


# ---- a virtual sleeve on a pseudo-terminal ------------------------------------------------


@dataclass
class Received:
    """What the virtual device saw: frames with their arrival times, and bad frames."""

    seqs: list[int] = field(default_factory=list)
    values: list[list[int]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    bad: int = 0


class VirtualDevice:
    """A mock sleeve behind a pty: its slave side is :attr:`port` for :class:`HapticDevice`;
    a thread on the master side parses frames, checks checksums, acknowledges (unless
    ``ack=False``) and records arrival times (``time.perf_counter``) in :attr:`received`."""

    def __init__(self, *, ack: bool = True, corrupt_first: bool = False):
        import tty

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.ack = ack
        self._corrupt_first = corrupt_first
        self.received = Received()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="virtual-haptics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            arrived = time.perf_counter()
            buffer += chunk
            while True:
                at = buffer.find(START)
                if at < 0:
                    buffer = buffer[-1:]
                    break
                if len(buffer) - at < FRAME_SIZE:
                    buffer = buffer[at:]
                    break
                frame, buffer = buffer[at : at + FRAME_SIZE], buffer[at + FRAME_SIZE :]
                self._handle(frame, arrived)

    def _handle(self, frame: bytes, arrived: float) -> None:
        try:
            seq, values = decode_frame(frame)
            if self._corrupt_first:
                self._corrupt_first = False
                raise HapticsError("simulated line noise")
        except HapticsError:
            self.received.bad += 1
            if self.ack:
                os.write(self._master, bytes([NAK, frame[2]]))
            return
        self.received.seqs.append(seq)
        self.received.values.append(values)
        self.received.times.append(arrived)
        if self.ack:
            os.write(self._master, bytes([ACK, seq]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> VirtualDevice:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def arrival_jitter(times: list[float] | npt.ArrayLike, rate: float) -> dict[str, float]:
    """Timing of arrivals against the nominal period: mean and std of the intervals, and the
    worst drift of an arrival from its slot (first arrival as time 0), all in ms."""
    t = np.asarray(times, np.float64)
    if len(t) < 2:
        return {"interval_ms_mean": 0.0, "interval_ms_std": 0.0, "drift_ms_max": 0.0}
    intervals = np.diff(t)
    slots = t[0] + np.arange(len(t)) / rate
    return {
        "interval_ms_mean": float(intervals.mean() * 1000),
        "interval_ms_std": float(intervals.std() * 1000),
        "drift_ms_max": float(np.abs(t - slots).max() * 1000),
    }


__all__ = [
    "ACK",
    "FRAME_SIZE",
    "INSTALL_HINT",
    "NAK",
    "HapticDevice",
    "Playback",
    "Received",
    "VirtualDevice",
    "arrival_jitter",
    "crc8",
    "decode_frame",
    "encode_frame",
    "play",
]
