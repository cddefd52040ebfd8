"""Write RGB ``uint8`` frames to a video file with PyAV (FFmpeg).

::

    with VideoWriter("out.mp4", fps=25, width=640, height=480) as writer:
        for rgb in frames:
            writer.write(rgb)

The container comes from the file extension and, unless ``codec=`` is given, so
does the codec:

==========================  =============================================
extension                   codec
==========================  =============================================
``.mp4 .m4v .mov .mkv``     ``libx264`` (H.264) if available, else ``mpeg4``
``.webm``                   ``libvpx-vp9`` (VP9), else ``libvpx`` (VP8)
``.avi``                    ``mpeg4``
==========================  =============================================

Frames are encoded as ``yuv420p``, which needs an even width and height: an odd
size is padded by one pixel (the last column/row repeated), so nothing of the
picture is lost; :attr:`VideoWriter.width` / :attr:`VideoWriter.height` are the
encoded size. An existing file at ``path`` is overwritten. :meth:`close` (or
leaving the ``with`` block, also on an exception) flushes the encoder so the
file is complete and playable.
"""

from __future__ import annotations

import contextlib
import math
import os
from fractions import Fraction
from types import TracebackType

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.container import OutputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from facescope.io.video import Frame, VideoError

__all__ = ["CONTAINER_EXTENSIONS", "VideoWriter", "default_codec"]

#: File extensions VideoWriter writes, and the codecs it tries for each, best first.
CONTAINER_EXTENSIONS: dict[str, tuple[str, ...]] = {
    ".mp4": ("libx264", "mpeg4"),
    ".m4v": ("libx264", "mpeg4"),
    ".mov": ("libx264", "mpeg4"),
    ".mkv": ("libx264", "mpeg4"),
    ".webm": ("libvpx-vp9", "libvpx"),
    ".avi": ("mpeg4",),
}

_ERRORS = (av.error.FFmpegError, OSError, ValueError, TypeError, EOFError)

# Encoder settings: good quality for annotated output at a reasonable speed.
_CODEC_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"crf": "20", "preset": "veryfast"},
    "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
    "libvpx": {"crf": "10", "b": "4M", "deadline": "realtime", "cpu-used": "8"},
}


def default_codec(path: str | os.PathLike[str]) -> str:
    """The encoder :class:`VideoWriter` uses for ``path``'s extension.

    Raises:
        VideoError: the extension is not one of :data:`CONTAINER_EXTENSIONS`, or
            this FFmpeg build has none of its encoders.
    """
    name = os.fsdecode(os.fspath(path))
    ext = os.path.splitext(name)[1].lower()
    candidates = CONTAINER_EXTENSIONS.get(ext)
    if candidates is None:
        raise VideoError(
            f"{name}: unknown video extension {ext or '(none)'!r}; "
            f"use one of {', '.join(CONTAINER_EXTENSIONS)}"
        )
    for codec in candidates:
        if _has_encoder(codec):
            return codec
    raise VideoError(
        f"{name}: this FFmpeg build has no encoder for {ext} ({', '.join(candidates)})"
    )


def _has_encoder(codec: str) -> bool:
    if codec not in av.codecs_available:
        return False
    try:
        return av.Codec(codec, "w").type == "video"
    except _ERRORS:
        return False


class VideoWriter:
    """Encode RGB frames into a video file (context manager).

    Args:
        path: output file; its extension picks the container (see the module doc).
        fps: frames per second (a positive number; 29.97 is kept as 2997/100).
        width, height: size of the frames that will be written.
        codec: FFmpeg encoder name (``"libx264"``, ``"mpeg4"``, ``"libvpx-vp9"``,
            ...) instead of the extension's default.

    Attributes:
        path: the output path.
        codec: the encoder used.
        width, height: the encoded size (the input size rounded up to even).
        frames_written: number of frames written so far.

    Raises:
        VideoError: the extension is unknown, the folder does not exist or is not
            writable, or the codec is unavailable or does not fit the container.
        ValueError: ``fps``, ``width`` or ``height`` is not positive.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        width: int,
        height: int,
        *,
        codec: str | None = None,
    ) -> None:
        if isinstance(fps, bool) or not isinstance(fps, int | float | Fraction):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        if not (math.isfinite(float(fps)) and 0 < float(fps) <= 1000):
            raise ValueError(f"fps must be a positive number up to 1000, got {fps!r}")
        for label, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        self.path = os.fsdecode(os.fspath(path))
        self.frames_written = 0
        self._closed = False
        self._input_size = (int(width), int(height))
        self.width = int(width) + int(width) % 2
        self.height = int(height) + int(height) % 2
        name = self.path
        self.codec = default_codec(name) if codec is None else codec
        if codec is not None and not _has_encoder(codec):
            raise VideoError(f"{name}: this FFmpeg build has no video encoder named {codec!r}")
        folder = os.path.dirname(os.path.abspath(name))
        if not os.path.isdir(folder):
            raise VideoError(f"{name}: cannot write: the folder {folder} does not exist")
        if os.path.isdir(name):
            raise VideoError(f"{name}: is a directory")
        self._rate = Fraction(fps).limit_denominator(1001)
        try:
            self._container: OutputContainer = av.open(
                name, mode="w", options=_container_options(name)
            )
        except _ERRORS as exc:
            raise VideoError(f"{name}: cannot write ({_reason(exc)})") from exc
        try:
            self._stream = self._add_stream()
        except BaseException:
            self._abort()
            raise

    def _add_stream(self) -> VideoStream:
        name = self.path
        try:
            stream = self._container.add_stream(
                self.codec, rate=self._rate, options=dict(_CODEC_OPTIONS.get(self.codec, {}))
            )
        except _ERRORS as exc:
            raise VideoError(
                f"{name}: cannot encode {self.codec} in this container ({_reason(exc)})"
            ) from exc
        if not isinstance(stream, VideoStream):
            raise VideoError(f"{name}: {self.codec} is not a video encoder")
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = "yuv420p"
        if self.codec == "mpeg4":
            # mpeg4's default 200 kb/s is far too low; aim at ~0.2 bits per pixel.
            pixels_per_second = self.width * self.height * float(self._rate)
            stream.bit_rate = max(1_000_000, int(pixels_per_second * 0.2))
        return stream

    # ------------------------------------------------------------------ protocol

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"VideoWriter({self.path!r}, {state}, {self.codec} {self.width}x{self.height} "
            f"@ {float(self._rate):g} fps, {self.frames_written} frames)"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def write(self, rgb: npt.NDArray[np.uint8] | Frame) -> None:
        """Encode one ``(height, width, 3)`` ``uint8`` RGB frame.

        Raises:
            VideoError: the writer is closed, the array has the wrong shape or
                dtype, or the encoder fails (e.g. the disk is full).
        """
        name = self.path
        if self._closed:
            raise VideoError(f"{name}: the video writer is closed")
        pixels = rgb.rgb if isinstance(rgb, Frame) else rgb
        width, height = self._input_size
        if not isinstance(pixels, np.ndarray):
            raise VideoError(f"{name}: expected an RGB numpy array, got {type(pixels).__name__}")
        if pixels.dtype != np.uint8 or pixels.shape != (height, width, 3):
            raise VideoError(
                f"{name}: expected a ({height}, {width}, 3) uint8 RGB frame, "
                f"got {pixels.shape} {pixels.dtype}"
            )
        pad_rows, pad_cols = self.height - height, self.width - width
        if pad_rows or pad_cols:
            pixels = np.pad(pixels, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")
        frame = VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self._rate
        try:
            self._container.mux(self._stream.encode(frame))
        except _ERRORS as exc:
            raise VideoError(
                f"{name}: cannot encode frame {self.frames_written} ({_reason(exc)})"
            ) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file (idempotent).

        Raises:
            VideoError: the encoder or the file could not be finished.
        """
        if self._closed:
            return
        self._closed = True
        name = self.path
        try:
            if self.frames_written == 0:
                self._container.start_encoding()
            self._container.mux(self._stream.encode(None))
        except _ERRORS as exc:
            self._abort()
            raise VideoError(f"{name}: cannot finish the video ({_reason(exc)})") from exc
        try:
            self._container.close()
        except _ERRORS as exc:
            raise VideoError(f"{name}: cannot finish the video ({_reason(exc)})") from exc

    def _abort(self) -> None:
        self._closed = True
        with contextlib.suppress(*_ERRORS):
            self._container.close()


def _container_options(path: str) -> dict[str, str]:
    if os.path.splitext(path)[1].lower() in {".mp4", ".m4v", ".mov"}:
        return {"movflags": "+faststart"}
    return {}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError | OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__
