"""Retargeting: the rig JSON, its validation and its combinations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facescope.animate import AnimateError, Rig
from facescope.animate.shapes import INDEX, SHAPES


def _weights(**values: float) -> np.ndarray:
    w = np.zeros(len(SHAPES))
    for name, value in values.items():
        w[INDEX[name]] = value
    return w


def test_combinations_gains_offsets_and_clamps() -> None:
    rig = Rig.from_dict(
        {
            "name": "t",
            "controls": {
                "smile": {
                    "inputs": [{"shape": "mouthSmileLeft", "gain": 0.5},
                               {"shape": "mouthSmileRight", "gain": 0.5}],
                    "gain": 2.0, "max": 1.5,
                },
                "blink": {"inputs": [{"shape": "eyeBlinkLeft"}, {"shape": "eyeBlinkRight"}],
                          "combine": "max"},
                "jawA": {"inputs": [{"shape": "jawOpen"}], "offset": 0.1},
                "jawB": {"inputs": [{"shape": "jawOpen"}], "gain": -1.0, "min": -1.0, "max": 0.0},
                "grin": {"inputs": [{"control": "smile"}, {"control": "jawA"}],
                         "combine": "product"},
            },
        }
    )  # fmt: skip
    out = rig.evaluate_dict(
        _weights(mouthSmileLeft=0.6, mouthSmileRight=0.2, eyeBlinkRight=0.7, jawOpen=0.3)
    )
    assert out["smile"] == pytest.approx(0.8)  # (0.3 + 0.1) * 2
    assert out["blink"] == pytest.approx(0.7)
    assert out["jawA"] == pytest.approx(0.4) and out["jawB"] == pytest.approx(-0.3)
    assert out["grin"] == pytest.approx(0.8 * 0.4)
    clamped = rig.evaluate_dict(_weights(mouthSmileLeft=1.0, mouthSmileRight=1.0))
    assert clamped["smile"] == pytest.approx(1.5)
    assert rig.control_names.index("grin") > rig.control_names.index("smile")
    batch = rig.evaluate(np.stack([_weights(jawOpen=0.5), _weights()]))
    assert batch.shape == (2, 5)


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"a": {"inputs": [{"shape": "mouthSmile"}]}}, "unknown shape"),
        ({"a": {"inputs": [{"shape": "jawOpen", "gain": "big"}]}}, "number"),
        ({"a": {"inputs": [{"shape": "jawOpen", "gain": float("nan")}]}}, "finite"),
        ({"a": {"inputs": [{"shape": "jawOpen"}], "gain": 1e9}}, "within"),
        ({"a": {"inputs": [{"control": "b"}]}, "b": {"inputs": [{"control": "a"}]}}, "cycle"),
        ({"a": {"inputs": [{"control": "a"}]}}, "cycle"),
        ({"a": {"inputs": [{"control": "nope"}]}}, "unknown control"),
        ({"a": {"inputs": []}}, "non-empty"),
        ({"a": {"inputs": [{"shape": "jawOpen"}], "combine": "avg"}}, "combine"),
        ({"a": {"inputs": [{"shape": "jawOpen"}], "min": 1, "max": 0}}, "below"),
        ({"a": {"inputs": [{"shape": "jawOpen", "control": "a"}]}}, "exactly one"),
        ({"a": {"inputs": [{"shape": "jawOpen"}], "gian": 2}}, "unknown keys"),
    ],
)
def test_bad_rigs_are_refused(controls: dict, message: str) -> None:
    with pytest.raises(AnimateError, match=message):
        Rig.from_dict({"name": "bad", "controls": controls})


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(AnimateError, match="not found"):
        Rig.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(AnimateError, match="JSON"):
        Rig.load(broken)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"controls": {}}))
    with pytest.raises(AnimateError, match="controls"):
        Rig.load(empty)
    with pytest.raises(AnimateError, match="NaN"):
        Rig.identity().evaluate(np.full(52, np.nan))


def test_the_example_rigs_load_and_drive_the_head() -> None:
    toon, mascot = Rig.load("toon"), Rig.load("mascot")
    assert Rig.load(None).control_names == SHAPES
    # toon: one source to several controls (brows move as one), symmetric blink
    out = toon.evaluate_dict(_weights(browInnerUp=0.5, eyeBlinkLeft=1.0))
    assert out["browInnerUp"] == pytest.approx(0.8) and out["browOuterUpLeft"] == pytest.approx(
        0.64
    )
    assert out["eyeBlinkLeft"] == out["eyeBlinkRight"] > 0.5
    # mascot: several sources to one control, shown on the built-in head through "display"
    controls = mascot.evaluate(_weights(mouthSmileLeft=0.4, mouthSmileRight=0.4))
    assert dict(zip(mascot.control_names, controls, strict=True))["smile"] == pytest.approx(0.6)
    head = mascot.head_weights(controls)
    assert head[INDEX["mouthSmileLeft"]] == pytest.approx(0.6)
    assert head[INDEX["eyeLookInLeft"]] == 0.0
