"""The work behind ``facescope pad``, ``pad calibrate`` and ``pad train``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from facescope.pad.cues import PADError
from facescope.pad.heatmap import overlay
from facescope.pad.model import BONA_FIDE, PADModel, default_model, load_model, threshold_at_bpcer
from facescope.pad.presentation import PADResult, check
from facescope.pad.samples import Samples, collect
from facescope.pad.train import crop_features, train_from_crops

#: Fewer bona fide captures than this give a rough threshold (said so on the terminal).
MIN_CALIBRATION = 50
_COLOURS = {"live": "green", "attack": "red", "unclear": "yellow"}


def _model(path: Path | None) -> PADModel:
    return default_model() if path is None else load_model(path)


def heatmap_picture(result: PADResult) -> npt.NDArray[np.uint8]:
    """The aligned face beside its heatmap overlay (RGB), for ``--heatmap``."""
    if result.crop is None or result.heatmap is None:
        raise PADError("this result carries no crop or heatmap to draw")
    face = cv2.resize(result.crop, (224, 224), interpolation=cv2.INTER_CUBIC)
    return np.hstack([face, overlay(result.crop, result.heatmap)])


def run_check(
    source: Path,
    *,
    explain: bool,
    heatmap: Path | None,
    model: Path | None,
    as_json: bool,
    console: Console,
) -> PADResult:
    """Check one file; print the decision (and the evidence with --explain)."""
    result = check(source, model=_model(model))
    if heatmap is not None:
        heatmap.parent.mkdir(parents=True, exist_ok=True)
        picture = cv2.cvtColor(heatmap_picture(result), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(heatmap), picture):
            raise PADError(f"cannot write {heatmap} (use a .png or .jpg name)")
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return result
    verdict = "[green]LIVE[/]" if result.is_live else "[red]ATTACK[/]"
    kind = "" if result.is_live else f", most likely {result.attack_type}"
    console.print(
        f"{escape(str(source))}: {verdict} (p(live) {result.live_probability:.3f}, threshold "
        f"{result.threshold:.3f}{kind}; {result.frames} frame(s))",
        highlight=False,
    )
    if explain:
        table = Table("cue", "value", "indicates", "pull", "why")
        for e in result.evidence:
            colour = _COLOURS.get(e.indicates, "white")
            table.add_row(e.cue, f"{e.value:.3g} {e.unit}", f"[{colour}]{e.indicates}[/]",
                          f"{e.weight:+.2f}", escape(e.why))  # fmt: skip
        console.print(table)
        console.print(escape(result.explanation))
    if heatmap is not None:
        console.print(f"heatmap: {escape(str(heatmap))}")
    return result


def _collect(paths: Sequence[Path], what: str, progress: Callable[[], Progress]) -> Samples:
    with progress() as bar:
        task = bar.add_task(f"reading {what}", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        samples = collect(paths, progress=step)
    return samples


def _report_skipped(samples: Samples, console: Console) -> None:
    for path, reason in samples.skipped[:10]:
        console.print(f"[yellow]skipped[/] {escape(path)}: {escape(reason)}", highlight=False)
    if len(samples.skipped) > 10:
        console.print(f"[yellow]... and {len(samples.skipped) - 10} more skipped[/]")


def run_calibrate(
    bona_fide: Sequence[Path],
    *,
    bpcer: float,
    model: Path | None,
    out: Path,
    as_json: bool,
    console: Console,
    progress: Callable[[], Progress],
) -> dict[str, Any]:
    """Set the threshold at `bpcer` on a deployment's own bona fide captures; save the model."""
    base = _model(model)
    samples = _collect(bona_fide, "bona fide captures", progress)
    _report_skipped(samples, console)
    if len(samples) == 0:
        raise PADError("no face found in any of the bona fide captures given")
    live = base.live_probability(crop_features(samples.crops))
    threshold = threshold_at_bpcer(live, bpcer)
    files = len(set(samples.sources))
    calibrated = base.with_threshold(
        threshold,
        calibrated_on_real=True,
        threshold_source=f"BPCER {bpcer:g} on {len(samples)} bona fide crops from {files} files",
        previous_threshold=base.threshold,
    )
    calibrated.save(out)
    achieved = float((live < threshold).mean())
    summary: dict[str, Any] = {
        "threshold": threshold,
        "previous_threshold": base.threshold,
        "bona_fide_crops": len(samples),
        "files": files,
        "bpcer_on_these": achieved,
        "rejected_at_previous_threshold": float((live < base.threshold).mean()),
        "model": str(out),
        "skipped": len(samples.skipped),
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return summary
    console.print(
        f"threshold {threshold:.4f} (was {base.threshold:.4f}, which rejected "
        f"{100 * summary['rejected_at_previous_threshold']:.1f}% of these captures); "
        f"BPCER on these {100 * achieved:.1f}%; saved {escape(str(out))}",
        highlight=False,
    )
    if len(samples) < MIN_CALIBRATION:
        console.print(
            f"[yellow]only {len(samples)} bona fide crops: the threshold is rough; "
            f"{MIN_CALIBRATION}+ captures from the deployment's camera are advised[/]"
        )
    console.print(
        f"use it: facescope pad FILE --model {escape(str(out))}  (or FACESCOPE_PAD_MODEL)"
    )
    return summary


def _parse_attacks(items: Sequence[str]) -> list[tuple[str, Path]]:
    parsed = []
    for item in items:
        species, sep, path = item.partition("=")
        if not sep or not species or not path:
            raise PADError(
                f"--attack takes SPECIES=PATH (e.g. print=captures/prints), got {item!r}"
            )
        if species == BONA_FIDE:
            raise PADError(f"{BONA_FIDE!r} is not an attack species; give those with --bona-fide")
        parsed.append((species.strip().lower(), Path(path)))
    return parsed


def run_train(
    bona_fide: Sequence[Path],
    attacks: Sequence[str],
    *,
    out: Path,
    bpcer: float,
    real_weight: float,
    synthetic: bool,
    seed: int,
    as_json: bool,
    console: Console,
    progress: Callable[[], Progress],
) -> dict[str, Any]:
    """Refit the fusion on a deployment's real captures (see :func:`train_from_crops`)."""
    bona = _collect(bona_fide, "bona fide captures", progress)
    _report_skipped(bona, console)
    if len(bona) == 0:
        raise PADError("no face found in any of the bona fide captures given")
    real: list[tuple[str, Sequence[npt.NDArray[np.uint8]], Sequence[str]]] = []
    for species, path in _parse_attacks(attacks):
        found = _collect([path], f"{species} attacks", progress)
        _report_skipped(found, console)
        real.append((species, found.crops, found.sources))
    with progress() as bar:
        task = bar.add_task("measuring cues", total=None)
        model = train_from_crops(
            bona.crops, bona.sources, real, bpcer=bpcer, real_weight=real_weight,
            synthetic=synthetic, seed=seed,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )  # fmt: skip
    model.save(out)
    summary: dict[str, Any] = {
        "model": str(out),
        "threshold": model.threshold,
        "threshold_source": model.meta["threshold_source"],
        "real_bona_fide": len(bona),
        "real_attacks": {species: len(items) for species, items, _ in real},
        "classes": list(model.classes),
    }
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        console.print(
            f"trained on {len(bona)} real bona fide crops and real attacks "
            f"{summary['real_attacks']} (+ synthetic: {synthetic}); threshold "
            f"{model.threshold:.4f} ({summary['threshold_source']}); saved {escape(str(out))}"
        )
    return summary


def run_audit(
    gallery: Path,
    *,
    model: str,
    attacks: Path | None,
    probes: int,
    spectrum: str,
    spectral_thresholds: Path | None,
    pad_model: Path | None,
    report: Path | None,
    as_json: bool,
    seed: int,
    console: Console,
    progress: Callable[[], Progress],
) -> dict[str, Any]:
    """``facescope audit pad``: IAPMR per species without and with PAD; optional HTML report."""
    from facescope.pad.vulnerability import audit_pad

    with progress() as bar:
        task = bar.add_task("presenting", total=None)
        audit = audit_pad(
            gallery, model=model, attacks=attacks, probes=probes, spectrum=spectrum,
            spectral_thresholds=spectral_thresholds,
            pad_model=None if pad_model is None else load_model(pad_model), seed=seed,
            progress=lambda d, t: bar.update(task, completed=d, total=t),
        )  # fmt: skip
    metrics = audit.metrics()
    if report is not None:
        from facescope.pad.report import write_vulnerability_report

        page = write_vulnerability_report(audit, report)
        metrics["report"] = str(page)
    if as_json:
        console.print_json(json.dumps(metrics))
        return metrics
    table = Table(title=f"IAPMR at FMR {audit.fmr:g} ({audit.model}, {audit.spectrum})")
    for column in ("species", "n", "verification", "+ PAD", "identification", "+ PAD", "APCER"):
        table.add_column(column)
    for kind, m in metrics["species"].items():
        table.add_row(kind, str(m["n"]), _pc(m["iapmr_verification"]),
                      _pc(m["iapmr_verification_with_pad"]), _pc(m["iapmr_identification"]),
                      _pc(m["iapmr_identification_with_pad"]), _pc(m["apcer"]))  # fmt: skip
    console.print(table)
    console.print(f"threshold {audit.threshold:.4f}: {escape(audit.threshold_source)}")
    bona = metrics.get("bona_fide")
    if bona:
        console.print(
            f"bona fide probes: {bona['n']}; FNMR {_pc(bona['fnmr'])}, with PAD "
            f"{_pc(bona['fnmr_with_pad'])} (BPCER {_pc(bona['bpcer'])})"
        )
    if report is not None:
        console.print(f"report: {escape(metrics['report'])}")
    return metrics


def _pc(value: float) -> str:
    return f"{100 * value:.1f}%"


__all__ = ["heatmap_picture", "run_audit", "run_calibrate", "run_check", "run_train"]
