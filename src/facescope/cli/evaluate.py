"""``facescope eval``: verification, comparison and PAD metrics with HTML reports."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, ReportOption, bars, friendly, note, skipped
from facescope.cli.output import emit, plain
from facescope.evaluate.defaults import DEFAULT_BOOT, DEFAULT_PAD_THRESHOLD, MODELS
from facescope.report.html import percent

if TYPE_CHECKING:
    from facescope.evaluate.datasets import Dataset
    from facescope.evaluate.metrics import PADMetrics
    from facescope.evaluate.run import Evaluation

eval_app = typer.Typer(
    help="Biometric evaluation (ISO/IEC 19795-1, 30107-3) with HTML reports.",
    no_args_is_help=True,
)
EvalModels = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="sface, dlib, fusion (repeat; default: all three)."),
]
BootOption = Annotated[
    int, typer.Option("--boot", help="Bootstrap draws over identities (0: off).")
]
SeedOption = Annotated[int, typer.Option(help="Seed for pairs, split and bootstrap.")]
CacheOption = Annotated[Path | None, typer.Option(help="Embedding cache file.")]


def _ci(value: float, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return percent(value)
    return f"{percent(value)} [{percent(ci[0], 1)}, {percent(ci[1], 1)}]"


def _evaluations(evaluations: Sequence[Evaluation]) -> Iterator[RenderableType]:
    out = Table(title="evaluation (95% bootstrap intervals over identities)")
    for column in ("dataset", "model", "FTA", "EER", "TAR @ FMR 1e-3", "rank-1", "FNIR @ FPIR 1%"):
        out.add_column(column)
    for ev in evaluations:
        for model, r in ev.results.items():
            v, i = r.verification, r.identification
            eer = tar = "-"
            if v is not None:
                eer = _ci(v.eer, v.ci.get("eer"))
                tar = _ci(v.tar_at_far.get(1e-3, math.nan), v.ci.get("tar@0.001"))
            out.add_row(
                escape(ev.dataset),
                model,
                percent(ev.fta),
                eer,
                tar,
                percent(i.rank_k.get(1)) if i else "-",
                percent(i.fnir_at_fpir.get(0.01)) if i else "-",
            )
    yield out
    shipped = Table(title="at the shipped thresholds (not fitted on this data)")
    for column in ("dataset", "model", "FMR target", "threshold", "measured FMR", "FNMR"):
        shipped.add_column(column)
    for ev in evaluations:
        for model, r in ev.results.items():
            for point in r.at_shipped:
                shipped.add_row(
                    escape(ev.dataset), model, f"{point['fmr_target']:g}",
                    f"{point['threshold']:.4f}", percent(point["fmr"], 3), percent(point["fnmr"]),
                )  # fmt: skip
    if shipped.row_count:
        yield shipped
    for ev in evaluations:
        for group in ev.duplicates:
            yield (
                f"[yellow]duplicate:[/] {escape(ev.dataset)}: {len(group)} byte-identical "
                f"files: {escape(', '.join(group[:4]))}{' ...' if len(group) > 4 else ''}"
            )


def _announce(dataset: Dataset) -> None:
    note(f"{dataset.name}: {len(dataset)} images, {len(dataset.subjects)} subjects")


def _evaluate(
    datasets: Sequence[str], *, report: Path | None, as_json: bool, **options: Any
) -> None:
    from facescope.evaluate.report_builder import evaluation_report
    from facescope.evaluate.run import evaluate_datasets

    with bars() as progress:
        evaluations = evaluate_datasets(
            datasets, on_dataset=_announce, progress=progress.track("embedding"), **options
        )
    if report is not None:
        page = evaluation_report(evaluations, report)
        note(f"wrote {page} and {report / 'metrics.json'}")
    emit(evaluations, as_json=as_json, render=_evaluations)


@eval_app.command("verify")
@friendly
def eval_verify(
    dataset: Annotated[
        str, typer.Argument(help="Folder per identity, folder with labels.csv, or a CSV.")
    ],
    model: EvalModels = None,
    pairs: Annotated[
        str | None, typer.Option(help="LFW-style pairs.txt or a pairs CSV (a,b[,same]).")
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    boot: BootOption = DEFAULT_BOOT,
    seed: SeedOption = 0,
    max_impostor: Annotated[
        int | None, typer.Option(help="Sample this many impostor pairs (default: all).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Label column to split metrics by (fairness).")
    ] = None,
    identify: Annotated[
        bool, typer.Option(help="Also open-set identification (CMC, FNIR at FPIR).")
    ] = True,
    cache: CacheOption = None,
) -> None:
    """Verification (FMR, FNMR, EER, TAR, ROC, DET) and open-set identification on a dataset."""
    _evaluate(
        [dataset], report=report, as_json=as_json, models=model or list(MODELS), pairs=pairs,
        n_boot=boot, seed=seed, max_impostor=max_impostor, group=group,
        identification=identify, cache=cache,
    )  # fmt: skip


@eval_app.command("compare")
@friendly
def eval_compare(
    datasets: Annotated[list[str], typer.Argument(help="One or more datasets.")],
    model: EvalModels = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    boot: BootOption = DEFAULT_BOOT,
    seed: SeedOption = 0,
    max_impostor: Annotated[int | None, typer.Option(help="Sample impostor pairs.")] = None,
    cache: CacheOption = None,
) -> None:
    """Several models on several datasets, side by side in one report."""
    _evaluate(
        datasets, report=report, as_json=as_json, models=model or list(MODELS), n_boot=boot,
        seed=seed, max_impostor=max_impostor, cache=cache,
    )  # fmt: skip


def _pad_metrics(metrics: PADMetrics) -> Iterator[RenderableType]:
    out = Table(title="ISO/IEC 30107-3")
    out.add_column("metric")
    out.add_column("value")
    for name, value in metrics.apcer_per_species.items():
        out.add_row(f"APCER {escape(name)}", percent(value))
    out.add_row("APCER (max)", percent(metrics.apcer_max))
    out.add_row("BPCER", percent(metrics.bpcer))
    out.add_row("ACER", percent(metrics.acer))
    for a, b in metrics.bpcer_at_apcer.items():
        out.add_row(f"BPCER @ APCER {a:g}", percent(b))
    yield out


@eval_app.command("pad")
@friendly
def eval_pad(
    scores: Annotated[
        Path, typer.Argument(help="CSV: score (high = bona fide), attack (0/1), species.")
    ],
    threshold: Annotated[
        float, typer.Option(help="Bona fide when score >= threshold.")
    ] = DEFAULT_PAD_THRESHOLD,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Presentation-attack detection metrics (ISO/IEC 30107-3) from scores."""
    from facescope.evaluate.pad_scores import pad_scores_metrics

    metrics, page = pad_scores_metrics(scores, threshold=threshold, report=report)
    if page is not None:
        note(f"wrote {page}")
    emit(metrics, as_json=as_json, render=_pad_metrics)


@eval_app.command("weather")
@friendly
def eval_weather(
    dataset: Annotated[
        str, typer.Argument(help="Folder per identity, folder with labels.csv, or a CSV.")
    ],
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Weather kinds (repeat; default all): rain, snow, haze, "
            "low_light, motion_blur, noise, jpeg.",
        ),
    ] = None,
    severities: Annotated[
        list[int] | None, typer.Option("--severity", help="Severities 1-5 (repeat; default 1 3 5).")
    ] = None,
    per_identity: Annotated[int, typer.Option(help="Photos per person.")] = 20,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recognition in synthetic weather: degraded, classically restored, and auto-restored."""
    from facescope.weather.evaluate import dataset_crops, evaluate_weather, write_weather_report

    with bars() as progress:
        crops, ids, missed = dataset_crops(
            dataset, per_identity=per_identity, progress=progress.counter("aligning faces")
        )
        done = evaluate_weather(
            crops, ids, kinds=kinds, severities=severities or (1, 3, 5), name=str(dataset),
            progress=progress.counter("conditions"),
        )  # fmt: skip
    for path, reason in missed[:10]:
        skipped(f"{path}: {reason}")
    if report is not None:
        note(f"wrote {write_weather_report(done, report)}")
    emit(done, as_json=as_json, render=lambda d: iter([plain(d.markdown())]))


def register(app: typer.Typer) -> None:
    """Add ``facescope eval`` to `app`."""
    app.add_typer(eval_app, name="eval")
