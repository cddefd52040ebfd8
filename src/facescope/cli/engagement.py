"""``facescope engagement``: per-person engagement over time in a video (default), ``train``."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import DefaultCommandGroup, JsonOption, counter, friendly, note, warn
from facescope.cli.output import emit, write_document

if TYPE_CHECKING:
    from facescope.engagement.result import EngagementResult
    from facescope.engagement.training import TrainingReport

#: Per-window rows shown for people before the table is left to --json / --csv.
SHOWN_WINDOWS = 40
_COLOURS = {"engaged": "green", "partly engaged": "yellow", "disengaged": "red", "absent": "dim"}


class _ScoreByDefault(DefaultCommandGroup):
    """`facescope engagement VIDEO` runs `engagement score VIDEO`; `engagement train` stays."""

    default_command = "score"


engagement_app = typer.Typer(
    cls=_ScoreByDefault,
    help="Engagement over time per person: `facescope engagement VIDEO [--window 10]`, train.",
    no_args_is_help=True,
)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _label(label: str | None) -> str:
    if label is None:
        return "-"
    colour = _COLOURS.get(label)
    return f"[{colour}]{escape(label)}[/]" if colour else escape(label)


def _render(result: EngagementResult) -> Iterator[RenderableType]:
    yield (
        f"{escape(result.source or 'video')}: {result.frames} frames analysed, "
        f"{len(result.tracks)} person(s), windows {escape(result.window)} "
        f"{'s' if result.window != 'variable' else ''}, estimator {escape(result.estimator)}"
    )
    summary = Table(title="session summary")
    for column in (
        "person",
        "presence",
        "engagement",
        "label",
        "engaged share",
        "gaze on target",
        "head stability",
        "blinks/min",
        "speaking",
        "expression",
    ):
        summary.add_column(column)
    for row in result.summary():
        summary.add_row(
            str(row["track"]),
            _fmt(row["presence"]),
            _fmt(row["engagement"]),
            _label(row["label"]),
            _fmt(row["engaged_share"]),
            _fmt(row["gaze_on_target"]),
            _fmt(row["head_stability"]),
            _fmt(row["blink_rate"], 1),
            _fmt(row["speaking"]),
            escape(row["expression"] or "-"),
        )
    yield summary
    for person in result.tracks:
        table = Table(title=f"person {person.track} (tracks {', '.join(map(str, person.tracks))})")
        columns = ("window s", "presence", "engagement", "label", "gaze", "stability",
                   "blinks/min", "speaking", "valence", "expression")  # fmt: skip
        for column in columns:
            table.add_column(column)
        for w in person.windows[:SHOWN_WINDOWS]:
            f = w.features
            table.add_row(
                f"{w.start:.1f}-{w.end:.1f}",
                _fmt(w.presence),
                _fmt(w.engagement),
                _label(w.label),
                _fmt(f["gaze_on_target"]),
                _fmt(f["head_stability"]),
                _fmt(f["blink_rate"], 1),
                _fmt(f["speaking"]),
                _fmt(f["valence"]),
                escape(w.expression or "-"),
            )
        yield table
        if len(person.windows) > SHOWN_WINDOWS:
            yield f"[dim]... {len(person.windows) - SHOWN_WINDOWS} more windows: --json or --csv[/]"
    yield (
        "[dim]gaze is measured relative to the camera's lens (--screen places a screen); "
        "valence and arousal are derived from the expression probabilities; the baseline's "
        "weights are set by hand, not trained (docs/engagement.md)[/]"
    )
    for picture in result.pictures:
        yield f"timeline: {escape(str(picture))}"


def _screen(text: str | None) -> tuple[float, float, float]:
    if not text:
        return (0.0, 0.0, 0.0)
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise ValueError(f"--screen {text!r}: give X,Y[,Z] in millimetres from the lens")
    x, y, *z = values
    return (x, y, z[0] if z else 0.0)


def _context(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--context {item!r}: give KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@engagement_app.command("score")
@friendly
def engagement_score(
    video: Annotated[str, typer.Argument(help="Video file, stream URL or camera index.")],
    window: Annotated[
        str,
        typer.Option(
            help="Window: 5, 10, 30 (any number of seconds) or 'variable' (segments of steady "
            "presence, cut at shot cuts, at most 30 s)."
        ),
    ] = "10",
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the window table (one row per person per window).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the result: .json (the --json document), .csv or .parquet table."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Folder for one timeline PNG per person.")
    ] = None,
    screen: Annotated[
        str | None,
        typer.Option(
            help="Where attending people look, X,Y[,Z] mm from the lens (x right, y down); "
            "default: the lens itself. A laptop screen under its webcam: 0,120."
        ),
    ] = None,
    screen_radius: Annotated[
        float, typer.Option(help="Radius of the screen in mm (looking inside it is on target).")
    ] = 0.0,
    tolerance: Annotated[
        float, typer.Option(help="Degrees beyond the target's edge still counted as on target.")
    ] = 15.0,
    model: Annotated[
        Path | None,
        typer.Option(help="A head from `facescope engagement train` (default: the baseline)."),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(help="Context the head takes, KEY=VALUE (repeatable)."),
    ] = None,
    expressions: Annotated[
        bool, typer.Option(help="Run the expression models (valence/arousal need them).")
    ] = True,
    every: Annotated[int, typer.Option(help="Analyse every N-th frame.")] = 1,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    max_faces: Annotated[
        int | None, typer.Option(help="Analyse at most N faces per frame.")
    ] = None,
) -> None:
    """Per person and window: presence, gaze, head stability, blinks, eyes, expression,
    valence/arousal (derived), AUs, motion, speaking, and engagement in [0, 1] with a label.

    --json prints {"tracks": [{"track", "windows": [{"start", "end", "presence",
    "engagement", "label", ...}]}], "summary": [...]}.
    """
    from facescope.analysis.analyzer import AnalyzeOptions
    from facescope.analysis.result import save_table
    from facescope.engagement.features import GazeTarget
    from facescope.engagement.measure import EngagementOptions, engagement_video
    from facescope.engagement.training import EngagementClassifier
    from facescope.engagement.windows import parse_window

    if as_json and as_csv:
        raise ValueError("--json prints the document, --csv the window table: pick one")
    options = EngagementOptions(
        window=parse_window(window),
        target=GazeTarget(_screen(screen), screen_radius, tolerance),
        classifier=EngagementClassifier.load(model) if model is not None else None,
        context=_context(context or []),
    )
    if out is not None and out.suffix.lower() not in (".json", ".csv", ".parquet"):
        raise ValueError(f"--out {out}: use .json, .csv or .parquet")
    analyze = AnalyzeOptions(expressions=expressions, quality=False, max_faces=max_faces)
    with counter("analysing frames") as progress:
        result = engagement_video(
            video,
            options,
            analyze=analyze,
            every=every,
            max_frames=max_frames,
            plot=plot,
            progress=progress,
        )
    if result.ended_early:
        warn(result.ended_early)
    if not result.tracks:
        warn("no face was found in the video")
    for picture in result.pictures:
        note(f"wrote {picture}")
    if out is not None:
        if out.suffix.lower() == ".json":
            write_document(out, result)
        else:
            save_table(result.to_frame(), out)
        note(f"wrote {out}")
    if as_csv:
        result.to_frame().to_csv(sys.stdout, index=False)
        return
    emit(result, as_json=as_json, render=_render)


def _render_training(report: TrainingReport) -> Iterator[RenderableType]:
    yield (
        f"{report.samples} samples of {report.persons} persons, classes "
        f"{escape(', '.join(report.classes))}, {len(report.features)} features"
    )
    table = Table(title="subject-independent cross-validation (whole persons held out)")
    for column in ("fold", "persons", "samples", "accuracy", "balanced acc.", "AUC"):
        table.add_column(column)
    for fold in report.folds:
        table.add_row(
            str(fold["fold"]),
            escape(", ".join(fold["persons"])),
            str(fold["samples"]),
            _fmt(fold["accuracy"], 3),
            _fmt(fold["balanced_accuracy"], 3),
            _fmt(fold["auc"], 3),
        )
    table.add_row(
        "all",
        "",
        str(report.samples),
        _fmt(report.accuracy, 3),
        _fmt(report.balanced_accuracy, 3),
        _fmt(report.auc, 3),
    )
    yield table
    yield f"chance (the most common class): {report.chance:.3f}"
    if report.head is not None:
        yield f"head: {escape(str(report.head))}"


@engagement_app.command("train")
@friendly
def engagement_train(
    features: Annotated[
        Path,
        typer.Argument(
            help="Feature file (CSV/TSV, Parquet, JSON records): ours (`engagement --csv` plus "
            "person and label columns) or a data set's, read with --schema."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where to write the head (JSON).")],
    schema: Annotated[
        Path | None,
        typer.Option(help="Column mapping, .toml or .json (docs/engagement.md); default: ours."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (split by person).")] = 5,
    l2: Annotated[float, typer.Option(help="L2 penalty of the logistic head.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the person shuffle.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train an engagement head with subject-independent cross-validation; save it as JSON."""
    from facescope.engagement.training import load_features, load_schema, train_engagement

    data = load_features(features, load_schema(schema) if schema is not None else None)
    command = f"facescope engagement train {features}" + (f" --schema {schema}" if schema else "")
    _, report = train_engagement(
        data,
        folds=folds,
        l2=l2,
        seed=seed,
        out=out,
        script=f"{command} --folds {folds} --l2 {l2} --seed {seed}",
    )
    note(f"wrote {out}")
    emit(report, as_json=as_json, render=_render_training)


def register(app: typer.Typer) -> None:
    """Add ``facescope engagement`` to `app`."""
    app.add_typer(engagement_app, name="engagement")
