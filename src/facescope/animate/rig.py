"""Retargeting: a JSON rig maps the 52 source blendshapes to a character's controls.

A rig file::

    {
      "name": "mascot",
      "description": "what the character is",
      "controls": {
        "smile": {"inputs": [{"shape": "mouthSmileLeft", "gain": 0.7},
                             {"shape": "mouthSmileRight", "gain": 0.7}],
                  "combine": "sum", "gain": 1.2, "offset": 0.0, "min": 0.0, "max": 1.0},
        "grin":  {"inputs": [{"control": "smile"}, {"shape": "jawOpen", "gain": 0.5}],
                  "combine": "max"}
      },
      "display": {"smile": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}},
      "head": {"gain": 1.0}
    }

A control's value is ``clamp(offset + gain * combine(input_gain * input), min, max)``
with ``combine`` one of ``sum``, ``mean``, ``max``, ``min``, ``product``; an input is
a source shape (one of the 52 ARKit names) or another control (evaluated first;
cycles are refused). One source may feed several controls and several sources
one control. ``display`` says how the built-in stylized head shows each control
(its 52 morph targets); a control named like an ARKit shape shows as that shape
when ``display`` does not name it. ``head.gain`` scales the head rotation.
Defaults: ``combine`` sum, gains 1, offset 0, min 0, max 1.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.animate.errors import AnimateError
from facescope.animate.shapes import INDEX, SHAPES

FloatArray = npt.NDArray[np.float64]

COMBINES = ("sum", "mean", "max", "min", "product")
#: The example rigs shipped in ``facescope/animate/rigs``.
BUILTIN_RIGS = ("toon", "mascot")
#: Largest |gain| or |offset| a rig may use (a typo guard).
MAX_GAIN = 100.0

_CONTROL_KEYS = {"inputs", "combine", "gain", "offset", "min", "max"}
_INPUT_KEYS = {"shape", "control", "gain"}
_RIG_KEYS = {"name", "description", "controls", "display", "head"}


@dataclass(frozen=True)
class Input:
    """One input of a control: a source shape or another control, times a gain."""

    source: str
    is_control: bool
    gain: float


@dataclass(frozen=True)
class Control:
    """One rig control (see the module docs for the formula)."""

    name: str
    inputs: tuple[Input, ...]
    combine: str
    gain: float
    offset: float
    low: float
    high: float


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnimateError(f"{where} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_GAIN:
        raise AnimateError(f"{where} must be finite and within +-{MAX_GAIN:g}, got {value!r}")
    return number


@dataclass(frozen=True)
class Rig:
    """A validated rig: controls in evaluation order, display map, head gain."""

    name: str
    description: str
    controls: tuple[Control, ...]
    display: dict[str, dict[str, float]]
    head_gain: float = 1.0

    @property
    def control_names(self) -> tuple[str, ...]:
        """The controls, in evaluation order."""
        return tuple(c.name for c in self.controls)

    # -- loading ----------------------------------------------------------------------
    @classmethod
    def identity(cls) -> Rig:
        """The built-in head driven shape for shape (the default rig)."""
        controls = {name: {"inputs": [{"shape": name}]} for name in SHAPES}
        return cls.from_dict({"name": "head", "description": "the built-in stylized head, "
                              "one control per ARKit shape", "controls": controls})  # fmt: skip

    @classmethod
    def load(cls, source: str | os.PathLike[str] | None) -> Rig:
        """A rig from a JSON file, a built-in name (``toon``, ``mascot``) or None (identity)."""
        if source is None or str(source) in ("", "head", "default"):
            return cls.identity()
        if str(source) in BUILTIN_RIGS:
            text = resources.files("facescope.animate").joinpath(f"rigs/{source}.json").read_text()
            return cls.from_json(text, where=f"built-in rig {source}")
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise AnimateError(
                f"rig file not found: {path} (or use a built-in: {', '.join(BUILTIN_RIGS)})"
            )
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise AnimateError(f"cannot read rig {path}: {exc}") from exc
        return cls.from_json(text, where=path)

    @classmethod
    def from_json(cls, text: str, where: str = "rig") -> Rig:
        """Parse and validate rig JSON text."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnimateError(f"{where} is not valid JSON: {exc}") from exc
        try:
            return cls.from_dict(payload)
        except AnimateError as exc:
            raise AnimateError(f"{where}: {exc}") from exc

    @classmethod
    def from_dict(cls, payload: Any) -> Rig:
        """Validate a parsed rig (see the module docs); raises :class:`AnimateError`."""
        if not isinstance(payload, dict):
            raise AnimateError("a rig must be a JSON object")
        unknown = set(payload) - _RIG_KEYS
        if unknown:
            raise AnimateError(f"unknown rig keys: {sorted(unknown)}")
        raw = payload.get("controls")
        if not isinstance(raw, dict) or not raw:
            raise AnimateError("a rig needs a non-empty 'controls' object")
        controls: dict[str, Control] = {}
        for name, spec in raw.items():
            controls[name] = _control(name, spec, set(raw))
        order = _order(controls)
        display: dict[str, dict[str, float]] = {}
        for name, mapping in (payload.get("display") or {}).items():
            if name not in controls:
                raise AnimateError(f"display names an unknown control {name!r}")
            if not isinstance(mapping, dict):
                raise AnimateError(f"display of {name!r} must map shapes to weights")
            for shape, weight in mapping.items():
                if shape not in INDEX:
                    raise AnimateError(f"display of {name!r}: unknown shape {shape!r}")
                display.setdefault(name, {})[shape] = _number(weight, f"display {name}.{shape}")
        head = payload.get("head") or {}
        if not isinstance(head, dict) or set(head) - {"gain"}:
            raise AnimateError("'head' may only hold a 'gain'")
        return cls(
            str(payload.get("name") or "rig"),
            str(payload.get("description") or ""),
            tuple(controls[n] for n in order),
            display,
            _number(head.get("gain", 1.0), "head.gain"),
        )

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, weights: npt.ArrayLike) -> FloatArray:
        """Control values (:attr:`control_names` order) of (52,) or (n, 52) source weights."""
        w = np.asarray(weights, np.float64)
        single = w.ndim == 1
        w = np.atleast_2d(w)
        if w.shape[1] != len(SHAPES):
            raise AnimateError(f"expected {len(SHAPES)} source weights, got {w.shape[1]}")
        if not np.isfinite(w).all():
            raise AnimateError("the source weights hold NaN or infinite values")
        values: dict[str, FloatArray] = {}
        for control in self.controls:
            terms = np.stack(
                [
                    inp.gain * (values[inp.source] if inp.is_control else w[:, INDEX[inp.source]])
                    for inp in control.inputs
                ]
            )
            if control.combine == "sum":
                combined = terms.sum(0)
            elif control.combine == "mean":
                combined = terms.mean(0)
            elif control.combine == "max":
                combined = terms.max(0)
            elif control.combine == "min":
                combined = terms.min(0)
            else:
                combined = terms.prod(0)
            values[control.name] = np.clip(
                control.offset + control.gain * combined, control.low, control.high
            )
        out = np.stack([values[c.name] for c in self.controls], axis=1)
        return out[0] if single else out

    def evaluate_dict(self, weights: npt.ArrayLike) -> dict[str, float]:
        """:meth:`evaluate` of one frame as ``{control: value}``."""
        return {
            n: float(v) for n, v in zip(self.control_names, self.evaluate(weights), strict=True)
        }

    def head_weights(self, controls: npt.ArrayLike) -> FloatArray:
        """The built-in head's 52 morph weights showing control values (1-D or 2-D)."""
        c = np.asarray(controls, np.float64)
        single = c.ndim == 1
        c = np.atleast_2d(c)
        out = np.zeros((c.shape[0], len(SHAPES)), np.float64)
        for k, name in enumerate(self.control_names):
            mapping = self.display.get(name)
            if mapping is None and name in INDEX:
                mapping = {name: 1.0}
            for shape, weight in (mapping or {}).items():
                out[:, INDEX[shape]] += weight * c[:, k]
        out = np.clip(out, 0.0, 1.5)
        return out[0] if single else out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "controls": list(self.control_names),
            "head_gain": self.head_gain,
        }


def _control(name: Any, spec: Any, names: set[str]) -> Control:
    if not isinstance(name, str) or not name:
        raise AnimateError("control names must be non-empty strings")
    if not isinstance(spec, dict):
        raise AnimateError(f"control {name!r} must be an object")
    unknown = set(spec) - _CONTROL_KEYS
    if unknown:
        raise AnimateError(f"control {name!r}: unknown keys {sorted(unknown)}")
    raw_inputs = spec.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise AnimateError(f"control {name!r} needs a non-empty 'inputs' list")
    inputs = []
    for k, item in enumerate(raw_inputs):
        where = f"control {name!r} input {k}"
        if not isinstance(item, dict) or set(item) - _INPUT_KEYS:
            raise AnimateError(f"{where}: an input is {{'shape'|'control': NAME, 'gain': G}}")
        if ("shape" in item) == ("control" in item):
            raise AnimateError(f"{where}: give exactly one of 'shape' and 'control'")
        gain = _number(item.get("gain", 1.0), f"{where} gain")
        if "shape" in item:
            if item["shape"] not in INDEX:
                raise AnimateError(f"{where}: unknown shape {item['shape']!r} (not an ARKit name)")
            inputs.append(Input(str(item["shape"]), False, gain))
        else:
            if item["control"] not in names:
                raise AnimateError(f"{where}: unknown control {item['control']!r}")
            inputs.append(Input(str(item["control"]), True, gain))
    combine = spec.get("combine", "sum")
    if combine not in COMBINES:
        raise AnimateError(f"control {name!r}: combine must be one of {COMBINES}")
    low = _number(spec.get("min", 0.0), f"control {name!r} min")
    high = _number(spec.get("max", 1.0), f"control {name!r} max")
    if low >= high:
        raise AnimateError(f"control {name!r}: min must be below max")
    return Control(
        name,
        tuple(inputs),
        str(combine),
        _number(spec.get("gain", 1.0), f"control {name!r} gain"),
        _number(spec.get("offset", 0.0), f"control {name!r} offset"),
        low,
        high,
    )


def _order(controls: dict[str, Control]) -> list[str]:
    """Controls in dependency order; a cycle raises."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise AnimateError(f"controls form a cycle: {cycle}")
        state[name] = 1
        for inp in controls[name].inputs:
            if inp.is_control:
                visit(inp.source, [*path, name])
        state[name] = 2
        order.append(name)

    for name in controls:
        visit(name, [])
    return order
