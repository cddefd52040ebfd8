"""VideoSource / VideoWriter: round trips, bad input, damaged files, dead streams, real clips."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import DATA, TESTDATA

from facescope.video import Frame, VideoError, VideoSource, VideoWriter, open_video
from facescope.video.writer import default_codec

N_FRAMES, WIDTH, HEIGHT, FPS = 64, 160, 120, 25
VIDEOS = TESTDATA / "video"


def square(i: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Frame ``i`` of the synthetic clip: a yellow square moving right on a smooth gradient."""
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(20, 120, width, dtype=np.uint8)[None, :]
    rgb[..., 1] = np.linspace(40, 140, height, dtype=np.uint8)[:, None]
    rgb[..., 2] = 90
    x = (i * 2) % (width - 24)
    rgb[40:64, x : x + 24] = (255, 230, 0)
    return rgb


def noisy(i: int) -> np.ndarray:
    """Like :func:`square` plus noise, so every frame costs bytes (for truncation tests)."""
    noise = np.random.default_rng(i).integers(0, 48, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return square(i) // 2 + noise


def write_with_writer(path: Path, frame: Callable[[int], np.ndarray] = square) -> Path:
    with VideoWriter(path, FPS, WIDTH, HEIGHT) as writer:
        for i in range(N_FRAMES):
            writer.write(frame(i))
    return path


def write_with_pyav(
    path: Path,
    codec: str,
    *,
    frames: int = N_FRAMES,
    options: dict[str, str] | None = None,
    rotation: float | None = None,
) -> Path:
    """Encode the noisy clip directly with PyAV (container options, rotation metadata)."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=FPS)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        out.start_encoding()
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(noisy(i), format="rgb24")))
        out.mux(stream.encode(None))
    return path


def read_all(source: VideoSource | Path | str) -> tuple[VideoSource, list[Frame]]:
    video = source if isinstance(source, VideoSource) else VideoSource(source)
    with video:
        return video, list(video)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small clips written once per module."""
    folder = tmp_path_factory.mktemp("clips")
    made = {ext: write_with_writer(folder / f"square.{ext}") for ext in ("mp4", "webm", "avi")}
    made["mkv"] = write_with_writer(folder / "square.mkv")
    made["noisy.mkv"] = write_with_writer(folder / "noisy.mkv", noisy)
    made["noisy.avi"] = write_with_writer(folder / "noisy.avi", noisy)
    made["noisy.mp4"] = write_with_pyav(folder / "noisy.mp4", "libx264")
    made["frag.mp4"] = write_with_pyav(
        folder / "frag.mp4", "libx264", options={"movflags": "frag_keyframe+empty_moov"}
    )
    return made


def damaged(tmp_path: Path, source: Path, keep: float, name: str) -> Path:
    data = source.read_bytes()
    out = tmp_path / name
    out.write_bytes(data[: int(len(data) * keep)])
    return out


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", ["mp4", "webm", "avi", "mkv"])
def test_round_trip(clips: dict[str, Path], ext: str) -> None:
    video, frames = read_all(clips[ext])
    assert len(frames) == N_FRAMES
    assert video.frame_count in (N_FRAMES, None)  # mkv/webm headers carry no count
    if ext in ("mp4", "avi"):
        assert video.frame_count == N_FRAMES
    assert (video.width, video.height) == (WIDTH, HEIGHT)
    assert video.fps == pytest.approx(FPS)
    assert video.duration == pytest.approx(N_FRAMES / FPS, abs=0.05)
    assert not video.live
    assert video.ended_early is None
    assert video.decode_errors == 0
    assert video.codec == {"mp4": "h264", "mkv": "h264", "webm": "vp9", "avi": "mpeg4"}[ext]
    assert [f.index for f in frames] == list(range(N_FRAMES))
    times = [f.time for f in frames]
    assert times == sorted(times)
    assert times == pytest.approx([i / FPS for i in range(N_FRAMES)], abs=1e-3)
    for i in (0, 31, 63):
        rgb = frames[i].rgb
        assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
        assert rgb.flags.c_contiguous and rgb.flags.writeable
        assert np.abs(rgb.astype(int) - square(i)).mean() < 6, f"frame {i} differs"


def test_writer_picks_codecs_by_extension() -> None:
    assert default_codec("a.mp4") in ("libx264", "mpeg4")
    assert default_codec("a.webm") in ("libvpx-vp9", "libvpx")
    assert default_codec("a.AVI") == "mpeg4"
    with pytest.raises(VideoError, match=r"a\.gifv: unknown video extension"):
        default_codec("a.gifv")


def test_odd_size_is_padded_and_fractional_fps(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 29.97, 161, 121) as writer:
        assert (writer.width, writer.height) == (162, 122)
        for i in range(5):
            writer.write(square(i, 161, 121))
    video, frames = read_all(path)
    assert len(frames) == 5
    assert (video.width, video.height) == (162, 122)
    assert video.fps == pytest.approx(29.97, abs=0.01)
    # the padding repeats the last column/row
    assert np.abs(frames[0].rgb[:, 161].astype(int) - frames[0].rgb[:, 160]).mean() < 4


def test_writer_refuses_bad_use(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="unknown video extension"):
        VideoWriter(tmp_path / "x.txt", FPS, 8, 8)
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "x.mp4", FPS, 8, 8)
    with pytest.raises(VideoError, match="no video encoder named 'nope'"):
        VideoWriter(tmp_path / "x.mp4", FPS, 8, 8, codec="nope")
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "x.mp4", 0, 8, 8)
    with pytest.raises(ValueError, match="width"):
        VideoWriter(tmp_path / "x.mp4", FPS, 0, 8)
    writer = VideoWriter(tmp_path / "x.mp4", FPS, 8, 8)
    with pytest.raises(
        VideoError, match=r"expected a \(8, 8, 3\) uint8 RGB frame, got \(8, 9, 3\)"
    ):
        writer.write(np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(VideoError, match="uint8"):
        writer.write(np.zeros((8, 8, 3), np.float32))
    writer.write(Frame(0, 0.0, np.zeros((8, 8, 3), np.uint8)))
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(VideoError, match="closed"):
        writer.write(np.zeros((8, 8, 3), np.uint8))


def test_open_video_max_frames_and_close(clips: dict[str, Path]) -> None:
    with open_video(clips["mp4"], max_frames=10) as video:
        frames = list(video)
        assert len(frames) == 10
        assert video.ended_early is None
        assert list(video) == []  # single pass
    assert video.closed
    with pytest.raises(VideoError, match="closed"):
        next(video)
    assert "square.mp4" in repr(video)


def test_read_continues_where_iteration_stopped(clips: dict[str, Path]) -> None:
    with VideoSource(clips["avi"]) as video:
        first = video.read()
        assert first is not None and first.index == 0
        rest = list(video)
    assert [f.index for f in rest] == list(range(1, N_FRAMES))


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    path = write_with_pyav(tmp_path / "rotated.mp4", "libx264", frames=3, rotation=90)
    video, frames = read_all(path)
    assert video.rotation == 90
    assert (video.width, video.height) == (HEIGHT, WIDTH)
    assert frames[0].rgb.shape == (WIDTH, HEIGHT, 3)
    assert np.abs(frames[0].rgb.astype(int) - np.rot90(noisy(0))).mean() < 12
    raw, raw_frames = read_all(VideoSource(path, autorotate=False))
    assert raw.rotation == 0 and raw_frames[0].rgb.shape == (HEIGHT, WIDTH, 3)


def test_max_pixels_refused_at_open(clips: dict[str, Path]) -> None:
    with pytest.raises(VideoError, match=r"160x120 = 19,200 pixels, more than the limit of 1,000"):
        VideoSource(clips["mp4"], max_pixels=1000)


# --------------------------------------------------------------------------- bad input


def test_missing_empty_directory_and_text(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"nope\.mp4: no such file"):
        VideoSource(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        VideoSource(empty)
    with pytest.raises(VideoError, match="is a directory"):
        VideoSource(tmp_path)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match=r"notes\.mp4: not a video"):
        VideoSource(text)
    noise = tmp_path / "noise.avi"
    noise.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(VideoError, match=r"noise\.avi: not a video"):
        VideoSource(noise)
    with pytest.raises(VideoError, match="empty path"):
        VideoSource("")
    with pytest.raises(VideoError, match="expected a video path"):
        VideoSource(b"x.mp4")  # type: ignore[arg-type]


def test_still_images_are_refused(tmp_path: Path) -> None:
    jpeg = DATA / "obama_1.jpg"
    with pytest.raises(VideoError, match=r"obama_1\.jpg: is a still image \(mjpeg\), not a video"):
        VideoSource(jpeg)
    disguised = tmp_path / "photo.mp4"
    disguised.write_bytes(jpeg.read_bytes())
    with pytest.raises(VideoError, match="still image"):
        VideoSource(disguised)


@pytest.mark.parametrize(
    ("name", "codec", "fmt"), [("a.wav", "pcm_s16le", "s16"), ("a.m4a", "aac", "fltp")]
)
def test_audio_only_has_no_video_stream(tmp_path: Path, name: str, codec: str, fmt: str) -> None:
    path = tmp_path / name
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=8000)
        assert isinstance(stream, av.audio.stream.AudioStream)
        dtype = np.int16 if fmt == "s16" else np.float32
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 8000), dtype), format=fmt, layout="mono")
        samples.sample_rate = 8000
        out.mux(stream.encode(samples))
        out.mux(stream.encode(None))
    with pytest.raises(VideoError, match=r"no video stream \(it has only audio streams\)"):
        VideoSource(path)


def test_unsupported_codec(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["avi"].read_bytes()
    assert b"FMP4" in data
    path = tmp_path / "unknown.avi"
    path.write_bytes(data.replace(b"FMP4", b"QQQQ"))
    with pytest.raises(VideoError, match="unsupported video codec"):
        VideoSource(path)


def test_bad_arguments() -> None:
    with pytest.raises(VideoError, match="unsupported URL scheme 'ftp'"):
        VideoSource("ftp://example.com/a.mp4")
    with pytest.raises(VideoError, match=">= 0"):
        VideoSource(-1)
    with pytest.raises(ValueError, match="timeout"):
        VideoSource(0, timeout=0)
    with pytest.raises(ValueError, match="max_frames"):
        VideoSource(0, max_frames=-1)


# --------------------------------------------------------------------------- damaged files


def test_truncated_mp4_with_index_at_the_end_does_not_open(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    cut = damaged(tmp_path, clips["noisy.mp4"], 0.6, "cut.mp4")
    with pytest.raises(VideoError, match=r"cut\.mp4: not a video, or a corrupt or truncated one"):
        VideoSource(cut)


@pytest.mark.parametrize("key", ["noisy.mkv", "frag.mp4", "noisy.avi"])
def test_truncated_mid_stream_keeps_the_first_frames(
    clips: dict[str, Path], tmp_path: Path, key: str
) -> None:
    cut = damaged(tmp_path, clips[key], 0.6, "cut-" + key)
    video, frames = read_all(cut)
    assert 0 < len(frames) < N_FRAMES
    assert video.ended_early is not None and "truncated or corrupt" in video.ended_early
    assert [f.index for f in frames] == list(range(len(frames)))
    assert len(frames) >= N_FRAMES // 3
    assert np.abs(frames[5].rgb.astype(int) - noisy(5)).mean() < 16


def test_truncated_before_the_first_frame_is_an_error(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    data = clips["noisy.mkv"].read_bytes()
    head = tmp_path / "head.mkv"
    head.write_bytes(data[:600])
    with pytest.raises(VideoError, match=r"head\.mkv: truncated or corrupt video"):
        VideoSource(head)


def with_garbage(tmp_path: Path, source: Path, mode: str) -> Path:
    """Insert 4000 random bytes in the middle of ``source``, or overwrite 4000 bytes there."""
    data = source.read_bytes()
    middle = len(data) // 2
    garbage = np.random.default_rng(1).bytes(4000)
    tail = data[middle:] if mode == "insert" else data[middle + len(garbage) :]
    path = tmp_path / f"{mode}-{source.name}"
    path.write_bytes(data[:middle] + garbage + tail)
    return path


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        *[
            (key, mode)
            for key in ("noisy.mkv", "noisy.avi", "frag.mp4")
            for mode in ("insert", "overwrite")
        ],
        ("noisy.mp4", "overwrite"),
    ],
)
def test_garbage_mid_stream_never_raises_or_hangs(
    clips: dict[str, Path], tmp_path: Path, key: str, mode: str
) -> None:
    path = with_garbage(tmp_path, clips[key], mode)
    started = time.monotonic()
    video, frames = read_all(path)
    assert time.monotonic() - started < 10
    assert N_FRAMES // 4 <= len(frames) <= N_FRAMES
    if len(frames) < N_FRAMES - video.decode_errors - 1:
        assert video.ended_early is not None
    times = [f.time for f in frames]
    assert times == sorted(times)


def test_garbage_that_shifts_an_mp4_index_is_an_error_at_open(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    # Bytes inserted before the index at the end of the file break the box structure.
    path = with_garbage(tmp_path, clips["noisy.mp4"], "insert")
    with pytest.raises(VideoError, match="not a video, or a corrupt or truncated one"):
        VideoSource(path)


def test_zero_length_video_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.avi"
    VideoWriter(path, FPS, WIDTH, HEIGHT).close()
    video, frames = read_all(path)
    assert frames == []
    assert video.ended_early == "no frames: the video stream is empty"


# --------------------------------------------------------------------------- cameras and network


def test_missing_camera_fails_fast() -> None:
    for camera in ("/dev/video99", 99):
        started = time.monotonic()
        with pytest.raises(VideoError, match=r"no such camera device|Linux"):
            VideoSource(camera)
        assert time.monotonic() - started < 2


def test_unreachable_rtsp_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(VideoError, match=r"rtsp://127\.0\.0\.1:9/x: "):
        VideoSource("rtsp://127.0.0.1:9/x", timeout=2)
    assert time.monotonic() - started < 15


def test_url_password_is_masked() -> None:
    with pytest.raises(VideoError) as info:
        VideoSource("rtsp://admin:hunter2@127.0.0.1:9/stream", timeout=2)
    assert "hunter2" not in str(info.value)
    assert "admin:***@127.0.0.1" in str(info.value)


@pytest.fixture
def server() -> Iterator[Callable[[bytes], int]]:
    """A local TCP server that answers each connection with ``reply`` and then goes silent."""
    sockets: list[socket.socket] = []

    def start(reply: bytes) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                sockets.append(conn)
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(reply)
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for sock in sockets:
        sock.close()


@pytest.mark.slow
def test_silent_rtsp_server_times_out(server: Callable[[bytes], int]) -> None:
    port = server(b"")
    started = time.monotonic()
    with pytest.raises(VideoError, match=r"no answer within 1 s \(timeout"):
        VideoSource(f"rtsp://127.0.0.1:{port}/live", timeout=1)
    assert time.monotonic() - started < 15


@pytest.mark.slow
def test_http_stream_that_stalls_ends_cleanly(
    server: Callable[[bytes], int], clips: dict[str, Path]
) -> None:
    data = clips["noisy.mkv"].read_bytes()
    header = b"HTTP/1.0 200 OK\r\nContent-Type: video/x-matroska\r\n\r\n"
    port = server(header + data[: int(len(data) * 0.6)])
    started = time.monotonic()
    video, frames = read_all(VideoSource(f"http://127.0.0.1:{port}/clip.mkv", timeout=1))
    assert time.monotonic() - started < 15
    assert video.live and video.frame_count is None and video.duration is None
    assert 0 < len(frames) < N_FRAMES
    assert video.ended_early is not None and "read timeout" in video.ended_early


# --------------------------------------------------------------------------- real clips


def _labels() -> list[dict[str, str]]:
    labels = VIDEOS / "labels.csv"
    if not labels.is_file():
        return []
    with labels.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("row", _labels() or [None], ids=lambda r: r["path"] if r else "absent")
def test_real_videos(row: dict[str, str] | None) -> None:
    if row is None:
        pytest.skip(f"shared test videos not found at {VIDEOS}")
    size = int(row["notes"].split()[0].split("x")[0])
    video, frames = read_all(VIDEOS / row["path"])
    assert video.fps is not None
    assert video.fps == pytest.approx(float(row["fps"]), rel=0.01)
    assert video.codec == "h264"
    assert video.ended_early is None
    assert video.frame_count == len(frames) > 100
    assert video.duration == pytest.approx(len(frames) / video.fps, abs=0.1)
    assert (video.width, video.height) == (size, size)
    assert frames[0].rgb.shape == (size, size, 3)
    assert frames[0].rgb.std() > 10  # a real picture, not a blank frame
    times = np.array([f.time for f in frames])
    assert np.all(np.diff(times) > 0)
    assert times[-1] == pytest.approx((len(frames) - 1) / video.fps, abs=0.05)
