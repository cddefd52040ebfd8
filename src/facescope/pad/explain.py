"""Evidence records and the plain-language explanation built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: What each image cue group looks at, for the explanation.
CUE_MEANING = {
    "chroma_texture": "colour texture, LBP of the Cb, Cr, hue and saturation channels",
    "luma_texture": "brightness texture, LBP of the Y and V channels",
    "frequency": "periodic patterns in the spectrum, as screen moire or print halftone make",
    "sharpness": "fine detail, which recapture loses",
    "specular": "highlights and glare",
    "colour": "colour gamut and contrast, which prints and screens compress",
    "stem": "fine colour texture as seen by the face recogniser's first layers",
}
SPECIES_NAMES = {"print": "a printed photo", "replay": "a screen replay", "mask": "a mask"}
UNCLEAR_MARGIN = 0.15


@dataclass(frozen=True)
class Evidence:
    """One cue: its value, what it indicates and why, and its pull on the decision."""

    cue: str
    value: float
    unit: str
    indicates: str  # "live", "attack" or "unclear"
    why: str
    weight: float = 0.0  # contribution to the live log-odds (positive = towards live)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def indication(live_probability: float, margin: float = UNCLEAR_MARGIN) -> str:
    """ "live", "attack" or "unclear" for a cue's own p(live)."""
    if not np.isfinite(live_probability) or abs(live_probability - 0.5) < margin:
        return "unclear"
    return "live" if live_probability > 0.5 else "attack"


def region(heat: npt.NDArray[np.float64]) -> str:
    """Where in the face (image coordinates) the heatmap is hottest."""
    i, j = np.unravel_index(int(np.argmax(heat)), heat.shape)
    rows = ("upper", "middle", "lower")
    cols = ("left", "centre", "right")
    r = rows[min(2, int(3 * i / heat.shape[0]))]
    c = cols[min(2, int(3 * j / heat.shape[1]))]
    return "centre" if (r, c) == ("middle", "centre") else f"{r} {c}"


def explain(
    *,
    live_probability: float,
    threshold: float,
    decision: str,
    attack_type: str,
    attack_share: float,
    evidence: Sequence[Evidence],
    heat: npt.NDArray[np.float64] | None,
    calibrated: bool,
    band: tuple[float, float] | None = None,
    trained_on: str = "",
    species: Sequence[str] = (),
    frames: int = 1,
) -> str:
    """A short paragraph a non-specialist can read, generated from the evidence only.

    It never contradicts the verdict: the image cues are listed by their pull on the
    fused decision (``Evidence.weight``), those that carried it first and those it
    outweighed after; cues outside the fusion (a video's blinks, motion and pulse) are
    named as such, not as reasons.
    """
    where = f"over {frames} frames " if frames > 1 else ""
    scores = f"live probability {live_probability:.2f}, threshold {threshold:.2f}"
    if decision == "uncertain" and band is not None:
        head = (
            f"UNCERTAIN {where}({scores}): the score lies in {band[0]:.2f}-{band[1]:.2f}, "
            "where this model, on cameras it was not calibrated for, is wrong too often "
            "to decide. Calibrate it, or ask for another capture."
        )
    elif decision == "live":
        head = f"Judged LIVE {where}({scores})."
    else:
        kind = SPECIES_NAMES.get(attack_type)
        if kind is not None:
            what = f"; most likely {kind} ({100 * attack_share:.0f}% of the attack probability)"
        elif len(species) == 1:
            trained = {"print": "printed-photo", "replay": "screen-replay"}.get(
                species[0], species[0]
            )
            what = (
                f"; this model was trained on {trained} attacks only, so it does not name the kind"
            )
        else:
            what = "; the kind of attack is unclear"
        head = f"Judged a PRESENTATION ATTACK {where}({scores}){what}."
    fused = [e for e in evidence if e.weight != 0.0]
    other = [e for e in evidence if e.weight == 0.0]
    towards_live = live_probability >= threshold
    carried = sorted(
        (e for e in fused if (e.weight > 0) == towards_live), key=lambda e: -abs(e.weight)
    )
    against = sorted(
        (e for e in fused if (e.weight > 0) != towards_live), key=lambda e: -abs(e.weight)
    )
    parts = [head]
    side = "live" if towards_live else "an attack"
    if carried:
        parts.append(
            f"The score leans to {side} because of: "
            + "; ".join(_phrase(e) for e in carried[:3])
            + "."
        )
    if against:
        parts.append(
            "Outweighed, pointing the other way: "
            + "; ".join(_phrase(e) for e in against[:3])
            + "."
        )
    if other:
        parts.append(
            "Not part of the decision (shown for review): "
            + "; ".join(_phrase(e) for e in other)
            + "."
        )
    if heat is not None and decision == "attack":
        parts.append(f"The attack heatmap is strongest in the {region(heat)} of the face.")
    if not calibrated:
        basis = f" ({trained_on})" if trained_on else ""
        parts.append(
            f"Not calibrated for this camera: the threshold was set on other captures{basis}. "
            "Calibrate it with `facescope pad calibrate` and ~50 bona fide captures from "
            "your camera before relying on the decision."
        )
    return " ".join(parts)


def _phrase(e: Evidence) -> str:
    meaning = CUE_MEANING.get(e.cue)
    label = e.cue.replace("_", " ")
    return f"{label} [{meaning}]: {e.why}" if meaning else f"{label}: {e.why}"


__all__ = ["CUE_MEANING", "Evidence", "explain", "indication", "region"]
