"""Training-free micro-expression spotting: short, subtle, local facial movements.

The pipeline, per tracked face:

1. detect, track and mesh every frame with :class:`facescope.analysis.Analyzer`
   (``smooth=False``: the One-Euro smoothing of ``analyze`` would wash out movements
   of a few frames), keeping each frame's pixels;
2. measure each facial patch's motion against the rigid face (dense optical flow
   sampled at mesh points on frames stabilised by the meshes' rigid points, the
   meshes' jitter removed by an affine fit of the flow there:
   :mod:`facescope.micro.motion`) and integrate it into a displacement
   trace per patch;
3. at several time scales ``k`` (2 frames to 1/4 s), compare each frame's displacement
   with the mean of the displacements ``k`` frames before and after: a movement that
   rises and falls back within ``2k`` frames stands out, a slow one (a held smile,
   a head turn) does not;
4. turn that into a robust z-score against the same patch's own activity over
   the whole track (a talking mouth is noisy, a still brow is quiet), keep peaks
   above :attr:`SpotOptions.threshold`, and find each peak's onset and offset where
   the displacement falls below :attr:`SpotOptions.edge` of the apex's; where the
   lips move like speech (:attr:`SpotOptions.speech_gate`), they are not spotted;
5. call a movement *macro* (not reported) when it lasts longer than
   :attr:`SpotOptions.max_duration_s` or moves more than
   :attr:`SpotOptions.max_intensity` eye-corner distances; merge what overlaps
   across patches into one interval listing every region that moved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.errors import NoFaceError, VideoError
from facescope.micro.motion import PATCHES, FlowMethod, MotionExtractor, TrackMotion
from facescope.micro.result import MicroError, MicroInterval, SpotResult

if TYPE_CHECKING:
    from facescope.analysis.result import FrameAnalysis
    from facescope.io.video import VideoInput

#: Half-widths of the comparison windows, in seconds (2 frames at 30 fps ... 1/4 s). A
#: movement of ``2k + 1`` frames or fewer stands out at half-width ``k``; one-frame
#: "movements" are flow glitches (compression, a fast syllable), so ``k`` >= 2 frames.
SCALES_S = (0.067, 0.1, 0.133, 0.2, 0.25)
#: Frames per second assumed when neither the video nor the caller says.
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class SpotOptions:
    """How movements are spotted and told apart from macro-expressions.

    Attributes:
        threshold: robust z-score a peak needs (against its patch's own activity
            over the track): the median of the leave-one-video-out choices on the
            talking heads (docs/micro.md), as is `speech_gate`.
        max_duration_s: longer movements are macro (0.5 s, the usual upper bound).
        max_intensity: larger movements are macro, as a share of the eye-corner
            distance (0.05: 7 px on a face with 140 px between the eye corners).
        min_intensity: smaller movements are ignored as noise, same unit.
        edge: onset and offset are where the displacement falls below this share
            of the apex's.
        flow: optical flow: ``"dis"`` (fast, default) or ``"farneback"``.
        context_s: measure a peak's z-score against its patch's activity within
            this many seconds either side instead of the whole track (0, the
            default: on the talking heads, a local context let speech onsets stand
            out against the pauses around them).
        speech_gate: the mouth is *talking* where the lips' motion against the rigid
            face (RMS over 0.8 s and over the lip patches) exceeds this share of the
            eye-corner distance per frame; there the lips are not spotted (speech
            is not a micro-expression), and their noise is measured where it is not.
            0 turns the gate off.
        min_frames: shorter movements are ignored (a one-frame jump is a flow
            glitch or a fast syllable, not a facial movement one can see).
        max_faces: spot on at most this many faces per frame (the largest).
    """

    threshold: float = 3.5
    max_duration_s: float = 0.5
    max_intensity: float = 0.05
    min_intensity: float = 0.002
    edge: float = 0.2
    flow: FlowMethod = "dis"
    context_s: float = 0.0
    speech_gate: float = 0.002
    min_frames: int = 2
    max_faces: int | None = None

    def __post_init__(self) -> None:
        numbers = ("threshold", "max_duration_s", "max_intensity", "min_intensity", "edge",
                   "context_s", "speech_gate", "min_frames")  # fmt: skip
        for name in numbers:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MicroError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise MicroError(f"{name} must be finite, got {value!r}")
        checks = {
            "threshold": self.threshold > 0,
            "max_duration_s": self.max_duration_s > 0,
            "max_intensity": self.max_intensity > 0,
            "min_intensity": 0 <= self.min_intensity < self.max_intensity,
            "edge": 0 < self.edge < 1,
            "context_s": self.context_s >= 0,
            "speech_gate": self.speech_gate >= 0,
            "min_frames": self.min_frames >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise MicroError(f"{name}={getattr(self, name)!r} is out of range")
        if self.flow not in ("dis", "farneback"):
            raise MicroError(f"flow must be 'dis' or 'farneback', got {self.flow!r}")
        if self.max_faces is not None and (
            isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int)
            or self.max_faces < 1
        ):  # fmt: skip
            raise MicroError(f"max_faces must be a positive integer, got {self.max_faces!r}")

    def with_(self, **changes: Any) -> SpotOptions:
        """A copy with some fields changed (validated)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise MicroError(f"unknown spotting option(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


def scales(fps: float, max_duration_s: float = 0.5) -> list[int]:
    """Comparison half-widths in frames at `fps` (a movement of ``2k`` frames fits)."""
    longest = max(2, int(max_duration_s * fps) // 2)
    return sorted({min(max(2, round(s * fps)), longest) for s in SCALES_S})


@dataclass(frozen=True)
class _Event:
    patch: int
    onset: int
    apex: int
    offset: int
    intensity: float
    score: float
    micro: bool


def _usable(valid: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
    """Rows t whose motion over rows ``t-k+1 .. t+k`` was all measured."""
    n = len(valid)
    ok = np.zeros(n, bool)
    if n <= 2 * k:
        return ok
    bad = np.concatenate([[0], np.cumsum(~valid)])
    # rows t-k+1 .. t+k all valid <=> no invalid row in that range
    t = np.arange(k, n - k)
    ok[t] = (bad[t + k + 1] - bad[t - k + 1]) == 0
    return ok


#: Fewest rows a patch's noise is measured on (else it is not spotted).
MIN_SAMPLE = 15


def _robust_z(
    values: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
    floor: float,
    context: int,
    k: int,
) -> Any:
    """Robust z-score of each row against the rows around it (`context` either side).

    The rows within ``2k`` of a row are left out of its context (they hold the
    movement itself); with `context` 0 the context is the whole track.
    """
    z = np.zeros_like(values)
    if ok.sum() < MIN_SAMPLE:
        return z
    if context <= 0:
        sample = values[ok]
        median = float(np.median(sample))
        spread = 1.4826 * float(np.median(np.abs(sample - median)))
        z[ok] = (values[ok] - median) / max(spread, floor)
        return z
    padded = np.full(len(values) + 2 * context, np.nan)
    padded[context:-context] = np.where(ok, values, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * context + 1).copy()
    inner = min(2 * k, context - 1)
    windows[:, context - inner : context + inner + 1] = np.nan
    enough = np.sum(np.isfinite(windows), axis=1) >= 5
    use = ok & enough
    if not use.any():
        return z
    with np.errstate(all="ignore"):
        median = np.nanmedian(windows[use], axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(windows[use] - median[:, None]), axis=1)
    z[use] = (values[use] - median) / np.maximum(spread, floor)
    return z


#: Region whose motion tells talking (the speech gate).
SPEECH_REGION = "lips"
#: Half-width of the speech gate's window, in seconds.
SPEECH_WINDOW_S = 0.4


def talking(
    motion: TrackMotion, fps: float, gate: float, lips: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Rows where the mouth is talking (see :attr:`SpotOptions.speech_gate`).

    `lips` marks the patches of the mouth.
    """
    _, _, velocity, valid = motion.arrays()
    rows = len(valid)
    if gate <= 0 or not lips.any() or rows == 0:
        return np.zeros(rows, bool)
    eyes = np.asarray(motion.eyes, np.float64)
    scale = float(np.nanmedian(eyes)) if np.isfinite(eyes).any() else 1.0
    opening = np.sqrt(np.mean(np.sum(velocity[:, lips] ** 2, axis=2), axis=1)) / scale
    half = max(1, round(SPEECH_WINDOW_S * fps))
    kernel = np.ones(2 * half + 1)
    energy = np.convolve(np.where(valid, opening**2, 0.0), kernel, mode="same")
    count = np.convolve(valid.astype(np.float64), kernel, mode="same")
    rms = np.sqrt(energy / np.maximum(count, 1.0))
    return np.asarray(rms > gate, bool)


def _events(
    motion: TrackMotion,
    fps: float,
    options: SpotOptions,
    gated: npt.NDArray[np.bool_] | None = None,
) -> tuple[list[_Event], npt.NDArray[np.float64]]:
    """Every peak of every patch (micro or not) and the per-row score (rows, patches).

    `gated` marks the patches the speech gate applies to (default: none).
    """
    _, _, velocity, valid = motion.arrays()
    rows, n_patches = velocity.shape[:2]
    eyes_all = np.asarray(motion.eyes, np.float64)
    eyes = float(np.nanmedian(eyes_all)) if np.isfinite(eyes_all).any() else float("nan")
    score = np.zeros((rows, n_patches))
    if rows < 3 or not np.isfinite(eyes):
        return [], score
    displacement = np.cumsum(velocity.astype(np.float64), axis=0)
    best_k = np.ones((rows, n_patches), int)
    floor = 1e-3 * eyes
    context = round(options.context_s * fps) if options.context_s > 0 else 0
    if gated is None:
        gated = np.zeros(n_patches, bool)
    speech = talking(motion, fps, options.speech_gate, gated)
    for k in scales(fps, options.max_duration_s):
        usable = _usable(valid, k)
        quiet = usable.copy()
        if speech.any():  # not talking anywhere within k rows
            near = np.convolve(speech.astype(np.float64), np.ones(2 * k + 1), mode="same") > 0
            quiet &= ~near
        if not usable.any():
            continue
        deviation = np.zeros((rows, n_patches))
        mid = displacement[k:-k] - (displacement[: -2 * k] + displacement[2 * k :]) / 2
        deviation[k:-k] = np.linalg.norm(mid, axis=2)
        for p in range(n_patches):
            ok = quiet if gated[p] else usable
            z = _robust_z(deviation[:, p], ok, floor, context, k)
            better = z > score[:, p]
            score[better, p] = z[better]
            best_k[better, p] = k
    events = []
    max_frames = max(1, round(options.max_duration_s * fps))
    for p in range(n_patches):
        s = score[:, p]
        for t in (int(i) for i in np.flatnonzero(s >= options.threshold)):
            k = int(best_k[t, p])
            lo, hi = max(0, t - k), min(rows, t + k + 1)
            if s[t] < s[lo:hi].max() or (s[lo:t] == s[t]).any():
                continue  # not the (first) peak of its window
            events.append(_measure(displacement[:, p], valid, t, k, float(s[t]), p, eyes,
                                   max_frames, options))  # fmt: skip
    return events, score


def _measure(
    trace: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_],
    apex: int,
    k: int,
    score: float,
    patch: int,
    eyes: float,
    max_frames: int,
    options: SpotOptions,
) -> _Event:
    """Onset, offset and size of the movement peaking at `apex` on one patch's trace."""
    rows = len(trace)
    before, after = trace[apex - k], trace[apex + k]
    span = np.arange(rows)
    slope = (after - before) / (2 * k)
    baseline = before + (span[:, None] - (apex - k)) * slope
    deviation = np.linalg.norm(trace - baseline, axis=1)
    peak = float(deviation[apex])
    limit = options.edge * peak
    onset = apex
    while onset - 1 >= 0 and valid[onset] and deviation[onset - 1] >= limit:
        onset -= 1
        if apex - onset > max_frames:
            break
    offset = apex
    while offset + 1 < rows and valid[offset + 1] and deviation[offset + 1] >= limit:
        offset += 1
        if offset - apex > max_frames:
            break
    size = peak / eyes
    micro = (
        options.min_frames <= offset - onset + 1 <= max_frames
        and options.min_intensity <= size <= options.max_intensity
    )
    return _Event(patch, onset, apex, offset, peak, score, micro)


def spot_motion(
    tracks: Iterable[TrackMotion],
    fps: float,
    options: SpotOptions | None = None,
    regions: Mapping[str, str] | None = None,
) -> tuple[list[MicroInterval], int]:
    """Spot micro-movements in measured motion: (intervals, number of macro movements).

    `regions` maps each patch name to its region (default: :data:`PATCHES`).
    """
    options = options or SpotOptions()
    if not (math.isfinite(fps) and fps > 0):
        raise MicroError(f"fps must be a positive number, got {fps!r}")
    names = dict(regions) if regions is not None else {n: r for n, (r, _) in PATCHES.items()}
    intervals: list[MicroInterval] = []
    macro = 0
    for motion in tracks:
        gated = np.array([names.get(p) == SPEECH_REGION for p in motion.patches], bool)
        events, _ = _events(motion, fps, options, gated)
        macro += sum(not e.micro for e in events)
        # an interval is a macro movement's part when it overlaps one: leave it out
        blocked = [(e.onset, e.offset) for e in events if not e.micro]
        kept = [
            e for e in events
            if e.micro and not any(a <= e.offset and e.onset <= b for a, b in blocked)
        ]  # fmt: skip
        intervals.extend(_merged(kept, motion, names))
    intervals.sort(key=lambda i: (i.track, i.onset))
    return intervals, macro


def _merged(
    events: list[_Event], motion: TrackMotion, names: Mapping[str, str]
) -> Iterator[MicroInterval]:
    """Overlapping events of one track as one interval (the strongest event's timing)."""
    frames, times = motion.frames, motion.times
    groups: list[list[_Event]] = []
    for e in sorted(events, key=lambda e: e.onset):
        if groups and e.onset <= max(g.offset for g in groups[-1]):
            groups[-1].append(e)
        else:
            groups.append([e])
    for group in groups:
        group.sort(key=lambda e: -e.score)
        top = group[0]
        regions = tuple(dict.fromkeys(names.get(motion.patches[e.patch], "face") for e in group))
        yield MicroInterval(
            track=motion.track,
            onset=int(frames[top.onset]),
            apex=int(frames[top.apex]),
            offset=int(frames[top.offset]),
            start=float(times[top.onset]),
            end=float(times[top.offset]),
            regions=regions,
            intensity=float(top.intensity),
            score=float(top.score),
        )


def region_scores(
    motion: TrackMotion,
    fps: float,
    options: SpotOptions | None = None,
    regions: Mapping[str, str] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Each region's spotting score per row of `motion` (the best of its patches)."""
    options = options or SpotOptions()
    names = dict(regions) if regions is not None else {n: r for n, (r, _) in PATCHES.items()}
    gated = np.array([names.get(p) == SPEECH_REGION for p in motion.patches], bool)
    _, score = _events(motion, fps, options, gated)
    out: dict[str, npt.NDArray[np.float64]] = {}
    for p, patch in enumerate(motion.patches):
        region = names.get(patch, "face")
        out[region] = np.maximum(out[region], score[:, p]) if region in out else score[:, p]
    return out


# ---- from frames ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pixels:
    index: int
    time: float
    rgb: npt.NDArray[np.uint8]


class MicroSpotter:
    """Spots micro-movements in frames: the analyser's unsmoothed meshes plus optical flow.

    Keeps the models loaded; :meth:`trace` measures motion, :func:`spot_motion` spots.
    """

    def __init__(self, options: SpotOptions | None = None) -> None:
        self.options = options or SpotOptions()

    def trace(
        self,
        frames: Iterable[Any],
        *,
        on_frame: Callable[[int], None] | None = None,
        on_analysis: Callable[[FrameAnalysis], None] | None = None,
    ) -> tuple[dict[int, TrackMotion], int, int]:
        """Motion of every track in `frames` (objects with ``index``, ``time``, ``rgb``).

        `on_frame` gets the number of frames done; `on_analysis` each frame's analysis
        (boxes, tracks, unsmoothed meshes). Returns (tracks, frames read, frames where
        a face had a mesh).
        """
        from facescope.analysis.analyzer import AnalyzeOptions, Analyzer

        analyzer = Analyzer(
            AnalyzeOptions(
                expressions=False, action_units=False, quality=False,
                max_faces=self.options.max_faces,
            )
        )  # fmt: skip
        extractor = MotionExtractor(method=self.options.flow)
        current: dict[str, Any] = {}
        counts = {"frames": 0, "meshed": 0}

        def keep(source: Iterable[Any]) -> Iterator[Any]:
            for frame in source:
                rgb = np.asarray(frame.rgb)
                if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                    raise MicroError(
                        f"frame {frame.index}: expected (H, W, 3) uint8 RGB, got "
                        f"{rgb.shape} {rgb.dtype}"
                    )
                current["rgb"] = rgb
                yield frame

        def seen(analysis: FrameAnalysis) -> None:
            grey = cv2.cvtColor(current["rgb"], cv2.COLOR_RGB2GRAY)
            faces = [(face.track, face.mesh) for face in analysis.faces if face.track is not None]
            counts["frames"] += 1
            counts["meshed"] += any(mesh is not None for _, mesh in faces)
            index = int(analysis.frame or 0)
            extractor.update(grey, faces, index, float(analysis.time or 0.0))
            if on_analysis is not None:
                on_analysis(analysis)
            if on_frame is not None:
                on_frame(counts["frames"])

        analyzer.analyze_video(keep(frames), smooth=False, on_frame=seen)
        return extractor.tracks, counts["frames"], counts["meshed"]

    def spot(
        self,
        frames: Iterable[Any],
        fps: float | None = None,
        *,
        source: str | None = None,
        on_frame: Callable[[int], None] | None = None,
        on_analysis: Callable[[FrameAnalysis], None] | None = None,
    ) -> SpotResult:
        """Spot micro-movements in `frames`; `fps` turns frame counts into seconds.

        Raises:
            NoFaceError: no frame had a face with a mesh.
            MicroError: bad frames or options.
        """
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise MicroError(f"fps must be a positive number, got {fps!r}")
        tracks, count, meshed = self.trace(frames, on_frame=on_frame, on_analysis=on_analysis)
        if count == 0:
            raise VideoError(f"{source or 'frames'}: no frames to spot micro-expressions in")
        if meshed == 0:
            raise NoFaceError(f"{source or 'frames'}: no face found in any of {count} frame(s)")
        rate = fps or _fps_of(tracks) or DEFAULT_FPS
        intervals, macro = spot_motion(tracks.values(), rate, self.options)
        return SpotResult(
            intervals=intervals,
            source=source,
            fps=rate,
            frames=count,
            tracks=sorted(t for t, m in tracks.items() if len(m.frames) >= 3),
            macro=macro,
            motion=tracks,
        )


def _fps_of(tracks: Mapping[int, TrackMotion]) -> float | None:
    """Frames per second from the frames' own times (None when they do not say)."""
    for motion in tracks.values():
        times = np.asarray(motion.times)
        frames = np.asarray(motion.frames)
        if len(times) >= 2 and times[-1] > times[0]:
            return float((frames[-1] - frames[0]) / (times[-1] - times[0]))
    return None


def spot_frames(
    frames: Iterable[Any], fps: float | None = None, options: SpotOptions | None = None
) -> SpotResult:
    """Spot micro-movements in frames (objects with ``index``, ``time``, ``rgb``)."""
    return MicroSpotter(options).spot(frames, fps)


def spot_video(
    source: VideoInput,
    options: SpotOptions | None = None,
    *,
    max_frames: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> SpotResult:
    """Spot micro-movements per tracked face in a video file, stream or camera.

    Args:
        source: a path, URL or camera index (:func:`facescope.video.open_video`).
        options: thresholds and flow method (:class:`SpotOptions`).
        max_frames: stop after this many frames.
        progress: called as ``progress(frames_done, total_or_None)``.

    Raises:
        VideoError: the video is missing, empty, corrupt or not a video.
        NoFaceError: no face in any frame.
        MicroError: bad options.
    """
    from facescope.io.video import open_video

    spotter = MicroSpotter(options)
    with open_video(source, max_frames=max_frames) as video:
        total = None if video.live else video.frame_count
        if max_frames is not None and total is not None:
            total = min(total, max_frames)

        def step(done: int) -> None:
            if progress is not None:
                progress(done, total)

        result = spotter.spot(video, video.fps, source=video.source_name, on_frame=step)
        return replace(result, ended_early=video.ended_early)
