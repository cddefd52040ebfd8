"""Read frames from video files, network streams and cameras as RGB ``uint8`` arrays.

:class:`VideoSource` wraps PyAV (FFmpeg) and turns any input FFmpeg decodes into a
single-pass stream of :class:`Frame` objects, each holding a fresh C-contiguous
``(H, W, 3)`` ``uint8`` RGB array, the frame's index and its time in seconds::

    with VideoSource("clip.mp4") as video:
        print(video.fps, video.frame_count, video.width, video.height)
        for frame in video:
            ...
        if video.ended_early:
            print("warning:", video.ended_early)

Inputs:

* a path to a file in any container/codec FFmpeg reads (mp4, mkv, webm, avi,
  mov, animated GIF, ...);
* a network URL: ``rtsp://``, ``rtsps://``, ``rtmp://``, ``http(s)://``,
  ``udp://``, ``tcp://``, ``srt://``, ``rtp://``. RTSP is read over TCP. Every
  network read is bounded by ``timeout`` seconds, so a dead or silent server
  ends with an error (at open) or a clean end (mid-stream), never a hang;
* a camera (Linux, V4L2): an ``int`` device index ``N`` (``/dev/videoN``) or a
  ``/dev/videoN`` path.

Bad input is refused with :class:`VideoError` whose message starts with the
input's name: a missing, empty or unreadable file, a file that is not a video
(text, random bytes), a still image (see below), a file with no video stream
(audio only), a codec this FFmpeg build cannot decode, frames larger than
``max_pixels``, a file truncated before its first frame, a camera that does not
exist, a server that refuses or does not answer.

Decisions worth knowing:

* **Still images are refused.** FFmpeg opens a JPEG, PNG, WebP or BMP file as a
  one-frame "video" (``image2`` / ``*_pipe`` demuxers); :class:`VideoSource`
  refuses those with "is a still image, not a video" and points to
  :func:`facescope.load_image`. Animated GIFs are accepted as videos.
* **Damage mid-stream never raises out of the iteration.** A packet the decoder
  rejects is skipped (counted in :attr:`VideoSource.decode_errors`) and
  decoding continues from the next one, as the ``ffmpeg`` tool does; after
  ``100`` rejected packets in a row, a read error (truncated or corrupt data) or
  a network read timeout, the iteration ends cleanly, keeping every frame
  decoded so far, and :attr:`VideoSource.ended_early` says why (e.g.
  ``"truncated or corrupt data after frame 57: Invalid data found when
  processing input"``). Many demuxers simply stop at a truncation without an
  error; for files, a stream that ends well before the frame count or duration
  its header announces also sets ``ended_early`` (``"the stream ended after
  frame 38 of the 64 frames its header announces (truncated or corrupt
  file?)"``).
* **A truncated file with no decodable frame is an error** (:class:`VideoError`
  at open), whereas a **genuinely empty video** (a video stream with no frames
  and no duration) opens, yields nothing and sets ``ended_early`` to
  ``"no frames: the video stream is empty"``.
* The first frame is decoded when the source is opened, so a source that
  cannot produce any frame (truncated file, silent camera or stream) fails at
  open, and :attr:`width` / :attr:`height` are the size of the frames actually
  yielded.
* Rotation metadata (phone videos) is applied by default (``autorotate``), so
  frames are upright; :attr:`width` / :attr:`height` are the displayed size.
* :attr:`Frame.time` is ``(pts - stream start) * time_base`` when the frame has
  a timestamp, else ``index / fps``, else the wall-clock time since the first
  frame; it never decreases from one frame to the next.

A :class:`VideoSource` is single-pass (like a file object: iterating again
continues where the last loop stopped) and not thread-safe.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import sys
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any, Literal, TypeAlias

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.codec.context import ThreadType
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from facescope.errors import VideoError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "NETWORK_SCHEMES",
    "Frame",
    "VideoError",
    "VideoInput",
    "VideoSource",
    "open_video",
]

DEFAULT_MAX_PIXELS = 50_000_000
"""Default upper bound on a frame's width x height."""

NETWORK_SCHEMES = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "http", "https", "udp", "tcp", "srt", "rtp"}
)
"""URL schemes :class:`VideoSource` opens as network streams."""

VideoInput: TypeAlias = str | os.PathLike[str] | int

#: After this many packets in a row that the decoder rejects, the stream is given up.
MAX_CONSECUTIVE_DECODE_ERRORS = 100

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_CAMERA_PATH = re.compile(r"^/dev/video\d+$")
# Errors PyAV/FFmpeg raise for bad data. av.error.FFmpegError is the base of all
# FFmpeg errors in PyAV 18 (there is no av.AVError any more); its subclasses also
# derive from the matching builtin (OSError, ValueError, EOFError, ...).
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, TypeError, AssertionError)
_Kind: TypeAlias = Literal["file", "network", "camera"]


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded video frame.

    Attributes:
        index: 0-based position of the frame in the decoded sequence.
        time: seconds from the start of the stream (from the frame's timestamp
            when it has one, else ``index / fps``); never decreases.
        rgb: ``(H, W, 3)`` ``uint8`` C-contiguous, writable RGB pixels, owned by
            this frame.
    """

    index: int
    time: float
    rgb: npt.NDArray[np.uint8]

    @property
    def width(self) -> int:
        """Width of the frame in pixels."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height of the frame in pixels."""
        return int(self.rgb.shape[0])


class VideoSource:
    """Frames of a video file, network stream or camera (context manager, iterable).

    Args:
        source: a path (``str`` or :class:`os.PathLike`), a network URL (see
            :data:`NETWORK_SCHEMES`), a camera index (``int``) or a
            ``/dev/videoN`` path.
        timeout: seconds to wait for a network stream or camera to open and for
            each read after that; ignored for files.
        max_pixels: refuse frames with more than this many pixels (width x height).
        max_frames: stop after this many frames (``None``: all of them).
        autorotate: apply the stream's rotation metadata so frames are upright.
        options: extra FFmpeg demuxer/protocol options, e.g.
            ``{"video_size": "1280x720", "framerate": "30"}`` for a camera; they
            override facescope's defaults.

    Attributes:
        source_name: the input as it appears in messages (URL passwords masked).
        live: ``True`` for cameras and network streams.
        fps: frames per second announced by the stream, or ``None``.
        frame_count: number of frames announced by the container, or ``None``
            when it does not say (mkv, webm, live sources).
        width, height: size of the frames yielded (after rotation).
        duration: length in seconds announced by the container, or ``None``.
        codec: FFmpeg name of the video codec (``"h264"``, ``"vp9"``, ...).
        rotation: degrees counter-clockwise the frames are rotated by (0 when
            ``autorotate`` is off or the stream has no rotation metadata).
        ended_early: ``None`` while the stream is read normally and after it ends
            normally; otherwise why iteration stopped before the end of the stream.
        decode_errors: number of packets the decoder rejected (skipped).
        frames_read: number of frames yielded so far.

    Raises:
        VideoError: the source cannot be opened or has no decodable video stream;
            the message starts with :attr:`source_name`.
        ValueError: an argument is out of range.
    """

    fps: float | None
    frame_count: int | None
    width: int
    height: int
    duration: float | None
    codec: str
    live: bool
    source_name: str
    rotation: int
    ended_early: str | None
    decode_errors: int
    frames_read: int

    def __init__(
        self,
        source: VideoInput,
        *,
        timeout: float = 10.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_frames: int | None = None,
        autorotate: bool = True,
        options: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        if max_frames is not None and (
            isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 0
        ):
            raise ValueError(
                f"max_frames must be a non-negative integer or None, got {max_frames!r}"
            )

        self._timeout = float(timeout)
        self._max_pixels = max_pixels
        self._max_frames = max_frames
        self._autorotate = bool(autorotate)
        self.ended_early = None
        self.decode_errors = 0
        self.frames_read = 0
        self.rotation = 0
        self._closed = False
        self._container: InputContainer | None = None

        kind, target, fmt, name = _classify(source)
        self._kind: _Kind = kind
        self.source_name = name
        self.live = kind != "file"
        self._container = self._open(target, fmt, options)
        try:
            self._stream = self._select_stream(self._container)
            self._describe(self._container, self._stream)
            self._packets = self._decoded_frames()
            self._pending = self._first_frame()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ protocol

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"VideoSource({self.source_name!r}, {state}, {getattr(self, 'codec', '?')} "
            f"{getattr(self, 'width', 0)}x{getattr(self, 'height', 0)} "
            f"@ {getattr(self, 'fps', None)} fps)"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Release the decoder and the file, connection or device (idempotent)."""
        self._closed = True
        self._pending = None
        packets = getattr(self, "_packets", None)
        if packets is not None:
            with contextlib.suppress(*_AV_ERRORS):
                packets.close()
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(*_AV_ERRORS):
                container.close()

    def read(self) -> Frame | None:
        """Return the next frame, or ``None`` at the end of the stream.

        Raises:
            VideoError: the source is closed.
        """
        if self._closed:
            raise VideoError(f"{self.source_name}: the video source is closed")
        if self._max_frames is not None and self.frames_read >= self._max_frames:
            return None
        raw = self._pending
        self._pending = None
        if raw is None:
            raw = next(self._packets, None)
        if raw is None:
            return None
        rgb = self._to_rgb(raw)
        if rgb is None:
            self._end()
            return None
        frame = Frame(self.frames_read, self._time_of(raw), rgb)
        self.frames_read += 1
        return frame

    # ------------------------------------------------------------------ opening

    def _open(
        self, target: str, fmt: str | None, options: Mapping[str, str] | None
    ) -> InputContainer:
        """Open the container, turning every FFmpeg failure into a VideoError."""
        name = self.source_name
        container_options: dict[str, str] = {}
        timeout: float | None = None
        if self._kind == "file":
            # No network or other protocols from a local file (e.g. an HLS playlist).
            container_options["protocol_whitelist"] = "file"
        else:
            timeout = self._timeout
            if target.lower().startswith(("rtsp://", "rtsps://")):
                container_options["rtsp_transport"] = "tcp"
        if options:
            container_options.update({str(k): str(v) for k, v in options.items()})
        started = time.monotonic()
        try:
            container = av.open(
                target,
                mode="r",
                format=fmt,
                container_options=container_options,
                timeout=None if timeout is None else (timeout, timeout),
            )
        except _AV_ERRORS as exc:
            timed_out = timeout is not None and time.monotonic() - started >= 0.9 * timeout
            raise VideoError(f"{name}: {self._open_failure(exc, timed_out)}") from (
                exc if self._kind == "file" else None
            )
        return container

    def _open_failure(self, exc: BaseException, timed_out: bool) -> str:
        """Describe why av.open failed, in words that fit the kind of source."""
        reason = _reason(exc)
        kind = self._kind
        if timed_out:
            # Some demuxers (RTSP) report an interrupted read as invalid data.
            return f"no answer within {self._timeout:g} s (timeout; FFmpeg: {reason})"
        if isinstance(exc, av.error.FileNotFoundError | FileNotFoundError):
            return "no such camera device" if kind == "camera" else "no such file"
        if isinstance(exc, av.error.PermissionError | PermissionError):
            extra = " (is the user in the 'video' group?)" if kind == "camera" else ""
            return f"permission denied{extra}"
        if isinstance(exc, av.error.IsADirectoryError | IsADirectoryError):
            return "is a directory, not a video file"
        if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
            return f"no answer within {self._timeout:g} s (timeout)"
        if isinstance(exc, av.error.ConnectionRefusedError | ConnectionRefusedError):
            return "connection refused (is the server running and the port right?)"
        if isinstance(exc, av.error.HTTPError):
            return f"the server answered with an error ({reason})"
        if isinstance(exc, av.error.ProtocolNotFoundError):
            return f"this FFmpeg build does not support the protocol ({reason})"
        if isinstance(exc, av.error.DemuxerNotFoundError):
            return f"this FFmpeg build has no demuxer for it ({reason})"
        if kind == "camera":
            return f"cannot open it as a V4L2 camera ({reason})"
        if isinstance(exc, av.error.EOFError | EOFError):
            return "truncated or empty video: the file ends before the stream header"
        if isinstance(exc, av.error.InvalidDataError):
            if kind == "network":
                return f"cannot read a video stream from it ({reason})"
            return f"not a video, or a corrupt or truncated one (FFmpeg: {reason})"
        return f"cannot open ({reason})"

    def _select_stream(self, container: InputContainer) -> VideoStream:
        """Pick the video stream (ignoring cover art) or explain why there is none."""
        name = self.source_name
        candidates = [
            s for s in container.streams.video if not (s.disposition & Disposition.attached_pic)
        ]
        if not candidates:
            kinds = sorted({s.type for s in container.streams})
            has = f"it has only {' and '.join(kinds)} streams" if kinds else "it has no streams"
            raise VideoError(f"{name}: no video stream ({has})")
        try:
            best = container.streams.best("video")
        except _AV_ERRORS:
            best = None
        stream = best if isinstance(best, VideoStream) and best in candidates else candidates[0]
        format_name = container.format.name or ""
        if self._kind == "file" and (format_name == "image2" or format_name.endswith("_pipe")):
            codec = stream.codec_context.name if stream.codec_context is not None else "?"
            raise VideoError(
                f"{name}: is a still image ({codec}), not a video; "
                "load it with facescope.load_image"
            )
        if stream.codec_context is None:
            tag = _codec_tag(stream)
            raise VideoError(
                f"{name}: unsupported video codec{tag}: this FFmpeg build has no decoder for it"
            )
        return stream

    def _describe(self, container: InputContainer, stream: VideoStream) -> None:
        """Fill in the public attributes and prepare the decoder."""
        ctx = stream.codec_context
        self.codec = ctx.name
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        self._check_size(width, height, "the video")
        self.width, self.height = width, height
        # Frame threading adds a few frames of latency; live sources use slice threads only.
        stream.thread_type = ThreadType.SLICE if self.live else ThreadType.AUTO
        self.fps = _rate(stream)
        self.frame_count = int(stream.frames) if not self.live and stream.frames > 0 else None
        self.duration = None if self.live else _duration(container, stream)
        self._is_mov = "mov" in (container.format.name or "").split(",")
        # The container's duration may be another (audio) stream's: only trust it alone.
        self._expected_duration = (
            self.duration if stream.duration or len(container.streams) == 1 else None
        )
        self._time_base = stream.time_base
        self._origin: int | None = stream.start_time if not self.live else None
        self._last_time = 0.0
        self._wall_start: float | None = None

    def _first_frame(self) -> VideoFrame | None:
        """Decode the first frame now, so that unreadable sources fail at open."""
        first = next(self._packets, None)
        name = self.source_name
        if first is None:
            reason = self.ended_early
            if reason is not None and reason.startswith("no data for"):
                raise VideoError(f"{name}: no frame within {self._timeout:g} s (timeout)")
            if reason is not None:
                raise VideoError(f"{name}: no frame could be decoded ({reason})")
            announced = _announced(self.frame_count, self.duration)
            if announced:
                raise VideoError(
                    f"{name}: truncated or corrupt video: no frame could be decoded although "
                    f"the header announces {announced}"
                )
            if self.live:
                raise VideoError(f"{name}: the stream ended before its first frame")
            self.ended_early = "no frames: the video stream is empty"
            return None
        self._check_size(first.width, first.height, "the first frame")
        if self._autorotate:
            self.rotation = _quarter_turns(first.rotation) * 90
        if self.rotation in (90, 270):
            self.width, self.height = first.height, first.width
        else:
            self.width, self.height = first.width, first.height
        return first

    def _check_size(self, width: int, height: int, what: str) -> None:
        if width * height > self._max_pixels:
            raise VideoError(
                f"{self.source_name}: {what} is {width}x{height} = {width * height:,} pixels, "
                f"more than the limit of {self._max_pixels:,}; pass max_pixels= to raise it"
            )

    # ------------------------------------------------------------------ decoding

    def _decoded_frames(self) -> Generator[VideoFrame, None, None]:
        """Demux and decode, ending cleanly (with ``ended_early`` set) on bad data."""
        container, stream = self._container, self._stream
        assert container is not None
        consecutive = 0
        decoded = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = stream.decode(packet)
                except _AV_ERRORS as exc:
                    if isinstance(exc, av.error.EOFError):
                        break
                    self.decode_errors += 1
                    consecutive += 1
                    if consecutive >= MAX_CONSECUTIVE_DECODE_ERRORS:
                        self._stop(
                            f"corrupt data after frame {decoded}: {consecutive} packets in a row "
                            f"could not be decoded ({_reason(exc)})"
                        )
                        return
                    continue
                consecutive = 0
                for frame in frames:
                    decoded += 1
                    yield frame
        except _AV_ERRORS as exc:
            failure = exc
        else:
            self._check_complete(decoded)
            return
        # Frames the decoder still holds from the packets read so far.
        with contextlib.suppress(*_AV_ERRORS):
            for frame in stream.decode(None):
                decoded += 1
                yield frame
        if self.live and isinstance(
            failure, av.error.ExitError | av.error.TimeoutError | TimeoutError
        ):
            self._stop(f"no data for {self._timeout:g} s (read timeout) after frame {decoded}")
        elif self.live:
            self._stop(f"the stream failed after frame {decoded}: {_reason(failure)}")
        else:
            self._stop(f"truncated or corrupt data after frame {decoded}: {_reason(failure)}")

    def _stop(self, reason: str) -> None:
        if self.ended_early is None:
            self.ended_early = reason

    def _check_complete(self, decoded: int) -> None:
        """After a clean end of a file: flag a stream that stopped short of its header.

        For mp4/mov, whose edit lists can hide frames of a complete file, both the
        frame count and the duration must fall short when both are known.
        """
        if self.live or self.ended_early is not None or decoded == 0:
            return
        count, duration, fps = self.frame_count, self._expected_duration, self.fps
        # Packets the decoder rejected were not lost to a truncation.
        short_count = (
            count is not None and decoded + self.decode_errors + max(1, count // 100) <= count
        )
        end = self._last_time + (1.0 / fps if fps else 0.0)
        short_time = (
            duration is not None and fps is not None and end < duration - max(0.5, 3.0 / fps)
        )
        needs_both = self._is_mov and duration is not None
        if count is not None and short_count and (short_time or not needs_both):
            self._stop(
                f"the stream ended after frame {decoded} of the {count} frames its header "
                "announces (truncated or corrupt file?)"
            )
        elif count is None and short_time and duration is not None:
            self._stop(
                f"the stream ended at {end:.2f} s (frame {decoded}) of the "
                f"{duration:.2f} s its header announces (truncated or corrupt file?)"
            )

    def _end(self) -> None:
        """Stop decoding (after a frame that could not be converted)."""
        with contextlib.suppress(*_AV_ERRORS):
            self._packets.close()

    def _to_rgb(self, frame: VideoFrame) -> npt.NDArray[np.uint8] | None:
        """Convert to a fresh upright RGB array; ``None`` (and ``ended_early``) on failure."""
        width, height = frame.width, frame.height
        if width * height > self._max_pixels:
            self._stop(
                f"frame {self.frames_read} is {width}x{height} = {width * height:,} pixels, "
                f"more than the limit of {self._max_pixels:,}"
            )
            return None
        try:
            rgb: npt.NDArray[np.uint8] = np.asarray(frame.to_ndarray(format="rgb24"), np.uint8)
        except _AV_ERRORS as exc:
            self._stop(f"frame {self.frames_read} could not be converted to RGB: {_reason(exc)}")
            return None
        turns = _quarter_turns(frame.rotation) if self._autorotate else 0
        if turns:
            rgb = np.rot90(rgb, turns)
        if not rgb.flags.c_contiguous or not rgb.flags.writeable:
            rgb = np.array(rgb, dtype=np.uint8, order="C", copy=True)
        return rgb

    def _time_of(self, frame: VideoFrame) -> float:
        """Seconds from the stream start, never less than the previous frame's time."""
        pts = frame.pts
        time_base = frame.time_base or self._time_base
        value: float | None = None
        if pts is not None and time_base:
            if self._origin is None:
                self._origin = pts
            value = float((pts - self._origin) * time_base)
        elif self.fps:
            value = self.frames_read / self.fps
        else:
            now = time.monotonic()
            if self._wall_start is None:
                self._wall_start = now
            value = now - self._wall_start
        if not math.isfinite(value) or value < self._last_time:
            value = self._last_time
        self._last_time = value
        return value


def open_video(
    source: VideoInput,
    *,
    timeout: float = 10.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_frames: int | None = None,
    autorotate: bool = True,
    options: Mapping[str, str] | None = None,
) -> VideoSource:
    """Open a video file, network stream or camera; see :class:`VideoSource`."""
    return VideoSource(
        source,
        timeout=timeout,
        max_pixels=max_pixels,
        max_frames=max_frames,
        autorotate=autorotate,
        options=options,
    )


# --------------------------------------------------------------------------- helpers


def _classify(source: object) -> tuple[_Kind, str, str | None, str]:
    """Return ``(kind, target for av.open, format, display name)`` for a source."""
    if isinstance(source, bool) or not isinstance(source, int | str | os.PathLike):
        raise VideoError("expected a video path, URL or camera index, got " + type(source).__name__)
    if isinstance(source, int):
        if source < 0:
            raise VideoError(f"camera {source}: a camera index must be >= 0")
        return _camera(f"/dev/video{source}", f"camera {source} (/dev/video{source})")
    raw = os.fspath(source)
    path = os.fsdecode(raw)
    if not path:
        raise VideoError("'': empty path")
    match = _URL.match(path)
    if match:
        scheme = match.group(1).lower()
        name = _mask_password(path)
        if scheme not in NETWORK_SCHEMES:
            raise VideoError(
                f"{name}: unsupported URL scheme {scheme!r} "
                f"(supported: {', '.join(sorted(NETWORK_SCHEMES))})"
            )
        return "network", path, None, name
    if "\x00" in path:
        raise VideoError(f"{path!r}: invalid path (NUL character)")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if _CAMERA_PATH.match(path):
            raise VideoError(f"{path}: no such camera device") from None
        raise VideoError(f"{path}: no such file") from None
    except OSError as exc:
        raise VideoError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if stat.S_ISCHR(st.st_mode):
        return _camera(path, path)
    if stat.S_ISDIR(st.st_mode):
        raise VideoError(f"{path}: is a directory, not a video file")
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(f"{path}: not a regular file (pipes and sockets are not read)")
    if st.st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: cannot read file (permission denied)")
    # "file:" stops FFmpeg from reading a prefix such as "concat:" as a protocol.
    return "file", "file:" + path, None, path


def _camera(device: str, name: str) -> tuple[_Kind, str, str | None, str]:
    if not sys.platform.startswith("linux"):
        raise VideoError(f"{name}: cameras are supported on Linux (V4L2) only")
    if not os.path.exists(device):
        raise VideoError(f"{name}: no such camera device")
    return "camera", device, "v4l2", name


def _mask_password(url: str) -> str:
    """Hide the password of ``scheme://user:password@host`` URLs in messages."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


def _reason(exc: BaseException) -> str:
    """FFmpeg's description of an error, without PyAV's errno and file name."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return str(exc.strerror)
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def _codec_tag(stream: VideoStream) -> str:
    try:
        tag: Any = stream.codec_tag
    except (AttributeError, *_AV_ERRORS):
        return ""
    return f" ({tag!r})" if tag else ""


def _rate(stream: VideoStream) -> float | None:
    """The stream's frame rate, if one of FFmpeg's estimates is plausible."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is None:
            continue
        value = float(rate)
        if math.isfinite(value) and 0 < value <= 1000:
            return value
    return None


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    """Length in seconds from the stream or, failing that, the container."""
    seconds: float | None = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = float(Fraction(container.duration, av.time_base))
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


def _announced(frame_count: int | None, duration: float | None) -> str:
    if frame_count:
        return f"{frame_count} frames"
    if duration and duration > 0.1:
        return f"{duration:.2f} s"
    return ""


def _quarter_turns(rotation: float | None) -> int:
    """Counter-clockwise quarter turns (0-3) closest to ``rotation`` degrees."""
    if not rotation or not math.isfinite(rotation):
        return 0
    return round(rotation / 90) % 4


def parse_source(text: str) -> str | int:
    """A camera index for all-digit text (``"0"``), else the path or URL as given."""
    return int(text) if text.isdigit() else text
