"""Action-unit estimates from mesh geometry (geometric estimates, not a trained AU detector).

Each FACS action unit (AU) is approximated by how far a few distances on the
face mesh have moved from a neutral reference. The mesh is first aligned onto
the canonical face (:func:`facescope.analysis.geometry.to_canonical`), which
removes head rotation, position and scale, so every measure is in millimetres
of a face with 90 mm between the outer eye corners (``y`` grows towards the
chin, ``x`` towards the image's right). Sided measures are the mean of the two
sides.

**These are geometric estimates, not a trained AU detector**: nothing here saw
FACS-coded data. An AU that changes no mesh distance (AU14 dimpler, say) cannot
be seen, AUs that move the same points are not separated (AU6 and AU7 both raise
the lower lid; AU23 and AU24 both thin the lips), and a person whose resting
face differs from the reference (low brows, a wide mouth) reads as a small
activation unless a personal neutral is used.

Intensity of an AU = ``max(0, activation) / scale``, where the activation is a
signed combination of measure changes from the neutral reference (mm; see
:data:`AU_DEFINITIONS`). The scale is fitted on the CK+ ``fit`` subjects: the
median activation over the posed expressions whose FACS prototype contains the
AU (happiness 6+12, sadness 1+4+15, surprise 1+2+5+25+26, fear
1+2+4+5+7+20+25+26, anger 4+5+7+23, disgust 9+10+15), so **1.0 is about a
typical strong posed activation**; values above 1 occur. AU43 (eyes closed) is
the relative loss of eye aperture, 1.0 = closed.

The neutral reference is, for stills, a population neutral (the median of the
measures over the AT&T/ORL faces, 40 people with mostly neutral expressions,
stored in ``expression/au_head.json``); in video, :class:`PersonalNeutral`
learns each person's own neutral (see its rule).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.analysis.geometry import EAR_LEFT, EAR_RIGHT, face_geometry, to_canonical

FloatArray = npt.NDArray[np.float64]

#: Calibration file: the population neutral and the AU scales (and the expression head).
CALIBRATION_PATH = Path(__file__).with_name("expression") / "au_head.json"

# (right side, left side) point groups; each measure averages the two sides.
_INNER_BROW = ((107, 55, 66, 65), (336, 285, 296, 295))
_OUTER_BROW = ((70, 46, 63, 53), (300, 276, 293, 283))
_EYE_CORNERS = ((33, 133), (263, 362))
_UPPER_LID = ((159, 158, 160), (386, 385, 387))
_LOWER_LID = ((145, 144, 153), (374, 373, 380))
_CHEEK = ((118, 101), (347, 330))
_ALA = ((64, 129), (294, 358))

#: The raw geometric measures (mm on the canonical-aligned mesh) and what each is.
MEASURES: dict[str, str] = {
    "inner_brow_height": "height of the inner brow (mean of 107/55/66/65 and mirror) above the "
    "inner eye corner (133/362)",
    "outer_brow_height": "height of the outer brow (70/46/63/53 and mirror) above the outer eye "
    "corner (33/263)",
    "brow_gap": "horizontal distance between the two inner brows",
    "upper_lid_height": "height of the upper lid (159/158/160 and mirror) above the eye-corner "
    "line",
    "lower_lid_depth": "depth of the lower lid (145/144/153 and mirror) below the eye-corner line",
    "eye_aperture": "mean upper-to-lower lid distance of the eye-aspect-ratio pairs",
    "cheek_depth": "depth of the infra-orbital cheek (118/101 and mirror) below the eye-corner "
    "line",
    "ala_depth": "depth of the nostril wings (64/129 and mirror) below the inner eye corners",
    "nose_width": "distance between the nostril wings (64, 294)",
    "philtrum_length": "subnasale (2) to the top of the upper lip (0)",
    "mouth_width": "distance between the mouth corners (61, 291)",
    "corner_depth": "depth of the mouth corners below the upper inner lip (13, which does not "
    "move with the jaw); "
    "negative when the corners sit above it",
    "lip_thickness": "upper-lip red (0 to 13) plus lower-lip red (14 to 17) height",
    "lip_gap": "inner-lip gap (13 to 14)",
    "jaw_length": "nose tip (1) to chin (152)",
    "lower_face_length": "nose tip (1) to the lower-lip bottom (17), which rides on the jaw",
    "chin_lip": "lower-lip bottom (17) to chin (152)",
}

MEASURE_NAMES: tuple[str, ...] = tuple(MEASURES)

#: Each AU's description and activation terms ``{measure: weight}``: the activation is
#: ``sum(weight * change)`` in mm, ``change = measure - neutral``; a key prefixed ``+`` uses
#: only the increase, ``max(0, change)``, and ``-`` only the decrease, ``max(0, -change)``.
AU_DEFINITIONS: dict[str, tuple[str, dict[str, float]]] = {
    "AU1": ("inner brow raiser: inner brow rises over the inner eye corner",
            {"inner_brow_height": 1.0}),
    "AU2": ("outer brow raiser: outer brow rises over the outer eye corner",
            {"outer_brow_height": 1.0}),
    "AU4": ("brow lowerer: inner brows come down and together",
            {"-inner_brow_height": 1.0, "-brow_gap": 0.5}),
    "AU5": ("upper lid raiser: upper lid rises above the eye-corner line",
            {"upper_lid_height": 1.0}),
    "AU6": ("cheek raiser: cheek and lower lid rise towards the eye",
            {"cheek_depth": -1.0, "-lower_lid_depth": 0.5}),
    "AU7": ("lid tightener: lower lid rises and the aperture narrows, cheek not raised",
            {"lower_lid_depth": -1.0, "-cheek_depth": -0.5}),
    "AU9": ("nose wrinkler: brow head and nostril wings draw together (the nose shortens)",
            {"inner_brow_height": -1.0, "ala_depth": -1.0}),
    "AU10": ("upper lip raiser: the upper lip rises towards the nose", {"philtrum_length": -1.0}),
    "AU12": ("lip corner puller: corners rise above the upper lip and move out",
             {"corner_depth": -1.0, "mouth_width": 0.25}),
    "AU15": ("lip corner depressor: corners drop below the upper lip", {"corner_depth": 1.0}),
    "AU17": ("chin raiser: the chin pushes up towards the lower lip, lips closed",
             {"chin_lip": -1.0, "+lip_gap": -1.0}),
    "AU20": ("lip stretcher: the mouth widens without the corners rising",
             {"mouth_width": 0.5, "-corner_depth": -1.0}),
    "AU23": ("lip tightener / pressor (AU23/24): lip red thins with the lips closed",
             {"lip_thickness": -1.0, "+lip_gap": -1.0}),
    "AU25": ("lips part: the inner lips separate", {"lip_gap": 1.0}),
    "AU26": ("jaw drop: the lower lip and jaw move away from the nose",
             {"lower_face_length": 1.0}),
    "AU43": ("eyes closed: relative loss of eye aperture (1 = closed)", {"eye_aperture": -1.0}),
}  # fmt: skip

#: The estimated action units, in output order.
ACTION_UNITS: tuple[str, ...] = tuple(AU_DEFINITIONS)

#: FACS prototypes (EMFACS-style) of the CK+ posed expressions, used to fit the scales
#: (and to validate): AUs expected to be active in each expression.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15", "AU17"),
    "surprise": ("AU1", "AU2", "AU5", "AU25", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU25", "AU26"),
    "anger": ("AU4", "AU5", "AU7", "AU17", "AU23"),
    "disgust": ("AU9", "AU10", "AU15"),
}


def _side_mean(points: FloatArray, groups: tuple[tuple[int, ...], tuple[int, ...]]) -> FloatArray:
    """(2, 3): the mean point of each side's group."""
    return np.stack([points[list(groups[0])].mean(0), points[list(groups[1])].mean(0)])


def measures_from_canonical(canonical: npt.ArrayLike) -> FloatArray:
    """The raw measures (:data:`MEASURE_NAMES` order, mm) of a canonical-aligned mesh (478, 3)."""
    p = np.asarray(canonical, np.float64)
    y = 1
    corners = _side_mean(p, _EYE_CORNERS)  # (2, 3) eye-corner line centre per eye
    outer = p[[_EYE_CORNERS[0][0], _EYE_CORNERS[1][0]]]
    inner = p[[_EYE_CORNERS[0][1], _EYE_CORNERS[1][1]]]
    inner_brow = _side_mean(p, _INNER_BROW)
    outer_brow = _side_mean(p, _OUTER_BROW)
    upper = _side_mean(p, _UPPER_LID)
    lower = _side_mean(p, _LOWER_LID)
    cheek = _side_mean(p, _CHEEK)
    ala = _side_mean(p, _ALA)
    aperture = (
        np.mean(
            [
                np.linalg.norm(p[ear[1]] - p[ear[5]]) + np.linalg.norm(p[ear[2]] - p[ear[4]])
                for ear in (EAR_RIGHT, EAR_LEFT)
            ]
        )
        / 2.0
    )
    values = {
        "inner_brow_height": np.mean(inner[:, y] - inner_brow[:, y]),
        "outer_brow_height": np.mean(outer[:, y] - outer_brow[:, y]),
        "brow_gap": abs(inner_brow[1, 0] - inner_brow[0, 0]),
        "upper_lid_height": np.mean(corners[:, y] - upper[:, y]),
        "lower_lid_depth": np.mean(lower[:, y] - corners[:, y]),
        "eye_aperture": aperture,
        "cheek_depth": np.mean(cheek[:, y] - corners[:, y]),
        "ala_depth": np.mean(ala[:, y] - inner[:, y]),
        "nose_width": np.linalg.norm(p[64] - p[294]),
        "philtrum_length": np.linalg.norm(p[0] - p[2]),
        "mouth_width": np.linalg.norm(p[61] - p[291]),
        "corner_depth": np.mean(p[[61, 291], y]) - p[13, y],
        "lip_thickness": np.linalg.norm(p[0] - p[13]) + np.linalg.norm(p[14] - p[17]),
        "lip_gap": np.linalg.norm(p[13] - p[14]),
        "jaw_length": np.linalg.norm(p[152] - p[1]),
        "lower_face_length": np.linalg.norm(p[17] - p[1]),
        "chin_lip": np.linalg.norm(p[152] - p[17]),
    }
    return np.array([float(values[name]) for name in MEASURE_NAMES], np.float64)


def geometric_measures(points: npt.ArrayLike) -> FloatArray:
    """The raw measures of a mesh in image pixels (478, 3), or a batch (n, 478, 3) -> (n, m)."""
    mesh = np.asarray(points, np.float64)
    if mesh.ndim == 3:
        return np.stack([measures_from_canonical(to_canonical(one)) for one in mesh])
    return measures_from_canonical(to_canonical(mesh))


def au_activations(measures: FloatArray, neutral: FloatArray) -> FloatArray:
    """(n, n_au) signed activations in mm (AU43: relative aperture loss)."""
    delta = measures - neutral
    index = {name: i for i, name in enumerate(MEASURE_NAMES)}
    out = np.zeros((measures.shape[0], len(ACTION_UNITS)), np.float64)
    for k, (_, terms) in enumerate(AU_DEFINITIONS.values()):
        for key, weight in terms.items():
            change = delta[:, index[key.lstrip("+-")]]
            if key.startswith("+"):
                change = np.maximum(change, 0.0)
            elif key.startswith("-"):
                change = np.maximum(-change, 0.0)
            out[:, k] += weight * change
    aperture = index["eye_aperture"]
    out[:, ACTION_UNITS.index("AU43")] = 1.0 - measures[:, aperture] / max(
        float(neutral[aperture]), 1e-6
    )
    return out


@dataclass(frozen=True)
class AUCalibration:
    """A population neutral (raw measures) and per-AU scales (mm of activation per unit)."""

    neutral: FloatArray
    scales: FloatArray
    source: str


@cache
def default_calibration() -> AUCalibration:
    """The shipped calibration, or the canonical face with unit scales where it is absent."""
    if CALIBRATION_PATH.is_file():
        payload = json.loads(CALIBRATION_PATH.read_text())
        block = payload.get("action_units")
        if block and tuple(block["measures"]) == MEASURE_NAMES:
            scales = np.array([float(block["scales"][au]) for au in ACTION_UNITS], np.float64)
            return AUCalibration(
                np.asarray(block["neutral"], np.float64), scales, str(block["neutral_source"])
            )
    neutral = measures_from_canonical(face_geometry().canonical)
    return AUCalibration(neutral, np.ones(len(ACTION_UNITS)), "canonical face, unit scales")


class AUEstimator:
    """Action-unit intensities from mesh measures, relative to a neutral reference.

    Without :meth:`calibrate` the population neutral of :func:`default_calibration`
    is used (stills). :meth:`calibrate` sets a personal neutral: the per-measure
    median over the given neutral meshes of one person.

    Args:
        scales: mm of activation per unit of intensity, per AU (default: the shipped
            CK+ fit); ``None`` for the default.
        neutral: raw measures of the neutral reference; ``None`` for the default.

    Attributes:
        neutral_: the neutral measures in use (after :meth:`calibrate`, the person's).
        scales_: the scales in use.
    """

    def __init__(
        self, scales: npt.ArrayLike | None = None, neutral: npt.ArrayLike | None = None
    ) -> None:
        self.scales = scales
        self.neutral = neutral
        calibration = default_calibration()
        self.neutral_: FloatArray = (
            calibration.neutral if neutral is None else np.asarray(neutral, np.float64)
        )
        self.scales_: FloatArray = (
            calibration.scales if scales is None else np.asarray(scales, np.float64)
        )

    def calibrate(self, neutral_meshes: Iterable[npt.ArrayLike]) -> AUEstimator:
        """Use the per-measure median over one person's neutral meshes (image pixels)."""
        stack = [geometric_measures(mesh) for mesh in neutral_meshes]
        if not stack:
            raise ValueError("calibrate needs at least one neutral mesh")
        self.neutral_ = np.median(np.stack(stack), axis=0)
        return self

    def transform_measures(self, measures: npt.ArrayLike) -> FloatArray:
        """(n, n_au) intensities (>= 0) of raw measures (n, n_measures) or (n_measures,)."""
        values = np.atleast_2d(np.asarray(measures, np.float64))
        raw = au_activations(values, self.neutral_)
        return np.maximum(raw / self.scales_, 0.0)

    def transform(self, meshes: npt.ArrayLike) -> FloatArray:
        """(n, n_au) intensities of meshes (n, 478, 3) or one mesh (478, 3), image pixels."""
        mesh = np.asarray(meshes, np.float64)
        return self.transform_measures(geometric_measures(mesh.reshape(-1, *mesh.shape[-2:])))


def action_units(
    mesh_points: npt.ArrayLike, neutral: npt.ArrayLike | AUEstimator | None = None
) -> dict[str, float]:
    """AU intensities (:data:`ACTION_UNITS`) of one mesh (478, 3, image pixels).

    Args:
        mesh_points: a :class:`~facescope.analysis.mesh.FaceMesh`'s ``points``.
        neutral: the neutral reference: raw measures (from :func:`geometric_measures`
            or :attr:`PersonalNeutral.neutral`), a calibrated :class:`AUEstimator`,
            or ``None`` for the population neutral.
    """
    estimator = neutral if isinstance(neutral, AUEstimator) else AUEstimator(neutral=neutral)
    values = estimator.transform(mesh_points)[0]
    return {name: float(v) for name, v in zip(ACTION_UNITS, values, strict=True)}


class PersonalNeutral:
    """A running per-person neutral for video.

    Rule: keep the raw measures of the last ``window`` frames; the neutral of a
    measure is its median over the window, except for the measures that an
    expression can only push one way from rest, which take a percentile instead
    (``low`` for those that expressions raise: lip gap, jaw length, mouth width;
    ``high`` for the eye aperture, which expressions narrow). Until
    ``min_frames`` frames are seen, the population neutral is blended in with
    weight ``1 - seen / min_frames``, so the first frames read like a still.

    Args:
        window: frames kept (about 10 s at 30 fps by default).
        min_frames: frames before the personal neutral is used alone.
        low: percentile for measures that expressions increase.
        high: percentile for the eye aperture.
    """

    #: measures an expression can only increase from rest (take a low percentile).
    INCREASING: tuple[str, ...] = ("lip_gap", "jaw_length", "mouth_width")
    #: measures an expression can only decrease from rest (take a high percentile).
    DECREASING: tuple[str, ...] = ("eye_aperture",)

    def __init__(
        self, window: int = 300, min_frames: int = 30, low: float = 20.0, high: float = 80.0
    ) -> None:
        self.window = int(window)
        self.min_frames = int(min_frames)
        self.low = float(low)
        self.high = float(high)
        self._frames: deque[FloatArray] = deque(maxlen=self.window)
        self.seen_ = 0

    def update(self, mesh_points: npt.ArrayLike) -> PersonalNeutral:
        """Add one frame's mesh (478, 3, image pixels)."""
        return self.update_measures(geometric_measures(mesh_points))

    def update_measures(self, measures: npt.ArrayLike) -> PersonalNeutral:
        """Add one frame's raw measures."""
        self._frames.append(np.asarray(measures, np.float64).reshape(len(MEASURE_NAMES)))
        self.seen_ += 1
        return self

    @property
    def neutral(self) -> FloatArray:
        """The current neutral measures (the population neutral before any frame)."""
        population = default_calibration().neutral
        if not self._frames:
            return population.copy()
        stack = np.stack(self._frames)
        estimate = np.median(stack, axis=0)
        for name in self.INCREASING:
            i = MEASURE_NAMES.index(name)
            estimate[i] = np.percentile(stack[:, i], self.low)
        for name in self.DECREASING:
            i = MEASURE_NAMES.index(name)
            estimate[i] = np.percentile(stack[:, i], self.high)
        weight = min(1.0, len(stack) / max(self.min_frames, 1))
        return np.asarray(weight * estimate + (1.0 - weight) * population, np.float64)

    def action_units(self, mesh_points: npt.ArrayLike, update: bool = True) -> dict[str, float]:
        """AU intensities of a frame against this person's neutral (adding the frame first)."""
        measures = geometric_measures(mesh_points)
        if update:
            self.update_measures(measures)
        estimator = AUEstimator(neutral=self.neutral)
        values = estimator.transform_measures(measures)[0]
        return {name: float(v) for name, v in zip(ACTION_UNITS, values, strict=True)}


def calibration_payload(
    neutral: FloatArray, scales: FloatArray, source: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``action_units`` block of ``au_head.json``."""
    block: dict[str, Any] = {
        "measures": list(MEASURE_NAMES),
        "neutral": [round(float(v), 5) for v in neutral],
        "neutral_source": source,
        "scales": {au: round(float(s), 5) for au, s in zip(ACTION_UNITS, scales, strict=True)},
    }
    if extra:
        block.update(extra)
    return block
