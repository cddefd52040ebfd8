"""``facescope.pad.check``: is the face in this image or video live or an attack?"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.io import ImageInput
from facescope.io.files import is_video_path
from facescope.pad.cues import PADError
from facescope.pad.explain import Evidence, explain
from facescope.pad.face import face_crop
from facescope.pad.heatmap import GRID, patch_features
from facescope.pad.model import BONA_FIDE, PADModel, default_model, load_model, stack
from facescope.pad.train import crop_features_and_stats
from facescope.types import Box, as_box

#: A cue whose pull on the fused live log-odds is smaller than this decides nothing.
PULL_MARGIN = 0.25
#: Frames sampled from a video (evenly over at most `max_seconds`).
VIDEO_FRAMES = 24


@dataclass(frozen=True)
class PADResult:
    """The decision, its evidence and its explanation."""

    live_probability: float
    threshold: float
    is_live: bool
    attack_type: str  # "none" when live; else a species, or "unknown" (also when uncertain)
    attack_probabilities: dict[str, float]
    evidence: list[Evidence]
    heatmap: npt.NDArray[np.float64] | None
    explanation: str
    box: Box | None  # the face judged (the last sampled, in a video), x1, y1, x2, y2
    frames: int = 1
    crop: npt.NDArray[np.uint8] | None = field(default=None, repr=False)
    #: "live", "attack", or "uncertain" (inside the model's uncertain band)
    decision: str = ""
    #: whether the threshold was set on this deployment's own captures
    calibrated: bool = False
    uncertain_band: tuple[float, float] | None = None
    threshold_source: str = ""

    def __post_init__(self) -> None:
        if not self.decision:
            object.__setattr__(self, "decision", "live" if self.is_live else "attack")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (no pixels)."""
        return {
            "live_probability": round(self.live_probability, 4),
            "threshold": round(self.threshold, 4),
            "is_live": self.is_live,
            "decision": self.decision,
            "calibrated": self.calibrated,
            "uncertain_band": None
            if self.uncertain_band is None
            else [round(v, 4) for v in self.uncertain_band],
            "threshold_source": self.threshold_source,
            "attack_type": self.attack_type,
            "attack_probabilities": {k: round(v, 4) for k, v in self.attack_probabilities.items()},
            "evidence": [e.to_dict() for e in self.evidence],
            "heatmap": None if self.heatmap is None else np.round(self.heatmap, 3).tolist(),
            "explanation": self.explanation,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "frames": self.frames,
        }


def _group_evidence(
    model: PADModel, per_group: dict[str, npt.NDArray[np.float64]], stats: list[dict[str, float]]
) -> list[Evidence]:
    """Each group's own p(live) and its share of the fused live log-odds."""
    live = model.classes.index(BONA_FIDE)
    z = (stack(per_group, list(model.groups)) - model.fusion.mean_) / model.fusion.scale_
    coef = model.fusion.coef_
    if coef.shape[0] == 1:  # two classes: one logit for class 1 (an attack)
        direction = -coef[0]
    else:
        others = [k for k in range(coef.shape[0]) if k != live]
        direction = coef[live] - coef[others].mean(axis=0)
    evidence, start = [], 0
    n_classes = len(model.classes)
    for g in model.groups:
        contribution = float(
            (z[:, start : start + n_classes] @ direction[start : start + n_classes]).mean()
        )
        start += n_classes
        p_live = float(per_group[g][:, live].mean())
        # what the cue does to *this* decision: the sign of its pull on the fused
        # log-odds (a group the fusion reads inverted says the opposite of its own p)
        says = (
            "unclear"
            if abs(contribution) < PULL_MARGIN
            else ("live" if contribution > 0 else "attack")
        )
        key = {k: float(np.mean([s[k] for s in stats])) for k in stats[0] if k in _KEYS.get(g, ())}
        detail = ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in key.items())
        verdict = {"live": "pulls towards live", "attack": "pulls towards an attack"}.get(
            says, "barely pulls either way"
        )
        why = f"{verdict} (pull {contribution:+.2f}; its own live probability {p_live:.2f}" + (
            f"; {detail})" if detail else ")"
        )
        evidence.append(Evidence(g, p_live, "p(live)", says, why, contribution))
    return evidence


_KEYS = {
    "chroma_texture": ("chroma_flat_share",),
    "frequency": ("periodic_peak",),
    "sharpness": ("laplacian_variance",),
    "specular": ("highlight_share",),
    "colour": ("saturation", "contrast"),
}


def _heat(
    model: PADModel, crops: Sequence[npt.NDArray[np.uint8]]
) -> npt.NDArray[np.float64] | None:
    if model.patch is None:
        return None
    attack = model.patch.classes_.index("attack")
    maps = [
        model.patch.predict_proba(patch_features(c))[:, attack].reshape(GRID, GRID) for c in crops
    ]
    return np.asarray(np.mean(maps, axis=0), np.float64)


def _decide(
    model: PADModel,
    crops: Sequence[npt.NDArray[np.uint8]],
    *,
    extra: Sequence[Evidence] = (),
    box: Box | None = None,
) -> PADResult:
    features, stats = crop_features_and_stats(crops, groups=list(model.groups))
    per_group = model.group_proba(features)
    logits = model.fusion_logits(per_group).mean(axis=0)  # average over frames
    p = np.exp(logits - logits.max())
    p /= p.sum()
    probabilities = {c: float(v) for c, v in zip(model.classes, p, strict=True)}
    live_p = probabilities[BONA_FIDE]
    band = model.uncertain_band
    if band is not None and band[0] <= live_p < band[1]:
        decision = "uncertain"
    else:
        decision = "live" if live_p >= model.threshold else "attack"
    attacks = {c: v for c, v in probabilities.items() if c != BONA_FIDE}
    mass = sum(attacks.values())
    best = max(attacks, key=lambda c: attacks[c])
    share = attacks[best] / mass if mass > 0 else 0.0
    if decision == "live":
        attack_type = "none"
    elif decision == "attack" and share >= 0.6 and len(attacks) > 1:
        attack_type = best
    else:  # uncertain, or a model that knows one species only (it cannot name the kind)
        attack_type = "unknown"
    evidence = _group_evidence(model, per_group, stats) + list(extra)
    heat = _heat(model, crops)
    source = str(model.meta.get("threshold_source", ""))
    text = explain(
        live_probability=live_p,
        threshold=model.threshold,
        decision=decision,
        attack_type=attack_type,
        attack_share=share,
        evidence=evidence,
        heat=heat,
        calibrated=model.calibrated,
        band=band,
        trained_on=str(model.meta.get("trained_on", "")),
        species=model.species,
        frames=len(crops),
    )
    return PADResult(
        live_p, model.threshold, decision == "live", attack_type, attacks, evidence, heat, text,
        box, len(crops), crops[len(crops) // 2], decision, model.calibrated, band, source,
    )  # fmt: skip


def _is_video(source: object) -> bool:
    return isinstance(source, str | os.PathLike) and is_video_path(source)


def video_crops(
    source: str | os.PathLike[str],
    *,
    frames: int = VIDEO_FRAMES,
    max_seconds: float = 20.0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[npt.NDArray[np.uint8]], Box | None]:
    """Aligned crops of the largest face in `frames` frames spread over the first `max_seconds`."""
    from facescope.errors import NoFaceError
    from facescope.io.video import VideoSource

    crops: list[npt.NDArray[np.uint8]] = []
    box: Box | None = None
    with VideoSource(source) as video:
        duration = min(max_seconds, video.duration or max_seconds)
        step = max(duration / frames, 1e-3)
        next_time = 0.0
        for frame in video:
            if frame.time > max_seconds or len(crops) >= frames:
                break
            if frame.time + 1e-6 < next_time:
                continue
            next_time = frame.time + step
            try:
                crop, found, _ = face_crop(frame.rgb)
            except NoFaceError:
                continue
            crops.append(crop)
            box = as_box(found)
            if progress is not None:
                progress(len(crops), frames)
    if not crops:
        raise PADError(f"{source}: no face found in the sampled video frames")
    return crops, box


def _resolve(model: PADModel | str | os.PathLike[str] | None) -> PADModel:
    """A model object, a model file, or the default ($FACESCOPE_PAD_MODEL, else shipped)."""
    if model is None:
        return default_model()
    return model if isinstance(model, PADModel) else load_model(model)


def check(
    source: ImageInput | str | os.PathLike[str],
    *,
    model: PADModel | str | os.PathLike[str] | None = None,
    video_cues: bool = True,
    frames: int = VIDEO_FRAMES,
    progress: Callable[[int, int], None] | None = None,
) -> PADResult:
    """Presentation-attack detection on one image (the largest face) or one video file.

    Returns live probability, decision at the model's threshold, the most likely
    attack type, the evidence per cue, a 6x6 patch heatmap of attack
    probability over the aligned face and a plain-language explanation. Videos
    (by file suffix) average the image cues over `frames` sampled frames and add
    the liveness cues of :mod:`facescope.pad.video` as evidence. `progress(done, total)`
    is called as video frames are read (not for a photo).
    """
    pad = _resolve(model)
    if _is_video(source):
        crops, box = video_crops(source, frames=frames, progress=progress)  # type: ignore[arg-type]
        extra = _video_evidence(source) if video_cues else []  # type: ignore[arg-type]
        return _decide(pad, crops, extra=extra, box=box)
    crop, found, _ = face_crop(source)
    return _decide(pad, [crop], box=as_box(found))


def check_crops(
    crops: Sequence[npt.NDArray[np.uint8]], *, model: PADModel | None = None
) -> PADResult:
    """:func:`check` on aligned crops already at hand (frames of one presentation)."""
    if len(crops) == 0:
        raise PADError("no face crops given")
    return _decide(_resolve(model), list(crops))


def _video_evidence(source: str | os.PathLike[str]) -> list[Evidence]:
    from facescope.pad.video import video_cues  # imported only when a video is checked

    cues = video_cues(source)
    return [
        Evidence(e["cue"], float(e["value"]), str(e["unit"]), str(e["indicates"]), str(e["why"]))
        for e in cues.evidence()
    ]


__all__ = ["PADResult", "check", "check_crops", "video_crops"]
