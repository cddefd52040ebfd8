"""PAD at a deployment: check a file, calibrate on its bona fide captures, retrain with its attacks.

The work behind ``facescope pad``, ``pad calibrate`` and ``pad train``. Each function
returns what it did (and saves the model it was asked for); none prints. Progress is
reported as ``progress(stage, done, total)``, one stage per folder of captures read.
The PAD modules are imported on first use, so the defaults here cost nothing to import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from facescope.pad.model import PADModel
    from facescope.pad.presentation import PADResult
    from facescope.pad.samples import Samples

#: Fewer bona fide captures than this give a rough threshold (said so on the terminal).
MIN_CALIBRATION = 50
#: Share of bona fide presentations a deployment accepts to reject.
DEFAULT_BPCER = 0.05
#: Weight of a deployment's real samples against synthetic ones when retraining.
DEFAULT_REAL_WEIGHT = 3.0

#: progress(stage, done, total) while captures are read and cues measured.
StageProgress = Callable[[str, int, int], None]


def model_at(path: str | os.PathLike[str] | None) -> PADModel:
    """The model saved at `path`; None: ``$FACESCOPE_PAD_MODEL`` or the shipped one."""
    from facescope.pad.model import default_model, load_model

    return default_model() if path is None else load_model(path)


def heatmap_picture(result: PADResult) -> npt.NDArray[np.uint8]:
    """The aligned face beside its heatmap overlay (RGB), for ``--heatmap``."""
    import cv2

    from facescope.pad.cues import PADError
    from facescope.pad.heatmap import overlay

    if result.crop is None or result.heatmap is None:
        raise PADError("this result carries no crop or heatmap to draw")
    face = cv2.resize(result.crop, (224, 224), interpolation=cv2.INTER_CUBIC)
    return np.hstack([face, overlay(result.crop, result.heatmap)])


def check_file(
    source: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    heatmap: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PADResult:
    """:func:`~facescope.pad.check` a photo or video with the model at `model`; draw `heatmap`.

    `progress(done, total)` follows the frames read from a video.
    """
    import cv2

    from facescope.pad.cues import PADError
    from facescope.pad.presentation import check

    result = check(source, model=model_at(model), progress=progress)
    if heatmap is not None:
        target = Path(heatmap)
        target.parent.mkdir(parents=True, exist_ok=True)
        picture = cv2.cvtColor(heatmap_picture(result), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(target), picture):
            raise PADError(f"cannot write {target} (use a .png or .jpg name)")
    return result


def _collect(
    paths: Sequence[str | os.PathLike[str]], stage: str, progress: StageProgress | None
) -> Samples:
    from facescope.pad.samples import collect

    step = None if progress is None else (lambda done, total: progress(stage, done, total))
    return collect(paths, progress=step)


@dataclass(frozen=True)
class Calibration:
    """A threshold set on a deployment's bona fide captures (``summary``: the JSON document)."""

    summary: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope pad calibrate --json`` document."""
        return self.summary

    @property
    def rough(self) -> bool:
        """Fewer than :data:`MIN_CALIBRATION` bona fide crops: the threshold is rough."""
        return int(self.summary["bona_fide_crops"]) < MIN_CALIBRATION


def calibrate_on_captures(
    bona_fide: Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str],
    bpcer: float = DEFAULT_BPCER,
    model: str | os.PathLike[str] | None = None,
    progress: StageProgress | None = None,
) -> Calibration:
    """Set the threshold at `bpcer` on a deployment's own bona fide captures; save to `out`."""
    from facescope.pad.cues import PADError
    from facescope.pad.model import threshold_at_bpcer
    from facescope.pad.train import crop_features

    base = model_at(model)
    samples = _collect(bona_fide, "reading bona fide captures", progress)
    if len(samples) == 0:
        raise PADError("no face found in any of the bona fide captures given")
    live = base.live_probability(crop_features(samples.crops))
    threshold = threshold_at_bpcer(live, bpcer)
    files = len(set(samples.sources))
    calibrated = base.with_threshold(
        threshold,
        bpcer=bpcer,
        calibrated_on_real=True,
        threshold_source=f"BPCER {bpcer:g} on {len(samples)} bona fide crops from {files} files",
        previous_threshold=base.threshold,
    )
    calibrated.save(out)
    summary: dict[str, Any] = {
        "threshold": threshold,
        "previous_threshold": base.threshold,
        "bona_fide_crops": len(samples),
        "files": files,
        "bpcer_on_these": float((live < threshold).mean()),
        "rejected_at_previous_threshold": float((live < base.threshold).mean()),
        "model": str(out),
        "skipped": len(samples.skipped),
    }
    return Calibration(summary, list(samples.skipped))


def parse_attacks(items: Sequence[str]) -> list[tuple[str, Path]]:
    """``SPECIES=PATH`` items as (species, path); refuses malformed items and bona fide."""
    from facescope.pad.cues import PADError
    from facescope.pad.model import BONA_FIDE

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


@dataclass(frozen=True)
class Training:
    """A model refitted on a deployment's captures (``summary``: the JSON document)."""

    summary: dict[str, Any]
    synthetic: bool
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope pad train --json`` document."""
        return self.summary


def train_on_captures(
    bona_fide: Sequence[str | os.PathLike[str]],
    attacks: Sequence[str] = (),
    *,
    out: str | os.PathLike[str],
    bpcer: float = DEFAULT_BPCER,
    real_weight: float = DEFAULT_REAL_WEIGHT,
    synthetic: bool = True,
    seed: int = 0,
    progress: StageProgress | None = None,
) -> Training:
    """Refit the fusion on a deployment's real captures (``SPECIES=PATH`` attacks); save it.

    See :func:`facescope.pad.train.train_from_crops`.
    """
    from facescope.pad.cues import PADError
    from facescope.pad.train import train_from_crops

    parsed = parse_attacks(attacks)
    bona = _collect(bona_fide, "reading bona fide captures", progress)
    skipped = list(bona.skipped)
    if len(bona) == 0:
        raise PADError("no face found in any of the bona fide captures given")
    real: list[tuple[str, Sequence[npt.NDArray[np.uint8]], Sequence[str]]] = []
    for species, path in parsed:
        found = _collect([path], f"reading {species} attacks", progress)
        skipped += found.skipped
        real.append((species, found.crops, found.sources))
    step = None if progress is None else (lambda d, t: progress("measuring cues", d, t))
    model = train_from_crops(
        bona.crops, bona.sources, real, bpcer=bpcer, real_weight=real_weight,
        synthetic=synthetic, seed=seed, progress=step,
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
    return Training(summary, synthetic, skipped)
