"""One HTML report of what protected templates cost and what they buy.

Cost: verification accuracy (TAR at FMR 1e-3, EER) of raw embeddings against
each protection scheme, plus unlinkability across keys. Benefit: the
model-inversion audit (:func:`~facescope.privacy.audit_inversion`) run on raw
templates and on protected ones, with the key unknown and known to the
attacker. Both come in as plain metrics (the cost rows from
``benchmarks/bench_protection.py``, the audits' ``metrics.json``), so the
report can be rebuilt without re-running either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facescope.report.html import Section, percent, table, write_report

#: The inversion scenarios the report knows, in display order: (stored templates, attacker).
SCENARIOS: dict[str, tuple[str, str]] = {
    "raw": ("raw embeddings", "inverts them as the model's embeddings"),
    "protected-key-unknown": (
        "keyed rotation, key unknown",
        "inverts them as if they were raw embeddings",
    ),
    "protected-key-known": (
        "512-bit keyed codes, key known",
        "inverts through model + code, at the codes' own threshold",
    ),
}


@dataclass(frozen=True)
class SchemeCost:
    """Verification accuracy of one template scheme under one model."""

    model: str
    scheme: str
    tar: float
    eer: float
    cross_eer: float | None = None


def _scenario_row(name: str, m: Mapping[str, Any], transfer: str, gallery: str) -> list[Any]:
    stored, attacker = SCENARIOS.get(name, (name, "-"))
    chance = m.get(f"chance_rank1_{gallery}")
    return [
        stored,
        attacker,
        f"{m.get('targets', '-')}",
        f"{m.get('queries_per_target', float('nan')):.0f}",
        percent(m.get("target_asr"), 1),
        percent(m.get(f"transfer_asr_{transfer}"), 1),
        percent(m.get(f"pool_transfer_asr_{transfer}"), 1),
        percent(m.get(f"rank1_{gallery}"), 1),
        percent(m.get(f"pool_rank1_{gallery}"), 1),
        percent(chance, 1),
    ]


def _figure(costs: Sequence[SchemeCost], audits: Mapping[str, Mapping[str, Any]], transfer: str,
            gallery: str) -> bytes:  # fmt: skip
    from facescope.report.figures import png, pyplot

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    models = list(dict.fromkeys(c.model for c in costs))
    schemes = list(dict.fromkeys(c.scheme for c in costs))
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        values = {c.scheme: c.tar for c in costs if c.model == model}
        xs = [i + k * width for i in range(len(schemes))]
        left.bar(xs, [100 * values.get(s, float("nan")) for s in schemes], width, label=model)
    left.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(schemes))])
    left.set_xticklabels(schemes, rotation=20, ha="right")
    left.set_ylabel("TAR at FMR 1e-3 (%)")
    left.set_title("cost: verification accuracy")
    left.set_ylim(0, 100)
    left.legend()
    names = [n for n in SCENARIOS if n in audits] + [n for n in audits if n not in SCENARIOS]
    labels = [SCENARIOS.get(n, (n, ""))[0] for n in names]
    series = [
        (f"transfer success on {transfer}", f"transfer_asr_{transfer}"),
        (f"rank-1 on the {gallery} gallery", f"rank1_{gallery}"),
    ]
    width = 0.8 / len(series)
    for k, (label, key) in enumerate(series):
        xs = [i + k * width for i in range(len(names))]
        ys = [100 * float(audits[n].get(key, float("nan"))) for n in names]
        right.bar(xs, ys, width, label=label)
    right.set_xticks([i + width / 2 for i in range(len(names))])
    right.set_xticklabels(labels, rotation=20, ha="right")
    right.set_ylabel("attacker's success (%)")
    right.set_title("benefit: model inversion (lower is better)")
    right.set_ylim(0, 100)
    right.legend()
    fig.tight_layout()
    return png(fig)


def write_protection_report(
    costs: Sequence[SchemeCost],
    audits: Mapping[str, Mapping[str, Any]],
    folder: str | Path,
    *,
    missing: Mapping[str, str] | None = None,
) -> Path:
    """Write ``index.html`` + ``metrics.json`` combining cost and benefit; return the page.

    `audits` maps a scenario name (keys of :data:`SCENARIOS`, or your own) to an
    inversion audit's metrics; `missing` maps scenarios not run to the command
    that produces them, so the report says what it lacks instead of hiding it.
    """
    if not costs and not audits:
        raise ValueError("nothing to report: no cost rows and no inversion audits")
    first = next(iter(audits.values()), {})
    transfer = next(iter(first.get("transfer", ["dlib"])), "dlib")
    gallery = transfer  # every scenario ranks on the independent model's gallery
    cost_rows = [
        [
            c.model,
            c.scheme,
            percent(c.tar),
            percent(c.eer),
            "-" if c.cross_eer is None else percent(c.cross_eer, 1),
        ]
        for c in costs
    ]
    cost = Section(
        "Cost: verification accuracy",
        paragraphs=[
            "Thresholds are set on each scheme's own impostor scores. Cross-key EER compares "
            "the same faces protected under two different keys: 50% means templates from two "
            "deployments cannot be linked."
        ],
        tables=[table(["model", "scheme", "TAR @ FMR 1e-3", "EER", "cross-key EER"], cost_rows)],
    )
    names = [n for n in SCENARIOS if n in audits] + [n for n in audits if n not in SCENARIOS]
    benefit_rows = [_scenario_row(n, audits[n], transfer, gallery) for n in names]
    headers = [
        "stored templates",
        "attacker",
        "targets",
        "queries",
        "success on the stored template",
        f"transfer success on {transfer}",
        "pool-best transfer",
        f"rank-1 on the {gallery} gallery",
        "pool-best rank-1",
        "chance rank-1",
    ]
    paragraphs = [
        f"Model inversion of stored templates (training-free DCGAN prior + CMA-ES). The "
        f"informative figures are transfer success on an independent recogniser "
        f"({transfer}) and the true identity's rank in a {gallery} gallery (other photos of "
        "the attacked people plus distractor identities): success on the stored template "
        "itself only says the search fit that vector."
    ]
    for name, command in (missing or {}).items():
        label = SCENARIOS.get(name, (name, ""))[0]
        paragraphs.append(f"Not measured in this report: {label}. Run <code>{command}</code>.")
    benefit = Section(
        "Benefit: model inversion",
        paragraphs=paragraphs,
        tables=[table(headers, benefit_rows)] if benefit_rows else [],
        figures=[("cost and benefit", _figure(costs, audits, transfer, gallery))],
    )
    metrics = {
        "costs": [asdict(c) for c in costs],
        "audits": {n: {k: v for k, v in m.items() if k != "curve"} for n, m in audits.items()},
        "missing": dict(missing or {}),
    }
    return write_report(
        folder,
        "Protected templates: cost and benefit",
        [cost, benefit],
        metrics,
        subtitle="Cancelable templates measured for accuracy and against model inversion.",
    )
