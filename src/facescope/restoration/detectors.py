"""Degradation detectors: which kinds of weather an image carries, and how likely each is.

One binary :class:`~facescope.heads.LogisticHead` per kind over the measurements of
:func:`facescope.restoration.measures.measure`, and for the kinds where they helped on
held-out people, the learned texture statistics of SFace's stem as well
(:func:`facescope.restoration.measures.describe`); fitted by ``scripts/fit_weather_detectors.py``
on clean faces and their synthetic degradations (:func:`facescope.weather.degrade`),
split by person, and shipped as ``detectors.json`` (``facescope-weather-detectors/1``:
the input names, the heads as ``facescope-head/1`` documents over a subset of them, and
one threshold per kind). Each threshold
keeps false alarms on clean faces of held-out people at about 1%: restoring a clean face
harms recognition, so a detector must rather miss mild weather than fire on a clean face.

Where torch is installed, a small convolutional detector
(:mod:`facescope.restoration.detector_net`) runs beside the heads, and a kind is present
when either fires: it finds weather drawn unlike our synthesiser that the heads miss.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from facescope._json import write_json
from facescope.errors import WeatherError
from facescope.heads import HeadError, LogisticHead
from facescope.restoration.detector_net import network_available
from facescope.restoration.measures import FEATURES, INPUTS, describe

#: The kinds the detectors tell (the names of :data:`facescope.weather.KINDS`).
DETECTED: Final[tuple[str, ...]] = ("haze", "motion_blur", "noise", "low_light", "rain", "snow")
DETECTORS_FORMAT: Final[str] = "facescope-weather-detectors/2"
#: Older files (heads over the measurements only) still load.
_FORMATS: Final[tuple[str, ...]] = ("facescope-weather-detectors/1", DETECTORS_FORMAT)
SHIPPED: Final[str] = "detectors.json"


@dataclass(frozen=True)
class Assessment:
    """What the detectors found in one image."""

    probabilities: dict[str, float]
    thresholds: dict[str, float]
    measures: dict[str, float] = field(default_factory=dict)
    #: The detector network's probabilities and thresholds, where it ran
    #: (:mod:`facescope.restoration.detector_net`).
    network: dict[str, float] = field(default_factory=dict)
    network_thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def present(self) -> tuple[str, ...]:
        """The kinds whose head or network probability reaches its threshold, most likely
        first."""
        hits = {k for k, p in self.probabilities.items() if p >= self.thresholds[k]}
        hits |= {k for k, p in self.network.items() if p >= self.network_thresholds.get(k, 2.0)}
        return tuple(sorted(hits, key=lambda k: -self._likelihood(k)))

    def _likelihood(self, kind: str) -> float:
        return max(self.probabilities.get(kind, 0.0), self.network.get(kind, 0.0))

    @property
    def clean(self) -> bool:
        return not self.present

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": list(self.present),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()},
            "measures": {k: round(v, 5) for k, v in self.measures.items()},
            "network": {k: round(v, 4) for k, v in self.network.items()},
            "network_thresholds": {k: round(v, 4) for k, v in self.network_thresholds.items()},
        }


@dataclass(frozen=True)
class DegradationDetectors:
    """One head and one threshold per detected kind, with the provenance of the fit.

    `features` names the columns the heads' input rows carry (a prefix of
    :data:`~facescope.restoration.measures.INPUTS`); each head reads its own subset.
    """

    heads: dict[str, LogisticHead]
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = INPUTS

    def __post_init__(self) -> None:
        if tuple(self.features) != INPUTS[: len(self.features)] or len(self.features) < len(
            FEATURES
        ):
            raise WeatherError("detector inputs must start with the measurements, in order")
        for kind, head in self.heads.items():
            names = getattr(head, "feature_names_in_", ())
            missing = [n for n in names if n not in self.features]
            if missing:
                raise WeatherError(f"the {kind} head reads unknown inputs {missing[:3]}")

    @property
    def uses_stem(self) -> bool:
        """Whether any head reads the stem statistics (which cost a network pass)."""
        return any(len(h.feature_names_in_) > len(FEATURES) for h in self.heads.values())

    def probabilities(self, features: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
        """Per kind, p(present) for rows of :attr:`features` values, (n,)."""
        x = np.atleast_2d(np.asarray(features, np.float64))
        if x.shape[1] != len(self.features):
            raise WeatherError(f"detector rows need {len(self.features)} values, got {x.shape[1]}")
        out = {}
        for kind, head in self.heads.items():
            columns = [self.features.index(n) for n in head.feature_names_in_]
            out[kind] = head.predict_proba(x[:, columns])[:, head.classes_.index("present")]
        return out

    def assess(self, image: npt.NDArray[np.uint8], *, network: bool | None = None) -> Assessment:
        """Measure `image` and say which kinds are present.

        `network`: also run the detector network (:mod:`~facescope.restoration.detector_net`);
        a kind is present when its head or the network fires. None: where it can run.
        """
        values = describe(image, stem=self.uses_stem)[: len(self.features)]
        if len(values) < len(self.features):  # no head reads the stem: zeros stand for it
            values = np.concatenate([values, np.zeros(len(self.features) - len(values))])
        probs = {k: float(v[0]) for k, v in self.probabilities(values).items()}
        physical = dict(zip(FEATURES, values[: len(FEATURES)].tolist(), strict=True))
        if not (network_available() if network is None else network):
            return Assessment(probs, dict(self.thresholds), physical)
        from facescope.restoration import detector_net

        found = detector_net.probabilities(np.asarray(image)[None])[0]
        return Assessment(
            probs,
            dict(self.thresholds),
            physical,
            dict(zip(detector_net.KINDS, found.tolist(), strict=True)),
            detector_net.shipped_thresholds(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": DETECTORS_FORMAT,
            "features": list(self.features),
            "heads": {k: h.to_json() for k, h in self.heads.items()},
            "thresholds": self.thresholds,
            "provenance": self.meta,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "detectors") -> DegradationDetectors:
        if data.get("format") not in _FORMATS:
            raise WeatherError(f"{source} is not a {DETECTORS_FORMAT} document")
        features = tuple(data.get("features", []))
        if features not in (FEATURES, INPUTS):
            raise WeatherError(f"{source} was fitted on other inputs than {FEATURES} (+ stem)")
        try:
            heads = {k: LogisticHead.from_json(h, f"{source}, {k}")
                     for k, h in data["heads"].items()}  # fmt: skip
            thresholds = {k: float(v) for k, v in data["thresholds"].items()}
        except (HeadError, KeyError, TypeError, ValueError) as exc:
            raise WeatherError(f"{source} is not a valid detectors file: {exc}") from None
        if set(heads) != set(thresholds):
            raise WeatherError(f"{source}: heads {sorted(heads)} and thresholds differ")
        return cls(heads, thresholds, dict(data.get("provenance") or {}), features)


def load_detectors(path: str | os.PathLike[str] | None = None) -> DegradationDetectors:
    """The detectors at `path`, or the shipped ones."""
    try:
        if path is None:
            text = resources.files("facescope.restoration").joinpath(SHIPPED).read_text("utf-8")
            where = f"the shipped {SHIPPED}"
        else:
            text = Path(path).read_text(encoding="utf-8")
            where = str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise WeatherError(f"cannot read degradation detectors {path or SHIPPED}: {exc}") from exc
    try:
        return DegradationDetectors.from_dict(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise WeatherError(f"{where} is not JSON: {exc}") from exc


_SHARED: DegradationDetectors | None = None


def shipped_detectors() -> DegradationDetectors:
    """The shipped detectors, loaded once."""
    global _SHARED
    if _SHARED is None:
        _SHARED = load_detectors()
    return _SHARED


def assess_degradation(image: npt.NDArray[np.uint8]) -> Assessment:
    """Which kinds of weather `image` (a face crop or a photo) carries, with probabilities."""
    return shipped_detectors().assess(image)


__all__ = [
    "DETECTED",
    "DETECTORS_FORMAT",
    "Assessment",
    "DegradationDetectors",
    "assess_degradation",
    "load_detectors",
    "shipped_detectors",
]
