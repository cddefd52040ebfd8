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
    is_live: bool,
    attack_type: str,
    attack_share: float,
    evidence: Sequence[Evidence],
    heat: npt.NDArray[np.float64] | None,
    calibrated_on_real: bool,
    frames: int = 1,
) -> str:
    """A short paragraph a non-specialist can read, generated from the evidence only."""
    where = f"over {frames} frames " if frames > 1 else ""
    if is_live:
        head = (
            f"Judged LIVE {where}(live probability {live_probability:.2f}, "
            f"threshold {threshold:.2f})."
        )
    else:
        kind = SPECIES_NAMES.get(attack_type, "an attack of unknown type")
        share = (
            f" ({100 * attack_share:.0f}% of the attack probability)"
            if attack_type != "unknown"
            else ""
        )
        head = (
            f"Judged a PRESENTATION ATTACK {where}(live probability {live_probability:.2f}, "
            f"threshold {threshold:.2f}); most likely {kind}{share}."
        )
    ranked = sorted(evidence, key=lambda e: -abs(e.weight))
    toward_attack = [e for e in ranked if e.indicates == "attack"][:3]
    toward_live = [e for e in ranked if e.indicates == "live"][:3]
    parts = [head]
    if toward_attack:
        parts.append("Pointing to an attack: " + "; ".join(_phrase(e) for e in toward_attack) + ".")
    if toward_live:
        parts.append("Pointing to a live face: " + "; ".join(_phrase(e) for e in toward_live) + ".")
    unclear = [e.cue for e in evidence if e.indicates == "unclear"]
    if unclear:
        parts.append("Inconclusive: " + ", ".join(c.replace("_", " ") for c in unclear) + ".")
    if heat is not None and not is_live:
        parts.append(f"The attack heatmap is strongest in the {region(heat)} of the face.")
    if not calibrated_on_real:
        parts.append(
            "The threshold was set on synthetic attacks, not on your camera: calibrate it with "
            "`facescope pad calibrate` before relying on the decision."
        )
    return " ".join(parts)


def _phrase(e: Evidence) -> str:
    meaning = CUE_MEANING.get(e.cue)
    label = e.cue.replace("_", " ")
    return f"{label} [{meaning}]: {e.why}" if meaning else f"{label}: {e.why}"


__all__ = ["CUE_MEANING", "Evidence", "explain", "indication", "region"]
