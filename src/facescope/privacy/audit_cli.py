"""``facescope audit invert``: the model-inversion audit from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from facescope.evaluate.report import percent
from facescope.privacy.audit import AuditError, audit_inversion, targets_from_file
from facescope.privacy.audit import targets_from_folder as folder_targets
from facescope.privacy.invert import DEEP_BUDGET, SCREENING_BUDGET

BUNDLED = ("sface", "dlib")
STAGES = {"pool": "scoring the prior pool", "search": "searching", "scoring": "scoring"}


def run_invert_audit(
    *,
    gallery: Path | None,
    embeddings: Path | None,
    target: str,
    model: str | None,
    transfer: Sequence[str] | None,
    threshold: float | None,
    budget: int | None,
    deep: bool,
    pool: int,
    per_identity: int,
    distractors: Path | None,
    report: Path | None,
    as_json: bool,
    seed: int,
    console: Console,
    progress: Callable[[], Progress],
) -> dict[str, Any]:
    """Run the audit as the CLI describes it; print a summary, write the report."""
    if (gallery is None) == (embeddings is None):
        raise AuditError("give exactly one of --gallery (photos) or --embeddings (a file)")
    if budget is not None and deep:
        raise AuditError("--budget and --deep are exclusive (--deep is --budget 4000)")
    spent = budget if budget is not None else (DEEP_BUDGET if deep else SCREENING_BUDGET)
    remote = target.startswith(("http://", "https://"))
    if not remote and target not in BUNDLED:
        raise AuditError(f"unknown target {target!r}: use sface, dlib or an http(s):// URL")
    if remote and threshold is None:
        raise AuditError("a remote target needs --threshold (its acceptance threshold)")
    name = model or (target if not remote else "sface")
    if transfer is None:
        transfer = [m for m in BUNDLED if m != name] if gallery is not None else []
    for other in transfer:
        if other not in BUNDLED:
            raise AuditError(f"unknown transfer model {other!r}: use sface or dlib")
    judges = [m for m in dict.fromkeys(transfer) if m != name]
    with progress() as bar:
        tasks: dict[str, Any] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        if gallery is not None:

            def embedding_progress(items: Any) -> Any:
                items = list(items)
                yield from bar.track(items, total=len(items), description="embedding photos")

            targets = folder_targets(
                gallery,
                [name, *judges],
                per_identity=per_identity,
                distractors=distractors,
                progress=embedding_progress,
            )
        else:
            assert embeddings is not None
            if judges:
                raise AuditError(
                    "--transfer needs photos (--gallery): an embeddings file has none to judge by"
                )
            targets, name = targets_from_file(embeddings, model)
        audit = audit_inversion(
            targets,
            target if remote else name,
            target_name=name,
            transfer=judges,
            threshold=threshold,
            budget=spent,
            pool_size=pool,
            seed=seed,
            progress=step,
        )
    metrics = audit.metrics()
    if report is not None:
        from facescope.privacy.audit_report import write_audit_report

        page = write_audit_report(audit, report)
        metrics["report"] = str(page)
    if as_json:
        console.print_json(json.dumps(metrics, default=str))
        return metrics
    summary = Table(title=f"inversion audit of {name} ({metrics['targets']} embeddings)")
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
        f"success on {name} (attacked)",
        percent(metrics.get("target_asr"), 1),
        percent(metrics.get("pool_target_asr"), 1),
        "",
    )
    console.print(summary)
    console.print(
        f"{metrics['queries_per_target']:g} queries and {metrics['seconds_per_target']:g} s "
        f"per embedding; {metrics['seconds']:g} s in all"
    )
    if report is not None:
        console.print(f"report: {metrics['report']}")
    return metrics
