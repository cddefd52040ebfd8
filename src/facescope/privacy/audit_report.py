"""HTML report of a model-inversion audit (through :mod:`facescope.report.html`).

Leads with what an attacker gains on an *independent* recogniser (transfer
success) and the true identity's rank in a gallery, each beside the baselines
that need no search (the best pre-scored pool sample, a random prior face) and
chance; then success against the query budget, a grid of target photos beside
their reconstructions, and a per-target table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facescope.privacy.audit import InversionAudit
from facescope.report.html import Section, percent, table, write_report

#: Targets shown in the reconstruction grid.
GRID_TARGETS = 24
TILE = 112


def write_audit_report(audit: InversionAudit, folder: str | Path, *, title: str = "") -> Path:
    """Write ``index.html``, ``metrics.json`` and the figures into `folder`; return the page."""
    metrics = audit.metrics()
    sections = [
        _summary(audit, metrics),
        _budget(audit, metrics),
        _grid(audit),
        _per_target(audit),
        _method(audit, metrics),
    ]
    heading = title or f"Model-inversion audit of {audit.target}"
    subtitle = (
        f"{metrics['targets']} attacked embeddings of {metrics['identities']} identities; "
        f"budget {audit.budget} queries per embedding after a pool of {audit.pool_size}; "
        f"accepted = at the model's threshold for FMR {audit.fmr:g}."
    )
    return write_report(folder, heading, sections, metrics, subtitle=subtitle)


def _summary(audit: InversionAudit, m: dict[str, Any]) -> Section:
    rows: list[list[Any]] = []
    for model in audit.transfer:
        rows.append(
            [
                f"transfer success on {model} (independent)",
                percent(m.get(f"transfer_asr_{model}")),
                percent(m.get(f"pool_transfer_asr_{model}")),
                "-",
                "-",
            ]
        )
    for model in [*audit.transfer, audit.target]:
        if f"rank1_{model}" not in m:
            continue
        rows.append(
            [
                f"true identity at rank 1 in the {model} gallery "
                f"({m[f'gallery_identities_{model}']} identities)",
                percent(m[f"rank1_{model}"]),
                percent(m[f"pool_rank1_{model}"]),
                "-",
                percent(m[f"chance_rank1_{model}"]),
            ]
        )
        rows.append(
            [
                f"median rank of the true identity ({model})",
                f"{m[f'median_rank_{model}']:g}",
                f"{m[f'pool_median_rank_{model}']:g}",
                "-",
                f"{(m[f'gallery_identities_{model}'] + 1) / 2:g}",
            ]
        )
    rows.append(
        [
            f"success on the attacked model {audit.target}",
            percent(m.get("target_asr")),
            percent(m.get("pool_target_asr")),
            percent(m.get("random_target_asr")),
            "-",
        ]
    )
    if "pipeline_detect_rate" in m:
        rows.append(
            [
                "reconstruction found by the face detector",
                percent(m["pipeline_detect_rate"]),
                "-",
                "-",
                "-",
            ]
        )
        for model in [audit.target, *audit.transfer]:
            if m.get(f"pipeline_asr_{model}") is not None:
                rows.append(
                    [
                        f"success on {model} through detect + align + embed",
                        percent(m[f"pipeline_asr_{model}"]),
                        "-",
                        "-",
                        "-",
                    ]
                )
    lead = []
    for model in audit.transfer:
        lead.append(
            f"A reconstruction from a stolen <b>{html.escape(audit.target)}</b> embedding is "
            f"accepted as the same person by the independent <b>{html.escape(model)}</b> "
            f"recogniser for <b>{percent(m.get(f'transfer_asr_{model}'), 1)}</b> of targets "
            f"(the best pool sample, with no search: "
            f"{percent(m.get(f'pool_transfer_asr_{model}'), 1)})."
        )
    lead.append(
        "Success on the attacked model itself saturates quickly (the search optimises "
        "exactly that score) and on its own says little about the risk: a reconstruction "
        "that fools only the model it was fitted to is an adversarial example, not a face "
        "of the person. Transfer success and rank are the informative figures."
    )
    return Section(
        "Summary",
        paragraphs=lead,
        tables=[
            table(
                ["measure", "attack", "pool best (no search)", "random prior face", "chance"], rows
            )
        ],
    )


def _budget(audit: InversionAudit, m: dict[str, Any]) -> Section:
    curve = audit.curve
    if not curve:
        return Section("Success against the query budget", ["no checkpoints were recorded"])
    models = [audit.target, *audit.transfer]
    rows = [
        [f"{queries}", *[percent(curve[queries].get(model)) for model in models]]
        for queries in sorted(curve)
    ]
    return Section(
        "Success against the query budget",
        paragraphs=[
            f"Queries per embedding: {m['queries_per_target']:g} (after the shared pool of "
            f"{audit.pool_size}, scored once in {m['pool_seconds']:g} s); "
            f"{m['seconds_per_target']:g} s of search per embedding, batched across targets; "
            f"{m['seconds']:g} s for the whole audit."
        ],
        tables=[table(["queries", *[f"success on {model}" for model in models]], rows)],
        figures=[("success rate against queries", _curve_png(audit))],
    )


def _curve_png(audit: InversionAudit) -> bytes:
    from facescope.report.figures import png, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    queries = sorted(audit.curve)
    xs = [max(q, 1) for q in queries]
    for model in [audit.target, *audit.transfer]:
        ys = [audit.curve[q].get(model) for q in queries]
        if all(y is not None for y in ys):
            kind = "attacked" if model == audit.target else "transfer"
            ax.plot(
                xs, [100 * float(y) for y in ys if y is not None], "o-", label=f"{model} ({kind})"
            )
    ax.set_xscale("log")
    ax.set_xlabel("queries per embedding (0 = best pool sample)")
    ax.set_ylabel(f"accepted at FMR {audit.fmr:g} (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend()
    return png(fig)


def _square(photo: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    image = photo if photo.ndim == 3 else np.repeat(photo[:, :, None], 3, axis=2)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[top : top + side, left : left + side, :3]
    return np.ascontiguousarray(cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA))


def _strip(text: str, ok: bool | None) -> npt.NDArray[np.uint8]:
    """A 16 px caption bar: grey (no verdict), green (accepted) or red (not)."""
    colour = (60, 60, 60) if ok is None else ((30, 160, 30) if ok else (200, 40, 40))
    bar = np.empty((16, TILE, 3), np.uint8)
    bar[:] = colour
    cv2.putText(bar, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1)
    return bar


def grid_image(audit: InversionAudit, limit: int = GRID_TARGETS) -> npt.NDArray[np.uint8]:
    """Target photo | reconstruction pairs, labelled with scores (green: accepted)."""
    judge = audit.transfer[0] if audit.transfer else None
    threshold_t = audit.thresholds.get(audit.target)
    threshold_j = audit.thresholds.get(judge) if judge else None
    tiles = []
    for i, attempt in enumerate(audit.attempts[:limit]):
        score = attempt.inversion.score
        ok = None if threshold_t is None else score >= threshold_t
        parts = [attempt.inversion.aligned, _strip(f"{audit.target[:12]} {score:.2f}", ok)]
        if judge is not None:
            transfer = attempt.transfer_scores[judge]
            passed = None if threshold_j is None else transfer >= threshold_j
            parts.append(_strip(f"{judge} {transfer:.2f}", passed))
        recon = np.concatenate(parts)
        pair = [recon]
        if audit.photos is not None:
            photo = np.concatenate([_square(audit.photos[i]), _strip(attempt.identity[:18], None)])
            blank = np.full((len(recon) - len(photo), TILE, 3), 255, np.uint8)
            pair.insert(0, np.concatenate([photo, blank]))
        tiles.append(np.concatenate(pair, axis=1))
    if not tiles:
        return np.full((TILE, TILE, 3), 255, np.uint8)
    columns = min(len(tiles), 4 if audit.photos is not None else 8)
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (height + 6), columns * (width + 10), 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        y, x = (k // columns) * (height + 6), (k % columns) * (width + 10)
        canvas[y : y + height, x : x + width] = tile
    return canvas


def _grid(audit: InversionAudit) -> Section:
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid_image(audit), cv2.COLOR_RGB2BGR))
    shown = min(len(audit.attempts), GRID_TARGETS)
    note = (
        "Each pair: the attacked photo (left) and the reconstruction from its embedding "
        "alone (right), with its score on the attacked model and on the transfer model; "
        "green = accepted at the threshold, red = not."
        if audit.photos is not None
        else "Reconstructions from the embeddings alone (no photos were given)."
    )
    return Section(
        f"Reconstructions (first {shown})",
        paragraphs=[note],
        figures=[("target photos and reconstructions", png.tobytes())] if ok else [],
    )


def _per_target(audit: InversionAudit) -> Section:
    models = [audit.target, *audit.transfer]
    headers = [
        "identity",
        "source",
        "queries",
        "seconds",
        f"{audit.target} score",
        *[f"{m} score" for m in audit.transfer],
        *[f"rank ({m})" for m in models],
        "detected",
    ]
    rows = []
    for attempt in audit.attempts:
        rows.append(
            [
                attempt.identity,
                Path(attempt.source).name,
                attempt.inversion.queries,
                round(attempt.inversion.seconds, 2),
                round(attempt.inversion.score, 3),
                *[round(attempt.transfer_scores[m], 3) for m in audit.transfer],
                *[attempt.ranks.get(m) for m in models],
                "-"
                if attempt.pipeline_found is None
                else ("yes" if attempt.pipeline_found else "no"),
            ]
        )
    return Section("Per target", tables=[table(headers, rows)])


def _method(audit: InversionAudit, m: dict[str, Any]) -> Section:
    thresholds = ", ".join(
        f"{model} {value:.4f}" for model, value in audit.thresholds.items() if value is not None
    )
    return Section(
        "Method and intended use",
        paragraphs=[
            "Training-free inversion: a fixed face generator (the bundled DCGAN prior) is "
            f"sampled {audit.pool_size} times, each sample is embedded once by the attacked "
            "model, the closest samples seed a CMA-ES search in the generator's latent space "
            "that only queries the model as a black box (gradients when it is a torch "
            "module), and every generated face is aligned into the model's input format. "
            "Nothing is trained per model or per identity.",
            f"Thresholds (FMR {audit.fmr:g}): {html.escape(thresholds or 'none')}. Rank: the "
            "reconstruction is searched among the gallery's identities (the attacked "
            "photo itself is never in the gallery). The pipeline check upscales each "
            "reconstruction 4x, pads it into a frame, and runs detection, alignment and "
            "embedding as a deployment would.",
            "This audit is a defensive tool: run it on embeddings you are responsible for, "
            "to decide how to store and protect them (see cancelable templates).",
        ],
    )
