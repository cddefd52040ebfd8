"""HTML report of the PAD vulnerability audit (through :mod:`facescope.report.html`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facescope.pad.vulnerability import VulnerabilityAudit
from facescope.report.html import Section, percent, table, write_report


def _figure(metrics: dict[str, Any]) -> bytes:
    from facescope.report.figures import png, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    kinds = list(metrics["species"])
    series = [
        ("verification", "iapmr_verification"),
        ("verification + PAD", "iapmr_verification_with_pad"),
        ("identification", "iapmr_identification"),
        ("identification + PAD", "iapmr_identification_with_pad"),
    ]
    width = 0.8 / len(series)
    for k, (label, key) in enumerate(series):
        xs = [i + k * width for i in range(len(kinds))]
        ax.bar(xs, [100 * metrics["species"][s][key] for s in kinds], width, label=label)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(kinds))])
    ax.set_xticklabels(kinds)
    ax.set_ylabel(f"IAPMR at FMR {metrics['fmr']:g} (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    return png(fig)


def write_vulnerability_report(audit: VulnerabilityAudit, folder: str | Path) -> Path:
    """Write ``index.html`` + ``metrics.json``; return the page."""
    m = audit.metrics()
    rows = [
        [kind, s["n"], percent(s["iapmr_verification"], 1),
         percent(s["iapmr_verification_with_pad"], 1), percent(s["iapmr_identification"], 1),
         percent(s["iapmr_identification_with_pad"], 1), percent(s["apcer"], 1),
         percent(s["no_face"], 1)]
        for kind, s in m["species"].items()
    ]  # fmt: skip
    headers = ["species", "attacks", "IAPMR verification", "with PAD", "IAPMR identification",
               "with PAD", "APCER (PAD)", "no face found"]  # fmt: skip
    paragraphs = [
        f"{m['identities']} enrolled identities; recogniser {m['model']} at its FMR "
        f"{m['fmr']:g} threshold ({m['threshold']:.4f}: {m['threshold_source']}); "
        f"PAD threshold {m['pad_threshold']:.4f}; "
        f"presentations captured in {m['spectrum'].upper()}.",
        "IAPMR (ISO/IEC 30107-3): share of attack presentations accepted as the targeted "
        "person. Identification counts an attack when the top candidate is the target and "
        "passes the threshold. With PAD, an attack must also be judged live.",
    ]
    sections = [Section("Attacks against the recogniser", paragraphs, [table(headers, rows)],
                        [("IAPMR per species", _figure(m))] if m["species"] else [])]  # fmt: skip
    bona = m.get("bona_fide")
    if bona:
        sections.append(
            Section(
                "Cost for bona fide users",
                [f"{bona['n']} bona fide probes of enrolled people."],
                [
                    table(
                        ["FNMR", "FNMR with PAD", "BPCER (PAD)"],
                        [
                            [
                                percent(bona["fnmr"], 1),
                                percent(bona["fnmr_with_pad"], 1),
                                percent(bona["bpcer"], 1),
                            ]
                        ],
                    )
                ],
            )
        )
    detail = [
        [p.identity, p.species, p.origin, "-" if p.score is None else f"{p.score:.3f}",
         p.top_identity or "-", "-" if p.live_probability is None else f"{p.live_probability:.3f}"]
        for p in audit.presentations
    ]  # fmt: skip
    sections.append(
        Section(
            "Every presentation",
            tables=[
                table(
                    [
                        "identity",
                        "species",
                        "origin",
                        "score vs claimed",
                        "top candidate",
                        "p(live)",
                    ],
                    detail,
                )
            ],
        )
    )
    return write_report(folder, "Presentation-attack vulnerability audit", sections, m)


__all__ = ["write_vulnerability_report"]
