"""Engagement of every person in a video: analysis -> frame records -> windows -> estimate.

:func:`measure_engagement` consumes a finished
:class:`~facescope.analysis.result.VideoAnalysis` (from
:meth:`facescope.analysis.Analyzer.analyze_video`, on a file or a stream);
:func:`engagement_video` opens a video, runs the analyzer (and a shot-cut
detector for variable windows) and measures it, with an optional timeline plot
per person. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facescope.analysis.result import VideoAnalysis
from facescope.engagement.baseline import baseline_engagement
from facescope.engagement.errors import EngagementError
from facescope.engagement.features import GazeTarget, RecordBuilder
from facescope.engagement.result import EngagementResult, EngagementWindow, PersonEngagement
from facescope.engagement.windows import WindowFeatures, WindowSpec, aggregate_windows, parse_window

if TYPE_CHECKING:
    from facescope.analysis.analyzer import AnalyzeOptions
    from facescope.engagement.training import EngagementClassifier


@dataclass(frozen=True)
class EngagementOptions:
    """How engagement is measured.

    Attributes:
        window: seconds (5, 10, 30, ...), ``"variable"``, or a :class:`WindowSpec`.
        target: where attending people look (default: the camera's lens).
        stitch: join a track that continues an absent person (see ``features``).
        classifier: a trained head; None: the interpretable baseline.
        context: context values the head takes (``{"addressed": "group"}``).
    """

    window: str | float | WindowSpec = 10.0
    target: GazeTarget = field(default_factory=GazeTarget)
    stitch: bool = True
    classifier: EngagementClassifier | None = None
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> WindowSpec:
        """The parsed window."""
        return parse_window(self.window)


def _estimate(windows: list[WindowFeatures], options: EngagementOptions) -> list[EngagementWindow]:
    estimates: list[tuple[float, str, dict[str, float]]]
    if options.classifier is not None:
        scored = options.classifier.score_windows(windows, options.context)
        estimates = [(s, label, {}) for s, label in scored]
        # a window without the face is absent whatever the head says
        estimates = [
            (0.0, "absent", {}) if w.present_frames == 0 else e
            for w, e in zip(windows, estimates, strict=True)
        ]
    else:
        estimates = [baseline_engagement(w.features) for w in windows]
    return [
        EngagementWindow(
            w.start,
            w.end,
            w.frames,
            w.present_frames,
            w.features,
            score,
            label,
            parts,
            w.expression,
            w.expressions,
            w.action_units,
            w.blinks,
        )
        for w, (score, label, parts) in zip(windows, estimates, strict=True)
    ]


def measure_engagement(
    video: VideoAnalysis | RecordBuilder,
    options: EngagementOptions | None = None,
    *,
    blinks: Mapping[int, Iterable[Any]] | None = None,
    cuts: Iterable[float] = (),
) -> EngagementResult:
    """Per person and per window: features, engagement and label.

    Args:
        video: the analyzer's result, or a :class:`RecordBuilder` already fed (streams).
        options: window, gaze target, estimator.
        blinks: blink events per track id (default: the video analysis's).
        cuts: shot-cut times in seconds (variable windows are cut there).
    """
    options = options or EngagementOptions()
    spec = options.spec
    if isinstance(video, RecordBuilder):
        builder = video
        events = dict(blinks or {})
    else:
        from facescope.engagement.features import frame_records

        builder = frame_records(video, options.target, stitch=options.stitch)
        events = dict(video.blinks if blinks is None else blinks)
    onsets: dict[int, list[float]] = {}
    for track, items in events.items():
        person = builder.person_of(int(track))
        onsets.setdefault(person, []).extend(float(getattr(b, "start", b)) for b in items)
    cut_list = sorted(float(c) for c in cuts)
    per_person = aggregate_windows(
        builder.records,
        builder.frame_times,
        spec,
        blinks=onsets,
        cuts=cut_list,
        tolerance_deg=options.target.tolerance_deg,
    )
    tracks_of: dict[int, set[int]] = {}
    for record in builder.records:
        if record.track is not None:
            tracks_of.setdefault(record.person, set()).add(record.track)
    people = [
        PersonEngagement(
            person,
            tuple(sorted(tracks_of.get(person, {person}))),
            _estimate(windows, options),
            len(onsets.get(person, [])),
        )
        for person, windows in per_person.items()
        if person >= 0  # faces the tracker did not track are left out
    ]
    times = builder.frame_times
    duration = (times[-1] - times[0]) if len(times) > 1 else 0.0
    estimator = "baseline" if options.classifier is None else f"head: {options.classifier.source}"
    target = options.target
    return EngagementResult(
        people,
        str(spec),
        estimator,
        {
            "offset_mm": list(target.offset_mm),
            "radius_mm": target.radius_mm,
            "tolerance_deg": target.tolerance_deg,
            "relative_to": "the camera's lens",
        },
        len(times),
        duration,
        cut_list,
        getattr(video, "source", None),
        getattr(video, "ended_early", None),
    )


def _with_cuts(frames: Iterable[Any], cuts: list[float]) -> Iterator[Any]:
    from facescope.tracking.shots import ShotDetector

    detector = ShotDetector()
    for frame in frames:
        if detector.update(frame.rgb) and frame.index > 0:
            cuts.append(float(frame.time))
        yield frame


def engagement_video(
    source: str | Path,
    options: EngagementOptions | None = None,
    *,
    analyze: AnalyzeOptions | None = None,
    every: int = 1,
    max_frames: int | None = None,
    plot: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> EngagementResult:
    """Open a video (file, stream URL, camera index), analyse it, and measure engagement.

    Raises:
        VideoError: a missing, empty, corrupt or unreadable video.
        EngagementError: a bad window or option.
    """
    from dataclasses import replace

    from facescope.analysis.analyzer import AnalyzeOptions, Analyzer
    from facescope.io.video import VideoSource, parse_source

    options = options or EngagementOptions()
    options.spec  # noqa: B018  (a bad window fails before the video is read)
    if every < 1:
        raise EngagementError(f"every must be >= 1, got {every}")
    analyzer = Analyzer(analyze or AnalyzeOptions(quality=False))
    cuts: list[float] = []
    with VideoSource(parse_source(str(source)), max_frames=max_frames) as video:
        total = None if video.live else video.frame_count
        if max_frames is not None and total is not None:
            total = min(total, max_frames)
        done = 0

        def seen(_: Any) -> None:
            nonlocal done
            done += every
            if progress is not None:
                progress(min(done, total) if total else done, total)

        analysis = analyzer.analyze_video(
            _with_cuts(video, cuts), fps=video.fps, every=every, on_frame=seen
        )
        analysis = replace(analysis, source=video.source_name, ended_early=video.ended_early)
    result = measure_engagement(analysis, options, cuts=cuts)
    if plot is not None:
        from facescope.engagement.plot import plot_timeline

        folder = Path(plot)
        stem = Path(str(source)).stem or "camera"
        pictures = [
            plot_timeline(
                person,
                folder / f"{stem}_engagement_track{person.track}.png",
                title=f"{analysis.source or stem}: person {person.track}",
            )
            for person in result.tracks
        ]
        result = replace(result, pictures=pictures)
    return result


__all__ = ["EngagementOptions", "engagement_video", "measure_engagement"]
