"""Self-contained HTML evaluation reports (figures embedded) plus JSON metrics.

A report is a list of sections, each a title, HTML paragraphs/tables and PNG
figures; :func:`write_report` writes ``index.html`` (no external files, no
network: images are ``data:`` URIs) and ``metrics.json`` into a folder.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facescope._json import jsonable

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:1em}
.figs img{max-width:520px;border:1px solid #eee}.note{color:#555;font-size:.9em}
"""


@dataclass
class Section:
    """One part of a report."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; floats are formatted, None shows as a dash."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "&ndash;"
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def percent(value: float | None, digits: int = 2) -> str:
    """A rate as a percentage string (dash for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f}%"


def with_ci(value: float, ci: tuple[float, float] | None) -> str:
    """A rate with its confidence interval, as percentages."""
    if ci is None:
        return percent(value)
    return f"{percent(value)} [{percent(ci[0])}, {percent(ci[1])}]"


def render(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The report as one HTML document."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p class='note'>{html.escape(subtitle)} Generated {stamp} by facescope.</p>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{p}</p>" for p in section.paragraphs)
        parts.extend(section.tables)
        if section.figures:
            parts.append("<div class='figs'>")
            for caption, png in section.figures:
                data = base64.b64encode(png).decode("ascii")
                parts.append(
                    f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption class='note'>{html.escape(caption)}</figcaption></figure>"
                )
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    folder: str | Path,
    title: str,
    sections: Sequence[Section],
    metrics: dict[str, Any],
    *,
    subtitle: str = "",
    figures_dir: bool = True,
) -> Path:
    """Write ``index.html`` and ``metrics.json`` (and each figure as a PNG) into `folder`."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    page.write_text(render(title, sections, subtitle=subtitle), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=1), encoding="utf-8")
    if figures_dir:
        for section in sections:
            for caption, png in section.figures:
                slug = "".join(c if c.isalnum() else "_" for c in caption.lower()).strip("_")
                (out / f"{slug[:60]}.png").write_bytes(png)
    return page
