"""``facescope audit``: model-inversion and presentation-attack audits of a deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, PadModelOption, ReportOption, bars, friendly
from facescope.cli.output import emit
from facescope.privacy.audit import DEFAULT_PER_IDENTITY
from facescope.privacy.invert import DEEP_BUDGET, DEFAULT_POOL, SCREENING_BUDGET
from facescope.report.html import percent

if TYPE_CHECKING:
    from facescope.privacy.inversion_audit import InversionAuditRun

audit_app = typer.Typer(
    help="Privacy audits of a deployment's stored embeddings (defensive use).",
    no_args_is_help=True,
)


def _inversion(run: InversionAuditRun) -> Iterator[RenderableType]:
    metrics, name, judges = run.metrics, run.model, run.judges
    summary = Table(title=f"inversion audit of {escape(name)} ({metrics['targets']} embeddings)")
    for column in ("measure", "attack", "pool best", "chance"):
        summary.add_column(column)
    for judge in judges:
        summary.add_row(
            f"transfer success on {judge}",
            percent(metrics.get(f"transfer_asr_{judge}"), 1),
            percent(metrics.get(f"pool_transfer_asr_{judge}"), 1),
            "",
        )
    for who in [*judges, name]:
        if f"rank1_{who}" in metrics:
            summary.add_row(
                f"rank 1 in the {who} gallery",
                percent(metrics[f"rank1_{who}"], 1),
                percent(metrics[f"pool_rank1_{who}"], 1),
                percent(metrics[f"chance_rank1_{who}"], 1),
            )
    summary.add_row(
        f"success on {escape(name)} (attacked)",
        percent(metrics.get("target_asr"), 1),
        percent(metrics.get("pool_target_asr"), 1),
        "",
    )
    yield summary
    yield (
        f"{metrics['queries_per_target']:g} queries and {metrics['seconds_per_target']:g} s "
        f"per embedding; {metrics['seconds']:g} s in all"
    )
    if run.report is not None:
        yield f"report: {escape(str(run.report))}"


@audit_app.command("invert")
@friendly
def audit_invert(
    gallery: Annotated[
        Path | None,
        typer.Option(help="Labelled photos (folder per identity or labels.csv) to attack."),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Stored embeddings: a gallery export (.json) or .npy/.npz."),
    ] = None,
    target: Annotated[
        str, typer.Option(help="Attacked recogniser: sface, dlib, or your embedding URL.")
    ] = "sface",
    model: Annotated[
        str | None,
        typer.Option(
            help="Model of the attacked embeddings (default: the target's; sface for a URL)."
        ),
    ] = None,
    transfer: Annotated[
        list[str] | None,
        typer.Option(
            help="Independent recogniser judging reconstructions (repeat; default: the other "
            "bundled model with --gallery)."
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Target's accept threshold (default: calibrated).")
    ] = None,
    budget: Annotated[
        int | None,
        typer.Option(help=f"Queries per embedding (default {SCREENING_BUDGET}, screening)."),
    ] = None,
    deep: Annotated[
        bool, typer.Option("--deep", help=f"The deep budget: {DEEP_BUDGET} queries.")
    ] = False,
    pool: Annotated[int, typer.Option(help="Prior samples scored once up front.")] = DEFAULT_POOL,
    per_identity: Annotated[
        int, typer.Option(help="Photos attacked per identity; the rest form the gallery.")
    ] = DEFAULT_PER_IDENTITY,
    distractors: Annotated[
        Path | None, typer.Option(help="Other people's photos added to the rank gallery.")
    ] = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the pool and the search.")] = 0,
) -> None:
    """Rebuild faces from embeddings and measure what an attacker would gain.

    Reports transfer success on an independent recogniser, the true identity's
    rank in a gallery, success on the attacked model, queries and seconds, and
    (with --report) an HTML page with target photos beside reconstructions.
    """
    from facescope.privacy.inversion_audit import STAGES, run_inversion_audit

    with bars() as progress:
        run = run_inversion_audit(
            gallery=gallery, embeddings=embeddings, target=target, model=model,
            transfer=transfer, threshold=threshold, budget=budget, deep=deep, pool=pool,
            per_identity=per_identity, distractors=distractors, report=report, seed=seed,
            progress=progress.stages(STAGES),
        )  # fmt: skip
    emit(run, as_json=as_json, render=_inversion)


def _pc(value: float) -> str:
    return f"{100 * value:.1f}%"


def _vulnerability(metrics: dict[str, Any]) -> Iterator[RenderableType]:
    table = Table(
        title=f"IAPMR at FMR {metrics['fmr']:g} ({metrics['model']}, {metrics['spectrum']})"
    )
    for column in ("species", "n", "verification", "+ PAD", "identification", "+ PAD", "APCER"):
        table.add_column(column)
    for kind, m in metrics["species"].items():
        table.add_row(kind, str(m["n"]), _pc(m["iapmr_verification"]),
                      _pc(m["iapmr_verification_with_pad"]), _pc(m["iapmr_identification"]),
                      _pc(m["iapmr_identification_with_pad"]), _pc(m["apcer"]))  # fmt: skip
    yield table
    yield f"threshold {metrics['threshold']:.4f}: {escape(str(metrics['threshold_source']))}"
    bona = metrics.get("bona_fide")
    if bona:
        yield (
            f"bona fide probes: {bona['n']}; FNMR {_pc(bona['fnmr'])}, with PAD "
            f"{_pc(bona['fnmr_with_pad'])} (BPCER {_pc(bona['bpcer'])})"
        )
    if "report" in metrics:
        yield f"report: {escape(str(metrics['report']))}"


@audit_app.command("pad")
@friendly
def audit_pad(
    gallery: Annotated[
        Path, typer.Option(help="Labelled photos (folder per identity or labels.csv).")
    ],
    model: Annotated[str, typer.Option(help="Recogniser: sface or dlib.")] = "sface",
    attacks: Annotated[
        Path | None,
        typer.Option(help="Real attack samples: CSV of path,identity,species (optional)."),
    ] = None,
    probes: Annotated[int, typer.Option(help="Photos per identity held out as probes.")] = 1,
    spectrum: Annotated[
        str, typer.Option(help="Capture spectrum of the presentations: vis or nir (pseudo-NIR).")
    ] = "vis",
    spectral_thresholds: Annotated[
        Path | None,
        typer.Option(help="Per-spectrum-pair thresholds (JSON) for --spectrum nir."),
    ] = None,
    pad_model: PadModelOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic attacks.")] = 0,
) -> None:
    """Present print and replay attacks of enrolled people; IAPMR with and without PAD."""
    from facescope.pad.model import load_model
    from facescope.pad.vulnerability import audit_pad as run_audit

    with bars() as progress:
        audit = run_audit(
            gallery, model=model, attacks=attacks, probes=probes, spectrum=spectrum,
            spectral_thresholds=spectral_thresholds,
            pad_model=None if pad_model is None else load_model(pad_model), seed=seed,
            progress=progress.counter("presenting"),
        )  # fmt: skip
    metrics = audit.metrics()
    if report is not None:
        from facescope.pad.report import write_vulnerability_report

        metrics["report"] = str(write_vulnerability_report(audit, report))
    emit(metrics, as_json=as_json, render=_vulnerability)


def register(app: typer.Typer) -> None:
    """Add ``facescope audit`` to `app`."""
    app.add_typer(audit_app, name="audit")
