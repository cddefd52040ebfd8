"""Figures for evaluation reports: ROC, DET (normal-deviate axes), CMC, FNIR-FPIR, scores.

Each function returns a PNG as bytes (matplotlib's Agg backend, no display);
:mod:`facescope.report.html` embeds them in the HTML report as data URIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from facescope.report.figures import png, pyplot

if TYPE_CHECKING:
    from facescope.evaluate.metrics import IdentificationMetrics, VerificationMetrics

#: DET axis ticks (error rates) placed on the normal-deviate scale.
DET_TICKS = (1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.4, 0.6)


def roc_figure(curves: Mapping[str, VerificationMetrics], title: str = "ROC") -> bytes:
    """TAR against FMR (log x), one line per model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, m in curves.items():
        fmr = np.maximum(np.asarray(m.roc_fmr), 1e-6)
        ax.plot(fmr, m.roc_tar, label=f"{label} (EER {100 * m.eer:.2f}%)")
    ax.set_xscale("log")
    ax.set_xlim(1e-5, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("true match rate (1 - FNMR)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return png(fig)


def det_figure(curves: Mapping[str, VerificationMetrics], title: str = "DET") -> bytes:
    """FNMR against FMR on normal-deviate (probit) axes, as ISO/IEC 19795-1 draws it."""
    from facescope.evaluate.metrics import probit

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, m in curves.items():
        ax.plot(probit(np.asarray(m.det_fmr)), probit(np.asarray(m.det_fnmr)), label=label)
        ax.plot(probit(m.eer), probit(m.eer), "o", ms=4, color=ax.lines[-1].get_color())
    ticks = probit(np.array(DET_TICKS))
    labels = [f"{100 * t:g}%" for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(probit(1e-4), probit(0.6))
    ax.set_ylim(probit(1e-3), probit(0.6))
    ax.plot([probit(1e-4), probit(0.6)], [probit(1e-4), probit(0.6)], ":", color="grey", lw=0.8)
    ax.set_xlabel("false match rate (normal deviate scale)")
    ax.set_ylabel("false non-match rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title + " (dots: EER)")
    return png(fig)


def score_figure(
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    threshold: float | None,
    title: str,
    labels: tuple[str, str] = ("genuine", "impostor"),
) -> bytes:
    """Genuine and impostor score histograms (or any two classes: `labels`), with the threshold."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    gen, imp = np.asarray(genuine), np.asarray(impostor)
    bins = np.linspace(min(gen.min(), imp.min()), max(gen.max(), imp.max()), 60)
    ax.hist(imp, bins=bins, density=True, alpha=0.6, label=f"{labels[1]} ({len(imp):,})")
    ax.hist(gen, bins=bins, density=True, alpha=0.6, label=f"{labels[0]} ({len(gen):,})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_xlabel("score")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return png(fig)


def cmc_figure(curves: Mapping[str, IdentificationMetrics], title: str = "CMC") -> bytes:
    """Identification rate against rank (closed set, mated probes)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, m in curves.items():
        ranks = np.arange(1, len(m.cmc) + 1)
        ax.plot(ranks, m.cmc, marker=".", label=f"{label} (rank-1 {100 * m.cmc[0]:.1f}%)")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return png(fig)


def fnir_figure(curves: Mapping[str, IdentificationMetrics], title: str = "open set") -> bytes:
    """Open-set FNIR against FPIR (log x), over the decision threshold."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = 1.0
    for label, m in curves.items():
        # FPIR resolves 1 / (non-mated probes): draw FPIR = 0 half a step below that
        step = 0.5 / max(m.n_nonmated, 1)
        floor = min(floor, step)
        ax.plot(np.maximum(np.asarray(m.fpir), step), m.fnir, label=label)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_xlabel("false positive identification rate (FPIR)")
    ax.set_ylabel("false negative identification rate (FNIR)")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return png(fig)
