"""ISO/IEC 30107-3 metrics of any PAD system from a CSV of its scores: ``facescope eval pad``.

The CSV has a header with ``score`` (high = bona fide) and ``attack`` (1/true/yes/attack
for attack presentations), and optionally ``species`` (the PAI species of an attack).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facescope.evaluate.defaults import DEFAULT_PAD_THRESHOLD
from facescope.evaluate.metrics import PADMetrics, pad_metrics
from facescope.report.html import Section, percent, table, write_report


def read_pad_scores(
    path: str | os.PathLike[str],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.str_]]:
    """Scores, attack flags and species of a ``score,attack[,species]`` CSV.

    Raises:
        ValueError: a column is missing or a score is not a number (naming file and line).
        OSError: the file cannot be read.
    """
    scores, attacks, species = [], [], []
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"score", "attack"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                scores.append(float(row["score"]))
            except ValueError:
                raise ValueError(f"{path}:{line}: score {row['score']!r} is not a number") from None
            attacks.append(row["attack"].strip().lower() in ("1", "true", "yes", "attack"))
            species.append((row.get("species") or "attack").strip() or "attack")
    return np.array(scores, np.float64), np.array(attacks, bool), np.array(species)


def pad_scores_metrics(
    path: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_PAD_THRESHOLD,
    report: str | Path | None = None,
) -> tuple[PADMetrics, Path | None]:
    """The metrics of the scores in `path`; with `report`, also an HTML page (returned)."""
    from facescope.evaluate import figures

    scores, is_attack, species = read_pad_scores(path)
    metrics = pad_metrics(scores, is_attack, species, threshold=threshold)
    if report is None:
        return metrics, None
    rows = [[s, percent(v)] for s, v in metrics.apcer_per_species.items()]
    rows += [["APCER (max over species)", percent(metrics.apcer_max)]]
    rows += [["BPCER", percent(metrics.bpcer)], ["ACER", percent(metrics.acer)]]
    rows += [[f"BPCER @ APCER {a:g}", percent(b)] for a, b in metrics.bpcer_at_apcer.items()]
    png = figures.score_figure(
        scores[~is_attack], scores[is_attack], threshold, "PAD scores", ("bona fide", "attack")
    )
    section = Section(
        "Presentation attack detection (ISO/IEC 30107-3)",
        paragraphs=[f"Threshold {threshold}: a score at or above it is taken as bona fide."],
        tables=[table(["metric", "value"], rows)],
        figures=[("PAD scores", png)],
    )
    page = write_report(report, f"PAD evaluation: {Path(path).name}", [section], metrics.to_dict())
    return metrics, page
