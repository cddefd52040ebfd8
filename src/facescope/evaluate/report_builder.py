"""Turn evaluations into the HTML report: tables of ISO metrics with intervals, and figures."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facescope.evaluate import figures
from facescope.report.html import Section, percent, table, with_ci, write_report

if TYPE_CHECKING:
    from facescope.evaluate.run import Evaluation


def licence_notes(models: Sequence[str]) -> list[str]:
    """One line per opt-in recogniser among `models`, naming its licence (shown in reports)."""
    from facescope.embed.recognizers import GATED_RECOGNIZERS
    from facescope.models.consent import gate

    notes = []
    for model in models:
        if model in GATED_RECOGNIZERS:
            found = gate(GATED_RECOGNIZERS[model])
            notes.append(
                f"{model}: opt-in weights under their own licence ({found.licence}); "
                f"enabled in this data folder with `{found.enable_command}`."
            )
    return notes


def _verification_section(ev: Evaluation) -> Section | None:
    curves = {m: r.verification for m, r in ev.results.items() if r.verification is not None}
    if not curves:
        return None
    fars = ev.settings["far_targets"]
    headers = ["model", "EER"] + [f"TAR @ FMR {f:g}" for f in fars] + ["AUC"]
    rows = []
    for model, m in curves.items():
        row: list[Any] = [model, with_ci(m.eer, m.ci.get("eer"))]
        for far in fars:
            cell = with_ci(m.tar_at_far[far], m.ci.get(f"tar@{far:g}"))
            if not m.resolvable.get(far, True):
                cell += " (below 1/N impostors)"
            row.append(cell)
        row.append(f"{m.auc:.4f}")
        rows.append(row)
    thresholds = [[model] + [f"{m.thresholds[f]:.4f}" for f in fars] for model, m in curves.items()]
    shipped = [
        [model, f"{point['fmr_target']:g}", f"{point['threshold']:.4f}",
         percent(point["fmr"]), percent(point["fnmr"])]
        for model, r in ev.results.items()
        for point in r.at_shipped
    ]  # fmt: skip
    source = ev.settings.get("fusion_calibration") or "the bundled thresholds"
    section = Section(
        f"Verification: {ev.dataset}",
        paragraphs=[
            f"{ev.n_genuine:,} genuine and {ev.n_impostor:,} impostor comparisons over "
            f"{ev.n_images} images of {ev.n_subjects} subjects. Failure to acquire: "
            f"{percent(ev.fta)} ({len(ev.failures)} images); their comparisons count as "
            "non-matches at every threshold. Intervals: 95% bootstrap over identities "
            f"({ev.settings['bootstrap']} draws)."
            if ev.settings["bootstrap"]
            else "",
            *licence_notes(list(ev.results)),
        ],
        tables=[
            table(headers, rows),
            "<p class='note'>At the thresholds a deployment uses (calibrated beforehand, "
            f"from {escape(str(source))}; not fitted on this data): the FMR and FNMR "
            "measured here. A measured FMR far above its target means the shipped "
            "threshold does not hold on this data.</p>"
            + table(["model", "FMR target", "threshold", "measured FMR", "FNMR"], shipped)
            if shipped
            else "",
            "<p class='note'>Thresholds re-fitted on this data's impostors at each FMR "
            "(what the TAR columns above use; optimistic for a deployment):</p>"
            + table(["model"] + [f"FMR {f:g}" for f in fars], thresholds),
        ],
        figures=[
            (f"DET {ev.dataset}", figures.det_figure(curves, f"DET: {ev.dataset}")),
            (f"ROC {ev.dataset}", figures.roc_figure(curves, f"ROC: {ev.dataset}")),
        ],
    )
    for model, r in ev.results.items():
        if r.verification is not None and len(r.genuine) and len(r.impostor):
            threshold = r.verification.thresholds.get(1e-3)
            section.figures.append(
                (
                    f"scores {model} {ev.dataset}",
                    figures.score_figure(
                        r.genuine, r.impostor, threshold, f"{model} scores ({ev.dataset})"
                    ),
                )
            )
    return section


def _identification_section(ev: Evaluation) -> Section | None:
    curves = {m: r.identification for m, r in ev.results.items() if r.identification}
    if not curves:
        return None
    fpirs = ev.settings["fpir_targets"]
    ranks = sorted({k for m in curves.values() for k in m.rank_k})
    headers = ["model"] + [f"rank-{k}" for k in ranks] + [f"FNIR @ FPIR {f:g}" for f in fpirs]
    rows = [
        [model]
        + [percent(m.rank_k.get(k)) for k in ranks]
        + [percent(m.fnir_at_fpir.get(f)) for f in fpirs]
        for model, m in curves.items()
    ]
    p = ev.identification_protocol
    return Section(
        f"Identification (open set): {ev.dataset}",
        paragraphs=[
            _gallery_sentence(p) + f" {p.get('probes')} probes, of which "
            f"{p.get('probes_mated')} are mated; the others belong to subjects never enrolled "
            "(a seeded half of the subjects). Rank-k is closed-set over mated probes; FNIR "
            "counts a mated probe missed unless its subject is first and above the threshold."
        ],
        tables=[table(headers, rows)],
        figures=[
            (f"CMC {ev.dataset}", figures.cmc_figure(curves, f"CMC: {ev.dataset}")),
            (f"FNIR-FPIR {ev.dataset}", figures.fnir_figure(curves, f"open set: {ev.dataset}")),
        ],
    )


def _gallery_sentence(p: dict[str, int]) -> str:
    images, enrolled = p.get("gallery_images", 0), p.get("gallery_enrolled", 0)
    text = f"Gallery: one image of each of {images} enrolled subjects"
    if enrolled == images:
        return text + ", every one with a usable face."
    return text + f"; {images - enrolled} had no usable face, so {enrolled} were enrolled."


def settings_text(settings: dict[str, Any]) -> str:
    """The evaluation's settings as a sentence a reader can follow."""
    parts = []
    if settings.get("fmr_targets"):
        parts.append("FMR targets " + ", ".join(f"{f:g}" for f in settings["fmr_targets"]))
    if settings.get("fpir_targets"):
        parts.append("FPIR targets " + ", ".join(f"{f:g}" for f in settings["fpir_targets"]))
    boot = settings.get("bootstrap")
    parts.append(f"{boot} bootstrap draws" if boot else "no bootstrap intervals")
    parts.append(f"seed {settings.get('seed')}")
    if settings.get("max_impostor"):
        parts.append(f"at most {settings['max_impostor']:,} impostor pairs (sampled)")
    else:
        parts.append("every impostor pair")
    if settings.get("fusion_calibration"):
        parts.append(f"thresholds and fusion from {settings['fusion_calibration']}")
    return "; ".join(parts)


def _duplicates_section(evaluations: Sequence[Evaluation]) -> Section | None:
    rows = [
        [ev.dataset, len(group), ", ".join(group[:6]) + (" ..." if len(group) > 6 else "")]
        for ev in evaluations
        for group in ev.duplicates
    ]
    if not rows:
        return None
    return Section(
        "Duplicate images",
        paragraphs=[
            "Byte-identical image files under different names. A copy within one subject "
            "adds a genuine pair scoring a perfect match; a copy under two subjects is a "
            "labelling error that adds an impostor pair scoring a perfect match. Remove "
            "the copies for a fair measurement."
        ],
        tables=[table(["dataset", "copies", "files"], rows[:100])],
    )


def _fairness_section(ev: Evaluation) -> Section | None:
    rows = []
    for model, r in ev.results.items():
        if not r.fairness:
            continue
        for name, values in r.fairness.get("per_group", {}).items():
            rows.append([model, name] + [values.get(k) for k in ("fmr", "fnmr", "eer")])
        ratios = r.fairness.get("worst_to_best", {})
        rows.append([model, "worst / best"] + [ratios.get(k) for k in ("fmr", "fnmr", "eer")])
    if not rows:
        return None
    return Section(
        f"Differential performance: {ev.dataset}",
        paragraphs=["FMR and FNMR per group at one common threshold (FMR 1e-3 overall)."],
        tables=[table(["model", "group", "FMR", "FNMR", "EER"], rows)],
    )


def _failures_section(evaluations: Sequence[Evaluation]) -> Section:
    rows = []
    for ev in evaluations:
        for path, reason in sorted(ev.failures.items())[:50]:
            rows.append([ev.dataset, path, reason])
    return Section(
        "Failures to acquire",
        paragraphs=[
            "Images in which no usable face was found (first 50 per dataset). They are "
            "counted in every rate above, never dropped."
            if rows
            else "None: a face was found in every image."
        ],
        tables=[table(["dataset", "image", "reason"], rows)] if rows else [],
    )


def _summary(evaluations: Sequence[Evaluation]) -> Section:
    rows = []
    for ev in evaluations:
        for model, r in ev.results.items():
            v, i = r.verification, r.identification
            rows.append(
                [
                    ev.dataset,
                    model,
                    percent(ev.fta),
                    percent(v.eer) if v else None,
                    percent(v.tar_at_far.get(1e-3)) if v else None,
                    percent(i.rank_k.get(1)) if i else None,
                    percent(i.fnir_at_fpir.get(0.01)) if i else None,
                ]
            )
    return Section(
        "Summary",
        tables=[
            table(
                ["dataset", "model", "FTA", "EER", "TAR @ FMR 1e-3", "rank-1", "FNIR @ FPIR 1%"],
                rows,
            )
        ],
    )


def evaluation_report(
    evaluations: Sequence[Evaluation], folder: str | Path, *, title: str | None = None
) -> Path:
    """Write one report for one or several evaluations (side by side in the summary)."""
    sections = [_summary(evaluations)]
    for ev in evaluations:
        for build in (_verification_section, _identification_section, _fairness_section):
            section = build(ev)
            if section is not None:
                sections.append(section)
    duplicates = _duplicates_section(evaluations)
    if duplicates is not None:
        sections.append(duplicates)
    sections.append(_failures_section(evaluations))
    names = ", ".join(ev.dataset for ev in evaluations)
    metrics = {"evaluations": [ev.to_dict() for ev in evaluations]}
    subtitle = "ISO/IEC 19795-1 metrics. Settings: " + settings_text(evaluations[0].settings) + "."
    return write_report(
        folder, title or f"facescope evaluation: {names}", sections, metrics, subtitle=subtitle
    )
