"""The work behind ``facescope eval``: verify, compare, pad."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from facescope._json import jsonable
from facescope.evaluate.report import Section, percent, table, write_report


def _progress(progress: Callable[[], Progress]) -> Any:
    def wrap(items: Any) -> Any:
        items = list(items)
        with progress() as bar:
            yield from bar.track(items, total=len(items), description="embedding")

    return wrap


def run_eval(
    datasets: Sequence[str],
    *,
    models: Sequence[str],
    pairs: str | None,
    report: Path | None,
    as_json: bool,
    n_boot: int,
    seed: int,
    max_impostor: int | None,
    group: str | None,
    identify: bool,
    cache: Path | None,
    console: Console,
    errors: Console,
    progress: Callable[[], Progress],
) -> list[Any]:
    """Evaluate each dataset with each model; print a summary, write the report."""
    from facescope.evaluate.cache import EmbeddingCache
    from facescope.evaluate.datasets import load_dataset
    from facescope.evaluate.report_builder import evaluation_report
    from facescope.evaluate.run import evaluate

    store = EmbeddingCache(cache) if cache is not None else EmbeddingCache()
    evaluations = []
    for source in datasets:
        dataset = load_dataset(source, pairs=pairs)
        errors.print(
            f"{escape(dataset.name)}: {len(dataset)} images, {len(dataset.subjects)} subjects"
        )
        evaluations.append(
            evaluate(
                dataset,
                models=models,
                n_boot=n_boot,
                seed=seed,
                max_impostor=max_impostor,
                group=group,
                identification=identify,
                cache=store,
                progress=_progress(progress),
            )
        )
    if report is not None:
        page = evaluation_report(evaluations, report)
        errors.print(f"wrote {escape(str(page))} and {escape(str(report / 'metrics.json'))}")
    if as_json:
        print(json.dumps([jsonable(ev.to_dict()) for ev in evaluations], indent=1))
    else:
        _summary(console, evaluations)
    return evaluations


def _summary(console: Console, evaluations: Sequence[Any]) -> None:
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
    console.print(out)


def _ci(value: float, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return percent(value)
    return f"{percent(value)} [{percent(ci[0], 1)}, {percent(ci[1], 1)}]"


def run_pad(
    scores_csv: Path,
    *,
    threshold: float,
    report: Path | None,
    as_json: bool,
    console: Console,
    errors: Console,
) -> Any:
    """ISO/IEC 30107-3 metrics from a CSV of ``score,attack[,species]`` (score high = bona fide)."""
    import numpy as np

    from facescope.evaluate import figures
    from facescope.evaluate.metrics import pad_metrics

    scores, attacks, species = [], [], []
    with Path(scores_csv).open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"score", "attack"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{scores_csv}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                scores.append(float(row["score"]))
            except ValueError:
                raise ValueError(
                    f"{scores_csv}:{line}: score {row['score']!r} is not a number"
                ) from None
            attacks.append(row["attack"].strip().lower() in ("1", "true", "yes", "attack"))
            species.append((row.get("species") or "attack").strip() or "attack")
    is_attack = np.array(attacks, bool)
    metrics = pad_metrics(np.array(scores), is_attack, np.array(species), threshold=threshold)
    if report is not None:
        rows = [[s, percent(v)] for s, v in metrics.apcer_per_species.items()]
        rows += [["APCER (max over species)", percent(metrics.apcer_max)]]
        rows += [["BPCER", percent(metrics.bpcer)], ["ACER", percent(metrics.acer)]]
        rows += [[f"BPCER @ APCER {a:g}", percent(b)] for a, b in metrics.bpcer_at_apcer.items()]
        png = figures.score_figure(
            np.array(scores)[~is_attack], np.array(scores)[is_attack], threshold,
            "PAD scores", ("bona fide", "attack"),
        )  # fmt: skip
        section = Section(
            "Presentation attack detection (ISO/IEC 30107-3)",
            paragraphs=[f"Threshold {threshold}: a score at or above it is taken as bona fide."],
            tables=[table(["metric", "value"], rows)],
            figures=[("PAD scores", png)],
        )
        page = write_report(
            report, f"PAD evaluation: {scores_csv.name}", [section], metrics.to_dict()
        )
        errors.print(f"wrote {escape(str(page))}")
    if as_json:
        print(json.dumps(jsonable(metrics.to_dict()), indent=1))
    else:
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
        console.print(out)
    return metrics
