"""``facescope haptics``: list, render, play, mirror, and the study helper (plan, score)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, friendly, note
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.haptics.stimulus import Stimulus
    from facescope.haptics.study import StudyScore

haptics_app = typer.Typer(
    help="Answer emotions in touch and sound: a 5x5 vibration-motor sleeve and contact "
    "sounds (list, render, play, mirror, study).",
    no_args_is_help=True,
)
study_app = typer.Typer(
    help="A listening-and-feeling study: counterbalanced trial lists and scoring.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str | None, typer.Argument(help="An emotion or gesture (`facescope haptics list`).")
]
ValenceOption = Annotated[float | None, typer.Option(help="Valence in [-1, 1] (with --arousal).")]
ArousalOption = Annotated[float | None, typer.Option(help="Arousal in [-1, 1] (with --valence).")]
GestureOption = Annotated[
    str | None, typer.Option(help="Touch gesture (default: the emotion's, or the nearest's).")
]
DurationOption = Annotated[float, typer.Option(help="Seconds.")]
RateOption = Annotated[float, typer.Option(help="Motor update rate (Hz).")]
BitsOption = Annotated[int, typer.Option(help="PWM depth of the schedule (bits).")]


@dataclass(frozen=True)
class Written:
    """A stimulus (or timeline) and the files written for it."""

    stimulus: dict[str, Any]
    files: dict[str, str]
    extra: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"stimulus": self.stimulus, "files": self.files}
        if self.extra:
            out.update(self.extra)
        return out


def _make(
    name: str | None,
    valence: float | None,
    arousal: float | None,
    gesture: str | None,
    duration: float,
) -> Stimulus:
    from facescope.haptics.stimulus import stimulus

    return stimulus(name, valence=valence, arousal=arousal, gesture=gesture, duration=duration)


def _write_all(
    stim: Stimulus, out: Path, rate: float, bits: int, fmt: str, preview: bool = True
) -> dict[str, str]:
    from facescope.haptics.errors import HapticsError
    from facescope.haptics.render import schedule, write_preview, write_schedule, write_wav

    if fmt not in ("csv", "json"):
        raise HapticsError(f"--format must be csv or json, got {fmt!r}")
    plan = schedule(stim, rate, bits)
    stem = stim.name.replace("=", "").replace(",", "_").replace("+", "p").replace("-", "m")
    files = {
        "wav": str(write_wav(stim, out / f"{stem}.wav")),
        "schedule": str(write_schedule(plan, out / f"{stem}.{fmt}")),
    }
    if preview:
        files["preview"] = str(write_preview(stim, out / f"{stem}.gif"))
    for path in files.values():
        note(f"wrote {path}")
    return files


def _stimulus_lines(done: Written) -> Iterator[RenderableType]:
    s = done.stimulus
    p = s["params"]
    yield (
        f"{escape(s['name'])}: {s['gesture']} at valence {s['valence']:+.2f}, arousal "
        f"{s['arousal']:+.2f}; {s['duration']:.2f} s, peak {p['peak']:.2f}, tempo "
        f"{p['tempo_hz']:.2f}/s, {p['frequency_hz']:.0f} Hz, spread {p['spread']:.2f}"
    )
    for kind, path in done.files.items():
        yield f"  {kind}: {escape(path)}"
    played = (done.extra or {}).get("playback")
    if played:
        yield (
            f"  played {played['frames']} frames at {played['rate']:g} Hz on "
            f"{escape(played['port'])}: ack {played['ack_ms_mean']:.2f} ms mean "
            f"({played['ack_ms_max']:.2f} max), {played['resent']} resent, send jitter "
            f"{played['interval_ms_std']:.2f} ms"
        )


@haptics_app.command("list")
@friendly
def haptics_list(as_json: JsonOption = False) -> None:
    """The emotions and gestures of the stimulus library."""
    from facescope.haptics.anchors import EMOTION_GESTURES, EMOTIONS, GESTURES, emotion_anchors
    from facescope.haptics.stimulus import DYNAMICS

    anchors = emotion_anchors()
    result = {"emotions": list(EMOTIONS), "gestures": list(GESTURES)}

    def render(_: dict[str, list[str]]) -> Iterator[RenderableType]:
        table = Table("emotion", "valence", "arousal", "gesture")
        for name in EMOTIONS:
            v, a = anchors[name]
            table.add_row(name, f"{v:+.2f}", f"{a:+.2f}", EMOTION_GESTURES[name])
        yield table
        gestures = Table("gesture", "contact", "sound")
        for name in GESTURES:
            gestures.add_row(name, DYNAMICS[name].motion, DYNAMICS[name].sound)
        yield gestures

    emit(result, as_json=as_json, render=render)


@haptics_app.command("render")
@friendly
def haptics_render(
    name: NameArgument = None,
    out: Annotated[Path, typer.Option(help="Folder for the WAV, schedule and GIF.")] = Path(
        "haptics"
    ),
    valence: ValenceOption = None,
    arousal: ArousalOption = None,
    gesture: GestureOption = None,
    duration: DurationOption = 2.0,
    rate: RateOption = 100.0,
    bits: BitsOption = 8,
    fmt: Annotated[str, typer.Option("--format", help="Schedule format: csv or json.")] = "csv",
    as_json: JsonOption = False,
) -> None:
    """Write a stimulus: WAV sound, motor schedule (CSV/JSON) and a GIF heat-map preview."""
    stim = _make(name, valence, arousal, gesture, duration)
    files = _write_all(stim, out, rate, bits, fmt)
    emit(Written(stim.to_dict(), files), as_json=as_json, render=_stimulus_lines)


@haptics_app.command("play")
@friendly
def haptics_play(
    name: NameArgument = None,
    port: Annotated[
        str | None, typer.Option(help="Serial port of the sleeve, e.g. /dev/ttyUSB0.")
    ] = None,
    valence: ValenceOption = None,
    arousal: ArousalOption = None,
    gesture: GestureOption = None,
    duration: DurationOption = 2.0,
    rate: RateOption = 100.0,
    audio: Annotated[
        bool, typer.Option(help="Also play the sound (needs PortAudio; else use the WAV).")
    ] = False,
    ack_timeout: Annotated[float, typer.Option(help="Seconds to wait for each ack.")] = 0.2,
    as_json: JsonOption = False,
) -> None:
    """Play a stimulus on the sleeve over the serial protocol (docs/haptics.md)."""
    from facescope.haptics.device import play
    from facescope.haptics.errors import HapticsError
    from facescope.haptics.render import play_audio, schedule

    if not port:
        raise HapticsError(
            "no serial port: pass --port (e.g. /dev/ttyUSB0); to write files instead use "
            "`facescope haptics render`"
        )
    stim = _make(name, valence, arousal, gesture, duration)
    plan = schedule(stim, rate, 8)
    if audio:
        play_audio(stim, wait=False)
    done = play(port, plan, ack_timeout=ack_timeout)
    emit(
        Written(stim.to_dict(), {}, {"playback": done.to_dict()}),
        as_json=as_json,
        render=_stimulus_lines,
    )


@haptics_app.command("mirror")
@friendly
def haptics_mirror(
    video: Annotated[str, typer.Argument(help="Video file (or stream / camera index).")],
    port: Annotated[str | None, typer.Option(help="Play on the sleeve at this port.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the timeline (without --port).")
    ] = None,
    every: Annotated[int, typer.Option(help="Analyse every N-th frame.")] = 2,
    window: Annotated[float, typer.Option(help="Seconds per stimulus.")] = 1.0,
    rate: RateOption = 100.0,
    max_frames: Annotated[int | None, typer.Option(help="Stop after N frames.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Feel back: the expressions in VIDEO select and scale the stimulus, window by window."""
    from facescope.haptics.device import play
    from facescope.haptics.errors import HapticsError
    from facescope.haptics.mirror import mirror_video
    from facescope.haptics.render import schedule

    if port is None and out is None:
        raise HapticsError("give --port to play on the sleeve or --out to write the timeline")
    mirrored = mirror_video(video, every=every, window=window, max_frames=max_frames)
    extra: dict[str, Any] = {"segments": [s.to_dict() for s in mirrored.segments]}
    files: dict[str, str] = {}
    if port is not None:
        extra["playback"] = play(port, schedule(mirrored.stimulus, rate, 8)).to_dict()
    else:
        assert out is not None
        files = _write_all(mirrored.stimulus, out, rate, 8, "csv")

    def render(done: Written) -> Iterator[RenderableType]:
        table = Table("start", "end", "expression", "valence", "arousal", "emotion", "scale")
        for s in mirrored.segments:
            table.add_row(
                f"{s.start:.2f}",
                f"{s.end:.2f}",
                s.expression or "-",
                "-" if s.valence is None else f"{s.valence:+.2f}",
                "-" if s.arousal is None else f"{s.arousal:+.2f}",
                s.emotion or "(no face)",
                f"{s.scale:.2f}",
            )
        yield table
        yield from _stimulus_lines(done)

    emit(Written(mirrored.stimulus.to_dict(), files, extra), as_json=as_json, render=render)


@study_app.command("plan")
@friendly
def study_plan(
    participants: Annotated[int, typer.Option(help="Number of participants.")],
    out: Annotated[Path, typer.Option(help="Trial list CSV to write.")] = Path("trials.csv"),
    seed: Annotated[int, typer.Option(help="Random seed of the within-block orders.")] = 0,
    gestures: Annotated[
        bool, typer.Option(help="Present the six gestures instead of the ten emotions.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A randomised trial list, condition order counterbalanced (Williams design)."""
    from facescope.haptics.anchors import EMOTIONS, GESTURES
    from facescope.haptics.study import plan_study

    plan = plan_study(participants, stimuli=GESTURES if gestures else EMOTIONS, seed=seed)
    written = plan.write_csv(out)
    note(f"wrote {written}")
    result = {**plan.to_dict(), "out": str(written)}

    def render(doc: dict[str, Any]) -> Iterator[RenderableType]:
        yield (
            f"{doc['trials']} trials for {doc['participants']} participant(s) -> "
            f"{escape(doc['out'])}"
        )
        if not doc["balanced"]:
            yield "[yellow]participants not a multiple of 6: condition orders not balanced[/]"

    emit(result, as_json=as_json, render=render)


@study_app.command("score")
@friendly
def study_score(
    answers: Annotated[
        Path, typer.Argument(help="CSV: participant,condition,stimulus,answer[,valence,arousal]")
    ],
    as_json: JsonOption = False,
) -> None:
    """Decoding accuracy per condition, confusion matrices and rating summaries."""
    from facescope.haptics.study import score_answers

    def render(score: StudyScore) -> Iterator[RenderableType]:
        table = Table("condition", "trials", "accuracy", "95% CI", "chance")
        for c in score.conditions:
            table.add_row(c.condition, str(c.trials), f"{c.accuracy:.1%}",
                          f"{c.ci95[0]:.1%}-{c.ci95[1]:.1%}", f"{c.chance:.1%}")  # fmt: skip
        yield f"{score.participants} participant(s)"
        yield table

    emit(score_answers(answers), as_json=as_json, render=render)


def register(app: typer.Typer) -> None:
    """Add ``facescope haptics`` (and ``haptics study``) to `app`."""
    haptics_app.add_typer(study_app, name="study")
    app.add_typer(haptics_app, name="haptics")
