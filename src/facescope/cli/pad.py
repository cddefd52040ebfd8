"""``facescope pad``: check photos, videos, folders (default), ``pad calibrate``, ``pad train``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import (
    EXIT_BAD_INPUT,
    DefaultCommandGroup,
    JsonOption,
    PadModelOption,
    bars,
    fail,
    friendly,
    report_skipped,
)
from facescope.cli.output import emit, plain, to_document
from facescope.errors import FacescopeError
from facescope.io.files import media_files
from facescope.pad.deployment import DEFAULT_BPCER, DEFAULT_REAL_WEIGHT, MIN_CALIBRATION

if TYPE_CHECKING:
    from facescope.pad.deployment import Calibration, Training
    from facescope.pad.presentation import PADResult

_COLOURS = {"live": "green", "attack": "red", "unclear": "yellow"}
#: Said once per run when a result's threshold was not set on the deployment's camera.
NOT_CALIBRATED = (
    "not calibrated for this camera: the threshold was set on other cameras' captures; "
    "run `facescope pad calibrate` with ~50 captures from yours"
)


class _CheckByDefault(DefaultCommandGroup):
    """`facescope pad FILE...` runs `pad check FILE...`; `pad calibrate` / `train` stay commands."""

    default_command = "check"


pad_app = typer.Typer(
    cls=_CheckByDefault,
    help="Presentation-attack detection: `facescope pad FILE|FOLDER... [--explain]`, calibrate, "
    "train.",
    no_args_is_help=True,
)


def _verdict(result: PADResult) -> str:
    if getattr(result, "decision", None) == "uncertain":
        return "[yellow]UNCERTAIN[/]"
    return "[green]LIVE[/]" if result.is_live else "[red]ATTACK[/]"


def _checked(
    result: PADResult, source: Path, explain: bool, heatmap: Path | None
) -> Iterator[RenderableType]:
    uncertain = getattr(result, "decision", None) == "uncertain"
    if result.is_live or uncertain:
        kind = ""
    elif result.attack_type == "unknown":
        kind = ", kind not named"
    else:
        kind = f", most likely {escape(result.attack_type)}"
    yield (
        f"{escape(str(source))}: {_verdict(result)} (p(live) {result.live_probability:.3f}, "
        f"threshold {result.threshold:.3f}{kind}; {result.frames} frame(s))"
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


def _uncalibrated(results: Iterable[PADResult]) -> Iterator[RenderableType]:
    """The one line, once per run, that the threshold was not set on this camera."""
    if any(getattr(result, "calibrated", True) is False for result in results):
        yield f"[yellow]{escape(NOT_CALIBRATED)}[/]"


@dataclass(frozen=True)
class Checked:
    """Several files checked (path, result, heatmap written) and those skipped (path, reason)."""

    results: list[tuple[Path, PADResult, Path | None]]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope pad FILE FILE ... --json`` document."""
        return {
            "results": [
                {"path": str(path), **to_document(result)} for path, result, _ in self.results
            ],
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
        }


def _checked_all(done: Checked, explain: bool) -> Iterator[RenderableType]:
    for path, result, heatmap in done.results:
        yield from _checked(result, path, explain, heatmap)
    yield from _uncalibrated(result for _, result, _ in done.results)


def _files(sources: list[Path]) -> list[Path]:
    """Files given, plus the photos and videos inside folders given (sorted, as everywhere)."""
    files = media_files(sources)
    if not files:
        raise FacescopeError(
            "no photos or videos in " + ", ".join(str(source) for source in sources)
        )
    return files


def _reason(exc: Exception, path: Path) -> str:
    """The error's message without the file name it often starts with."""
    reason = str(exc)
    prefix = f"{path}: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def _heatmap_paths(files: list[Path], folder: Path | None) -> list[Path | None]:
    """``FOLDER/<stem>_heatmap.png`` per file (``<stem>-2_heatmap.png`` on a clash)."""
    if folder is None:
        return [None] * len(files)
    if folder.is_file():
        raise FacescopeError(f"--heatmap {folder}: with several files it names a folder")
    taken: set[str] = set()
    paths: list[Path | None] = []
    for path in files:
        name, n = f"{path.stem}_heatmap.png", 1
        while name in taken:
            n += 1
            name = f"{path.stem}-{n}_heatmap.png"
        taken.add(name)
        paths.append(folder / name)
    return paths


@pad_app.command("check")
@friendly
def pad_check(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Photos, videos or folders (their photos and videos, sub-folders included).",
            show_default=False,
        ),
    ],
    explain: Annotated[
        bool, typer.Option("--explain", help="Show every cue and the explanation.")
    ] = False,
    heatmap: Annotated[
        Path | None,
        typer.Option(
            help="Write the face beside its attack heatmap: a PNG for one file; with several "
            "files or a folder, a folder that gets <stem>_heatmap.png per file."
        ),
    ] = None,
    model: PadModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live or attack: probability, attack type, evidence, heatmap, explanation.

    Photos, videos and folders, several at once; progress (files, video frames) on stderr.
    A file that cannot be checked is skipped with its reason: exit 0 if any was checked, 2 if none.
    One file (not a folder): one JSON document, exit 2 on bad input, 3 without a face.
    Several: --json prints {"results": [{"path": ..., ...}], "skipped": [{"path", "reason"}]}.
    """
    from facescope.pad.deployment import check_file

    if len(sources) == 1 and not sources[0].is_dir():
        source = sources[0]
        with bars() as progress:
            frames = progress.counter(f"{source.name}: frames")
            result = check_file(source, model=model, heatmap=heatmap, progress=frames)

        def render(r: PADResult) -> Iterator[RenderableType]:
            yield from _checked(r, source, explain, heatmap)
            yield from _uncalibrated([r])

        emit(result, as_json=as_json, render=render)
        return

    files = _files(sources)
    heatmaps = _heatmap_paths(files, heatmap)
    done = Checked([])
    with bars() as progress:
        overall = progress.counter("files")
        frames = progress.counter("frames")
        overall(0, len(files))
        for k, (path, target) in enumerate(zip(files, heatmaps, strict=True)):
            overall(k, len(files), f"files: {path.name}")

            def step(n: int, total: int, name: str = path.name) -> None:
                frames(n, total, f"{name}: frames")

            try:
                result = check_file(path, model=model, heatmap=target, progress=step)
            except (FacescopeError, ValueError, OSError) as exc:
                done.skipped.append((str(path), _reason(exc, path)))
            else:
                done.results.append((path, result, target))
        overall(len(files), len(files), "files")
    report_skipped(done.skipped)
    if not done.results:
        fail(f"none of the {len(files)} file(s) could be checked")
        raise typer.Exit(EXIT_BAD_INPUT)
    emit(done, as_json=as_json, render=lambda d: _checked_all(d, explain))


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
    report_skipped(done.skipped)
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
    report_skipped(done.skipped)
    emit(done, as_json=as_json, render=_trained)


def register(app: typer.Typer) -> None:
    """Add ``facescope pad`` to `app`."""
    app.add_typer(pad_app, name="pad")
