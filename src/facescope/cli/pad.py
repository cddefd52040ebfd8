"""``facescope pad``: check a photo or video (the default), ``pad calibrate``, ``pad train``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, PadModelOption, bars, friendly, skipped
from facescope.cli.output import emit, plain
from facescope.pad.deployment import DEFAULT_BPCER, DEFAULT_REAL_WEIGHT, MIN_CALIBRATION

if TYPE_CHECKING:
    from facescope.pad.deployment import Calibration, Training
    from facescope.pad.presentation import PADResult

_COLOURS = {"live": "green", "attack": "red", "unclear": "yellow"}
#: At most this many skipped files are named; the rest are counted.
SHOWN_SKIPPED = 10


class _CheckByDefault(typer.core.TyperGroup):
    """`facescope pad FILE` runs `pad check FILE`; `pad calibrate` / `pad train` stay commands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["check", *args]
        return list(super().parse_args(ctx, args))


pad_app = typer.Typer(
    cls=_CheckByDefault,
    help="Presentation-attack detection: `facescope pad FILE [--explain]`, calibrate, train.",
    no_args_is_help=True,
)


def _report_skipped(items: list[tuple[str, str]]) -> None:
    for path, reason in items[:SHOWN_SKIPPED]:
        skipped(f"{path}: {reason}")
    if len(items) > SHOWN_SKIPPED:
        skipped(f"... and {len(items) - SHOWN_SKIPPED} more")


def _checked(
    result: PADResult, source: Path, explain: bool, heatmap: Path | None
) -> Iterator[RenderableType]:
    verdict = "[green]LIVE[/]" if result.is_live else "[red]ATTACK[/]"
    kind = "" if result.is_live else f", most likely {escape(result.attack_type)}"
    yield (
        f"{escape(str(source))}: {verdict} (p(live) {result.live_probability:.3f}, threshold "
        f"{result.threshold:.3f}{kind}; {result.frames} frame(s))"
    )
    if explain:
        table = Table("cue", "value", "indicates", "pull", "why")
        for e in result.evidence:
            colour = _COLOURS.get(e.indicates, "white")
            table.add_row(e.cue, f"{e.value:.3g} {e.unit}", f"[{colour}]{e.indicates}[/]",
                          f"{e.weight:+.2f}", escape(e.why))  # fmt: skip
        yield table
        yield plain(result.explanation)
    if heatmap is not None:
        yield f"heatmap: {escape(str(heatmap))}"


@pad_app.command("check")
@friendly
def pad_check(
    source: Annotated[Path, typer.Argument(help="A photo or a video file.")],
    explain: Annotated[
        bool, typer.Option("--explain", help="Show every cue and the explanation.")
    ] = False,
    heatmap: Annotated[
        Path | None, typer.Option(help="Write the face beside its attack heatmap (PNG).")
    ] = None,
    model: PadModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live or attack: probability, attack type, evidence, heatmap, explanation."""
    from facescope.pad.deployment import check_file

    result = check_file(source, model=model, heatmap=heatmap)
    emit(result, as_json=as_json, render=lambda r: _checked(r, source, explain, heatmap))


def _calibrated(done: Calibration) -> Iterator[RenderableType]:
    summary = done.summary
    out = str(summary["model"])
    yield (
        f"threshold {summary['threshold']:.4f} (was {summary['previous_threshold']:.4f}, which "
        f"rejected {100 * summary['rejected_at_previous_threshold']:.1f}% of these captures); "
        f"BPCER on these {100 * summary['bpcer_on_these']:.1f}%; saved {escape(out)}"
    )
    if done.rough:
        yield (
            f"[yellow]only {summary['bona_fide_crops']} bona fide crops: the threshold is rough; "
            f"{MIN_CALIBRATION}+ captures from the deployment's camera are advised[/]"
        )
    yield f"use it: facescope pad FILE --model {escape(out)}  (or FACESCOPE_PAD_MODEL)"


@pad_app.command("calibrate")
@friendly
def pad_calibrate(
    bona_fide: Annotated[
        list[Path], typer.Argument(help="Bona fide captures from your camera (files, folders).")
    ],
    out: Annotated[Path, typer.Option(help="Where to save the calibrated model (JSON).")],
    bpcer: Annotated[
        float, typer.Option(help="Share of bona fide presentations you accept to reject.")
    ] = DEFAULT_BPCER,
    model: PadModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the decision threshold from your own real bona fide captures (e.g. 50 frames)."""
    from facescope.pad.deployment import calibrate_on_captures

    with bars() as progress:
        done = calibrate_on_captures(
            bona_fide, out=out, bpcer=bpcer, model=model, progress=progress.stages()
        )
    _report_skipped(done.skipped)
    emit(done, as_json=as_json, render=_calibrated)


def _trained(done: Training) -> Iterator[RenderableType]:
    summary = done.summary
    yield (
        f"trained on {summary['real_bona_fide']} real bona fide crops and real attacks "
        f"{escape(str(summary['real_attacks']))} (+ synthetic: {done.synthetic}); threshold "
        f"{summary['threshold']:.4f} ({escape(str(summary['threshold_source']))}); "
        f"saved {escape(str(summary['model']))}"
    )


@pad_app.command("train")
@friendly
def pad_train(
    bona_fide: Annotated[
        list[Path], typer.Option("--bona-fide", help="Real bona fide captures (repeat).")
    ],
    out: Annotated[Path, typer.Option(help="Where to save the trained model (JSON).")],
    attack: Annotated[
        list[str] | None,
        typer.Option(help="Real attack captures as SPECIES=PATH (repeat), e.g. print=prints/."),
    ] = None,
    bpcer: Annotated[
        float, typer.Option(help="Threshold at this BPCER (held-out).")
    ] = DEFAULT_BPCER,
    real_weight: Annotated[
        float, typer.Option(help="Weight of real vs synthetic samples.")
    ] = DEFAULT_REAL_WEIGHT,
    synthetic: Annotated[
        bool, typer.Option(help="Add synthetic print/replay attacks of the bona fide captures.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the synthesis and the folds.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Refit the fusion with your real attack samples (and synthetic ones of your captures)."""
    from facescope.pad.deployment import train_on_captures

    with bars() as progress:
        done = train_on_captures(
            bona_fide, attack or [], out=out, bpcer=bpcer, real_weight=real_weight,
            synthetic=synthetic, seed=seed, progress=progress.stages(),
        )  # fmt: skip
    _report_skipped(done.skipped)
    emit(done, as_json=as_json, render=_trained)


def register(app: typer.Typer) -> None:
    """Add ``facescope pad`` to `app`."""
    app.add_typer(pad_app, name="pad")
