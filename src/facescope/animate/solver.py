"""A geometric blendshape solver: the 52 ARKit coefficients from the 478-point mesh.

No blendshape model exists offline (MediaPipe 0.10.14 ships none), so each
coefficient is a documented measurement on the mesh aligned onto the canonical
face (:func:`facescope.analysis.geometry.to_canonical`: head rotation, position and
scale removed; millimetres of a face with 90 mm between the outer eye corners;
``x`` towards the image's right, ``y`` towards the chin). Unlike
:mod:`facescope.analysis.au`, which averages the two sides, every sided shape has
its own per-side measure.

A coefficient is ``clip((change - dead) / span, 0, 1)`` where ``change`` is the
measure's signed change from the performer's neutral face (see
:class:`NeutralCalibration`), ``dead`` a small dead zone against jitter and
``span`` the change that reads as 1.0 (see :data:`TABLE` and docs/animate.md).
Shapes the mesh cannot observe (:data:`facescope.animate.shapes.UNOBSERVED`)
are always 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.geometry import EAR_LEFT, EAR_RIGHT, face_geometry, to_canonical
from facescope.animate.errors import AnimateError
from facescope.animate.shapes import INDEX, SHAPES, UNOBSERVED

FloatArray = npt.NDArray[np.float64]

#: Eyeball radius (mm) turning iris offsets into angles (as in facescope.analysis.eyes).
EYEBALL_RADIUS_MM = 12.0

# per side: (right, left) = (image left, image right)
_OUTER_BROW = ((70, 46, 63, 53), (300, 276, 293, 283))
_INNER_BROW = ((107, 55, 66, 65), (336, 285, 296, 295))
_UPPER_LID = ((159, 158, 160), (386, 385, 387))
_LOWER_LID = ((145, 144, 153), (374, 373, 380))
_CORNERS = ((33, 133), (263, 362))
_IRIS = (468, 473)
_CHEEK = ((118, 101), (347, 330))
_ALA = ((64, 129), (294, 358))
_MOUTH_CORNER = (61, 291)
_UPPER_SIDE = (37, 267)  # outer upper lip beside the philtrum
_LOWER_SIDE = (84, 314)  # outer lower lip
_SIDE_THICK = (((39, 81), (181, 178)), ((269, 311), (405, 402)))
_SIDE_GAP = ((82, 87), (312, 317))

#: The raw measures (mm on the canonical-aligned mesh; iris offsets in degrees), in order.
MEASURES: dict[str, str] = {}
for _side, _s in (("R", "right"), ("L", "left")):
    MEASURES.update(
        {
            f"aperture_{_side}": f"{_s} eye: mean upper-to-lower lid distance (EAR pairs)",
            f"upper_lid_{_side}": f"{_s} eye: upper lid (159/158/160 or mirror) above corner line",
            f"lower_lid_{_side}": f"{_s} eye: lower lid (145/144/153 or mirror) below corner line",
            f"iris_yaw_{_side}": f"{_s} eye: iris offset from the eye centre, as a yaw (deg)",
            f"iris_pitch_{_side}": f"{_s} eye: iris offset from the eye centre, as a pitch (deg)",
            f"inner_brow_{_side}": f"{_s} inner brow above the inner eye corner",
            f"outer_brow_{_side}": f"{_s} outer brow above the outer eye corner",
            f"cheek_{_side}": f"{_s} infra-orbital cheek (118/101 or mirror) below corner line",
            f"ala_{_side}": f"{_s} nostril wing (64/129 or mirror) below the inner eye corner",
            f"corner_up_{_side}": f"{_s} mouth corner (61 or 291) above the upper inner lip (13)",
            f"corner_out_{_side}": f"{_s} mouth corner's horizontal distance from the midline (13)",
            f"side_thick_{_side}": f"{_s} lip red thickness beside the midline (39-81 + 181-178)",
            f"upper_lip_{_side}": f"{_s} upper lip (37 or 267) below the nostril wing",
            f"lower_lip_{_side}": f"{_s} lower lip (84 or 314) below the upper inner lip (13)",
        }
    )
MEASURES.update(
    {
        "brow_gap": "horizontal distance between the inner brows",
        "jaw": "nose tip (1) to chin (152)",
        "chin_x": "chin (152) sideways, x in the head's frame",
        "chin_drop": "chin (152) below the upper inner lip (13)",
        "lip_gap": "inner-lip gap (13 to 14)",
        "mouth_width": "mouth corners (61 to 291)",
        "mouth_x": "mouth centre (61, 291, 0, 17) sideways",
        "upper_thick": "upper-lip red (0 to 13)",
        "lower_thick": "lower-lip red (14 to 17)",
        "chin_lip": "lower-lip bottom (17) to chin (152)",
        "philtrum": "subnasale (2) to the top of the upper lip (0)",
    }
)
MEASURE_NAMES: tuple[str, ...] = tuple(MEASURES)
_M = {name: i for i, name in enumerate(MEASURE_NAMES)}


def _mean(p: FloatArray, idx: Sequence[int]) -> FloatArray:
    return np.asarray(p[list(idx)].mean(0), np.float64)


def _iris_angles(p: FloatArray, side: int) -> tuple[float, float]:
    corners, iris = _CORNERS[side], _IRIS[side]
    cx = (p[corners[0], 0] + p[corners[1], 0]) / 2.0
    cy = (p[corners[0], 1] + p[corners[1], 1]) / 2.0
    dx = (p[iris, 0] - cx) / EYEBALL_RADIUS_MM
    dy = (p[iris, 1] - cy) / EYEBALL_RADIUS_MM
    yaw = math.degrees(math.asin(float(np.clip(dx, -1, 1))))
    pitch = math.degrees(math.asin(float(np.clip(-dy, -1, 1))))
    return yaw, pitch


def measures_from_canonical(canonical: npt.ArrayLike) -> FloatArray:
    """The raw measures (:data:`MEASURE_NAMES` order) of a canonical-aligned mesh (478, 3)."""
    p = np.asarray(canonical, np.float64)
    if p.shape != (478, 3):
        raise AnimateError(f"a mesh must be (478, 3), got {p.shape}")
    out = np.empty(len(MEASURE_NAMES), np.float64)
    mid_x = p[13, 0]
    for side, tag in ((0, "R"), (1, "L")):
        ear = EAR_RIGHT if side == 0 else EAR_LEFT
        corners = p[list(_CORNERS[side])]
        corner_y = corners[:, 1].mean()
        outer, inner = p[_CORNERS[side][0]], p[_CORNERS[side][1]]
        out[_M[f"aperture_{tag}"]] = (
            np.linalg.norm(p[ear[1]] - p[ear[5]]) + np.linalg.norm(p[ear[2]] - p[ear[4]])
        ) / 2.0
        out[_M[f"upper_lid_{tag}"]] = corner_y - _mean(p, _UPPER_LID[side])[1]
        out[_M[f"lower_lid_{tag}"]] = _mean(p, _LOWER_LID[side])[1] - corner_y
        yaw, pitch = _iris_angles(p, side)
        out[_M[f"iris_yaw_{tag}"]] = yaw
        out[_M[f"iris_pitch_{tag}"]] = pitch
        out[_M[f"inner_brow_{tag}"]] = inner[1] - _mean(p, _INNER_BROW[side])[1]
        out[_M[f"outer_brow_{tag}"]] = outer[1] - _mean(p, _OUTER_BROW[side])[1]
        out[_M[f"cheek_{tag}"]] = _mean(p, _CHEEK[side])[1] - corner_y
        ala = _mean(p, _ALA[side])
        out[_M[f"ala_{tag}"]] = ala[1] - inner[1]
        corner = p[_MOUTH_CORNER[side]]
        out[_M[f"corner_up_{tag}"]] = p[13, 1] - corner[1]
        out[_M[f"corner_out_{tag}"]] = abs(corner[0] - mid_x)
        (a, b), (c, d) = _SIDE_THICK[side]
        out[_M[f"side_thick_{tag}"]] = np.linalg.norm(p[a] - p[b]) + np.linalg.norm(p[c] - p[d])
        out[_M[f"upper_lip_{tag}"]] = p[_UPPER_SIDE[side], 1] - ala[1]
        out[_M[f"lower_lip_{tag}"]] = p[_LOWER_SIDE[side], 1] - p[13, 1]
    inner_r, inner_l = _mean(p, _INNER_BROW[0]), _mean(p, _INNER_BROW[1])
    out[_M["brow_gap"]] = abs(inner_l[0] - inner_r[0])
    out[_M["jaw"]] = np.linalg.norm(p[152] - p[1])
    out[_M["chin_x"]] = p[152, 0]
    out[_M["chin_drop"]] = p[152, 1] - p[13, 1]
    out[_M["lip_gap"]] = np.linalg.norm(p[13] - p[14])
    out[_M["mouth_width"]] = np.linalg.norm(p[61] - p[291])
    out[_M["mouth_x"]] = p[[61, 291, 0, 17], 0].mean()
    out[_M["upper_thick"]] = np.linalg.norm(p[0] - p[13])
    out[_M["lower_thick"]] = np.linalg.norm(p[14] - p[17])
    out[_M["chin_lip"]] = np.linalg.norm(p[152] - p[17])
    out[_M["philtrum"]] = np.linalg.norm(p[0] - p[2])
    return out


def mesh_measures(points: npt.ArrayLike) -> FloatArray:
    """The raw measures of a mesh in image pixels (478, 3) (aligned onto the canonical face)."""
    mesh = np.asarray(points, np.float64)
    if mesh.shape != (478, 3):
        raise AnimateError(f"a mesh must be (478, 3), got {mesh.shape}")
    if not np.isfinite(mesh).all():
        raise AnimateError("the mesh holds NaN or infinite coordinates")
    return measures_from_canonical(to_canonical(mesh))


# ---- the per-shape rules -----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one shape is measured: ``clip((sign * change - dead) / span, 0, 1)``.

    Attributes:
        measure: the measure (or ``"ratio:aperture_L"`` for the aperture relative to neutral).
        sign: +1 when the shape grows with the measure, -1 when it grows as it shrinks.
        span: the change that reads as 1.0 (mm, degrees, or a ratio).
        dead: a dead zone subtracted first (same unit).
        note: what the measurement is, for the docs table.
    """

    measure: str
    sign: float
    span: float
    dead: float
    note: str


def _rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for side, tag in (("Left", "L"), ("Right", "R")):
        # the performer's left eye looks "in" (to the nose) towards -x, the right eye to +x
        inward = -1.0 if side == "Left" else 1.0
        rules.update(
            {
                f"eyeBlink{side}": Rule(
                    f"ratio:aperture_{tag}",
                    -1.0,
                    0.6,
                    0.15,
                    "loss of lid aperture relative to neutral",
                ),
                f"eyeWide{side}": Rule(
                    f"ratio:aperture_{tag}",
                    1.0,
                    0.35,
                    0.05,
                    "gain of lid aperture relative to neutral",
                ),
                f"eyeSquint{side}": Rule(
                    f"lower_lid_{tag}", -1.0, 1.5, 0.2, "lower lid rises towards the corner line"
                ),
                f"eyeLookIn{side}": Rule(
                    f"iris_yaw_{tag}", inward, 23.0, 2.0, "iris yaw towards the nose"
                ),
                f"eyeLookOut{side}": Rule(
                    f"iris_yaw_{tag}", -inward, 23.0, 2.0, "iris yaw away from the nose"
                ),
                f"eyeLookUp{side}": Rule(
                    f"iris_pitch_{tag}", 1.0, 18.0, 2.0, "iris pitch up (x open-eye share)"
                ),
                f"eyeLookDown{side}": Rule(
                    f"iris_pitch_{tag}", -1.0, 18.0, 2.0, "iris pitch down (x open-eye share)"
                ),
                f"browDown{side}": Rule(
                    f"inner_brow_{tag}",
                    -1.0,
                    3.0,
                    0.3,
                    "inner brow drops towards the inner eye corner",
                ),
                f"browOuterUp{side}": Rule(
                    f"outer_brow_{tag}",
                    1.0,
                    3.5,
                    0.3,
                    "outer brow rises above the outer eye corner",
                ),
                f"mouthSmile{side}": Rule(
                    f"corner_up_{tag}",
                    1.0,
                    4.0,
                    0.3,
                    "mouth corner rises (+0.3 x its outward move)",
                ),
                f"mouthFrown{side}": Rule(
                    f"corner_up_{tag}",
                    -1.0,
                    3.0,
                    0.3,
                    "mouth corner drops below the upper inner lip",
                ),
                f"mouthStretch{side}": Rule(
                    f"corner_out_{tag}", 1.0, 5.0, 1.0, "corner moves outward (x (1 - smile))"
                ),
                f"mouthPress{side}": Rule(
                    f"side_thick_{tag}",
                    -1.0,
                    2.5,
                    0.3,
                    "lip red thins beside the midline (x lips closed)",
                ),
                f"mouthLowerDown{side}": Rule(
                    f"lower_lip_{tag}",
                    1.0,
                    4.0,
                    0.5,
                    "lower lip drops beyond 0.8 x the chin's drop",
                ),
                f"mouthUpperUp{side}": Rule(
                    f"upper_lip_{tag}", -1.0, 4.0, 0.5, "upper lip rises towards the nostril wing"
                ),
                f"cheekSquint{side}": Rule(
                    f"cheek_{tag}", -1.0, 2.0, 0.3, "cheek rises towards the eye"
                ),
                f"noseSneer{side}": Rule(
                    f"ala_{tag}", -1.0, 3.0, 0.4, "nostril wing rises towards the inner eye corner"
                ),
            }
        )
    rules.update(
        {
            "browInnerUp": Rule("inner_brow_R+L", 1.0, 3.5, 0.3,
                                "mean rise of both inner brows"),
            "jawOpen": Rule("jaw", 1.0, 20.0, 0.5, "nose tip to chin lengthens"),
            "jawLeft": Rule("chin_x", 1.0, 5.0, 0.5, "chin moves to the performer's left"),
            "jawRight": Rule("chin_x", -1.0, 5.0, 0.5, "chin moves to the performer's right"),
            "mouthClose": Rule("jaw-lip_gap", 1.0, 10.0, 3.0,
                               "jaw opens while the lips stay together"),
            "mouthPucker": Rule("mouth_width", -1.0, 8.0, 1.0,
                                "mouth narrows with the lips closed"),
            "mouthFunnel": Rule("mouth_width", -1.0, 8.0, 1.0,
                                "mouth narrows with the lips apart"),
            "mouthLeft": Rule("mouth_x", 1.0, 5.0, 0.5, "mouth moves to the performer's left"),
            "mouthRight": Rule("mouth_x", -1.0, 5.0, 0.5,
                               "mouth moves to the performer's right"),
            "mouthRollLower": Rule("lower_thick", -1.0, 3.0, 0.3,
                                   "lower-lip red thins (x lips closed)"),
            "mouthRollUpper": Rule("upper_thick", -1.0, 3.0, 0.3,
                                   "upper-lip red thins (x lips closed)"),
            "mouthShrugLower": Rule("chin_lip", -1.0, 4.0, 0.4,
                                    "chin pushes up towards the lower lip"),
            "mouthShrugUpper": Rule("philtrum", -1.0, 3.5, 0.5,
                                    "upper lip rises towards the nose (x lips closed)"),
        }
    )  # fmt: skip
    for name, why in UNOBSERVED.items():
        rules[name] = Rule("-", 0.0, 1.0, 0.0, f"not observed (always 0): {why}")
    return rules


#: Each shape's measurement (the docs table is generated from this).
TABLE: dict[str, Rule] = _rules()
assert set(TABLE) == set(SHAPES)

#: Lip gap (mm) over which the lips count as fully apart (pucker vs funnel, presses, rolls).
LIPS_APART_MM = 6.0


def _ramp(value: FloatArray | float, dead: float, span: float) -> FloatArray:
    return np.clip((np.asarray(value, np.float64) - dead) / span, 0.0, 1.0)


# ---- neutral calibration ------------------------------------------------------------------


@cache
def population_neutral() -> FloatArray:
    """The measures of the canonical face (the mean of 613 faces): the neutral of stills."""
    return measures_from_canonical(face_geometry().canonical)


@dataclass(frozen=True)
class NeutralCalibration:
    """A performer's neutral face: the raw measures every shape is relative to.

    Attributes:
        measures: (n_measures,) neutral measures (:data:`MEASURE_NAMES` order).
        source: how it was made (``population``, ``frames``, ``calmest``).
        frames: how many frames it was made from (0 for the population neutral).
    """

    measures: FloatArray
    source: str
    frames: int = 0

    @classmethod
    def population(cls) -> NeutralCalibration:
        """The canonical face's measures (for stills, or before calibration)."""
        return cls(population_neutral().copy(), "population", 0)

    @classmethod
    def from_measures(cls, measures: npt.ArrayLike, source: str = "frames") -> NeutralCalibration:
        """The per-measure median over frames' measures (n, n_measures) of a neutral face."""
        stack = np.atleast_2d(np.asarray(measures, np.float64))
        if stack.shape[0] == 0 or stack.shape[1] != len(MEASURE_NAMES):
            raise AnimateError("neutral calibration needs at least one frame of measures")
        good = stack[np.isfinite(stack).all(axis=1)]
        if not len(good):
            raise AnimateError("every calibration frame holds NaN")
        return cls(np.median(good, axis=0), source, len(good))

    @classmethod
    def from_meshes(cls, meshes: Iterable[npt.ArrayLike]) -> NeutralCalibration:
        """From a few seconds of the performer's neutral face (meshes in image pixels)."""
        stack = [mesh_measures(m) for m in meshes]
        if not stack:
            raise AnimateError("neutral calibration needs at least one mesh")
        return cls.from_measures(np.stack(stack), "frames")

    @classmethod
    def calmest(
        cls, measures: npt.ArrayLike, share: float = 0.2, least: int = 5
    ) -> NeutralCalibration:
        """Automatic: the median over the video's calmest frames.

        Each frame's distance from the performance's per-measure median is the mean
        absolute robust z-score (MAD units) of its measures; the ``share`` of frames
        (at least ``least``) nearest the median are taken as neutral.
        """
        stack = np.atleast_2d(np.asarray(measures, np.float64))
        stack = stack[np.isfinite(stack).all(axis=1)]
        if not len(stack):
            raise AnimateError("no frame with a face to calibrate the neutral from")
        median = np.median(stack, axis=0)
        mad = np.median(np.abs(stack - median), axis=0) + 1e-3
        score = np.mean(np.abs(stack - median) / mad, axis=1)
        k = min(len(stack), max(least, round(share * len(stack))))
        calm = stack[np.argsort(score, kind="stable")[:k]]
        return cls(np.median(calm, axis=0), "calmest", k)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frames": self.frames,
            "measures": {
                n: round(float(v), 4) for n, v in zip(MEASURE_NAMES, self.measures, strict=True)
            },
        }


# ---- the solver ---------------------------------------------------------------------------


def solve_measures(
    measures: npt.ArrayLike, neutral: NeutralCalibration | None = None
) -> FloatArray:
    """The 52 coefficients (:data:`SHAPES` order, in [0, 1]) of raw measures against a neutral.

    `measures` may be one frame (n_measures,) or many (n, n_measures) -> (n, 52).
    """
    values = np.asarray(measures, np.float64)
    single = values.ndim == 1
    m = np.atleast_2d(values)
    if m.shape[1] != len(MEASURE_NAMES):
        raise AnimateError(f"expected {len(MEASURE_NAMES)} measures, got {m.shape[1]}")
    if not np.isfinite(m).all():
        raise AnimateError("the measures hold NaN or infinite values")
    base = (neutral or NeutralCalibration.population()).measures
    delta = m - base
    out = np.zeros((m.shape[0], len(SHAPES)), np.float64)
    apart = _ramp(m[:, _M["lip_gap"]], 0.0, LIPS_APART_MM)
    closed = 1.0 - apart

    def change(rule: Rule) -> FloatArray:
        key = rule.measure
        if key.startswith("ratio:"):
            name = key[6:]
            return np.asarray(m[:, _M[name]] / max(float(base[_M[name]]), 1e-6) - 1.0)
        if key == "inner_brow_R+L":
            return np.asarray((delta[:, _M["inner_brow_R"]] + delta[:, _M["inner_brow_L"]]) / 2)
        if key == "jaw-lip_gap":
            return np.asarray(delta[:, _M["jaw"]] - delta[:, _M["lip_gap"]])
        return np.asarray(delta[:, _M[key]])

    for name, rule in TABLE.items():
        if rule.measure == "-":
            continue
        signal = rule.sign * change(rule)
        if name.startswith("mouthSmile"):
            tag = "L" if name.endswith("Left") else "R"
            signal = signal + 0.3 * delta[:, _M[f"corner_out_{tag}"]]
        if name.startswith("mouthLowerDown"):
            signal = signal - 0.8 * delta[:, _M["chin_drop"]]
        out[:, INDEX[name]] = _ramp(signal, rule.dead, rule.span)
    for side in ("Left", "Right"):
        open_eye = 1.0 - out[:, INDEX[f"eyeBlink{side}"]]
        for look in ("Up", "Down"):
            out[:, INDEX[f"eyeLook{look}{side}"]] *= open_eye
        out[:, INDEX[f"mouthStretch{side}"]] *= 1.0 - out[:, INDEX[f"mouthSmile{side}"]]
        out[:, INDEX[f"mouthPress{side}"]] *= closed
    out[:, INDEX["mouthPucker"]] *= closed
    out[:, INDEX["mouthFunnel"]] *= apart
    for name in ("mouthRollLower", "mouthRollUpper", "mouthShrugUpper"):
        out[:, INDEX[name]] *= closed
    return out[0] if single else out


def eye_angles(measures: npt.ArrayLike, neutral: NeutralCalibration | None = None) -> FloatArray:
    """(4,) or (n, 4): left yaw, left pitch, right yaw, right pitch of the eyes in the head."""
    m = np.atleast_2d(np.asarray(measures, np.float64))
    base = (neutral or NeutralCalibration.population()).measures
    cols = [_M["iris_yaw_L"], _M["iris_pitch_L"], _M["iris_yaw_R"], _M["iris_pitch_R"]]
    out = m[:, cols] - base[cols]
    return out[0] if np.asarray(measures).ndim == 1 else out


class BlendshapeSolver:
    """Per-frame solver with a per-performer neutral.

    Args:
        neutral: the neutral face (default: the population neutral until
            :meth:`calibrate` is called).
    """

    def __init__(self, neutral: NeutralCalibration | None = None) -> None:
        self.neutral = neutral or NeutralCalibration.population()

    def calibrate(self, neutral_meshes: Iterable[npt.ArrayLike]) -> BlendshapeSolver:
        """Use the performer's neutral face from a few seconds of meshes (image pixels)."""
        self.neutral = NeutralCalibration.from_meshes(neutral_meshes)
        return self

    def solve(self, points: npt.ArrayLike) -> FloatArray:
        """The 52 coefficients of one mesh (478, 3, image pixels)."""
        return np.asarray(solve_measures(mesh_measures(points), self.neutral))

    def solve_dict(self, points: npt.ArrayLike) -> dict[str, float]:
        """:meth:`solve` as ``{shape: value}``."""
        return {n: float(v) for n, v in zip(SHAPES, self.solve(points), strict=True)}
