"""Exports: the GLB read back with pygltflib, the CSV headers, the rendered head."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from facescope.animate import AnimateError, render_head, write_glb
from facescope.animate.export import BLENDSHAPES_HEADER, LIVELINK_HEADER, timecode
from facescope.animate.performance import solve_performance, write_all
from facescope.animate.render import render_aligned
from facescope.animate.rig import Rig
from facescope.animate.shapes import INDEX, SHAPES
from facescope.animate.solver import population_neutral


def _performance(n: int = 12):
    measures = np.repeat(population_neutral()[None], n, axis=0)
    times = np.arange(n) / 30.0
    head = np.zeros((n, 3))
    head[:, 0] = np.linspace(-10, 10, n)
    return solve_performance(measures, times, head, rig=Rig.load("mascot"))


def test_the_glb_reads_back(tmp_path: Path) -> None:
    n = 5
    weights = np.zeros((n, 52))
    weights[:, INDEX["jawOpen"]] = np.linspace(0, 1, n)
    path = write_glb(tmp_path / "a.glb", np.arange(n) / 30, weights, np.zeros((n, 3)))
    raw = path.read_bytes()
    magic, version, length = struct.unpack("<III", raw[:12])
    assert (magic, version, length) == (0x46546C67, 2, len(raw))
    json_length, json_type = struct.unpack("<II", raw[12:20])
    assert json_type == 0x4E4F534A and json_length % 4 == 0
    bin_length, bin_type = struct.unpack("<II", raw[20 + json_length : 28 + json_length])
    assert bin_type == 0x004E4942 and bin_length % 4 == 0
    assert 28 + json_length + bin_length == len(raw)

    gltf = pygltflib.GLTF2().load(str(path))
    primitive = gltf.meshes[0].primitives[0]
    assert len(primitive.targets) == 52
    assert gltf.meshes[0].extras["targetNames"] == list(SHAPES)
    assert gltf.buffers[0].byteLength == bin_length
    for view in gltf.bufferViews:
        assert view.byteOffset % 4 == 0
        assert view.byteOffset + view.byteLength <= gltf.buffers[0].byteLength
    sizes = {5126: 4, 5125: 4}
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}
    for accessor in gltf.accessors:
        view = gltf.bufferViews[accessor.bufferView]
        assert (
            accessor.count * sizes[accessor.componentType] * width[accessor.type] == view.byteLength
        )
    position = gltf.accessors[primitive.attributes.POSITION]
    assert position.min is not None and position.max is not None
    for target in primitive.targets:
        assert gltf.accessors[target["POSITION"]].count == position.count
        assert gltf.accessors[target["POSITION"]].min is not None
    animation = gltf.animations[0]
    paths = {c.target.path for c in animation.channels}
    assert paths == {"weights", "rotation"}
    sampler = animation.samplers[0]
    assert sampler.interpolation == "LINEAR"
    assert gltf.accessors[sampler.input].count == n
    assert gltf.accessors[sampler.output].count == n * 52
    # the weights round-trip
    view = gltf.bufferViews[gltf.accessors[sampler.output].bufferView]
    blob = gltf.binary_blob()
    stored = np.frombuffer(blob[view.byteOffset : view.byteOffset + view.byteLength], np.float32)
    assert np.allclose(stored.reshape(n, 52), weights)


def test_glb_refuses_bad_keys(tmp_path: Path) -> None:
    with pytest.raises(AnimateError):
        write_glb(tmp_path / "b.glb", [0.0, 0.0], np.zeros((2, 52)))
    with pytest.raises(AnimateError):
        write_glb(tmp_path / "b.glb", [0.0], np.full((1, 52), np.nan))


def test_csv_headers_exactly(tmp_path: Path) -> None:
    files = write_all(_performance(), tmp_path, panels=[])
    assert {Path(f).name for f in files} == {
        "blendshapes.csv", "livelink.csv", "frames.json", "performance.glb"
    }  # fmt: skip
    with open(tmp_path / "blendshapes.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == BLENDSHAPES_HEADER
    assert rows[0][:4] == ["frame", "time", "eyeBlinkLeft", "eyeLookDownLeft"]
    assert rows[0][-3:] == ["headYaw", "headPitch", "headRoll"] and len(rows) == 13
    with open(tmp_path / "livelink.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == LIVELINK_HEADER
    assert rows[0][:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"]
    assert "JawOpen" in rows[0] and rows[0][54:57] == ["HeadYaw", "HeadPitch", "HeadRoll"]
    assert len(rows[0]) == 2 + 52 + 9 and rows[1][1] == "52"
    assert timecode(61.5, 30) == "00:01:01:15.000"


def test_the_render_shows_a_blink_and_a_turn() -> None:
    rest = render_head(np.zeros(52), size=128)
    assert rest.shape == (128, 128, 3) and rest.dtype == np.uint8
    closed = np.zeros(52)
    closed[INDEX["eyeBlinkLeft"]] = 1.0
    blink = render_head(closed, size=128)
    diff = np.abs(blink.astype(int) - rest.astype(int)).sum(2) > 30
    _, xs = np.nonzero(diff)
    assert len(xs) > 20 and xs.mean() > 64  # the performer's left eye is on the image's right
    turned = render_head(np.zeros(52), (30.0, 0.0, 0.0), size=128)
    assert np.abs(turned.astype(int) - rest.astype(int)).mean() > 2


def test_the_aligned_render_is_a_112_crop() -> None:
    crop = render_aligned(np.zeros(52))
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    # the template's eye row is darker (pupils) than the cheek row below it
    assert crop[50:54, 30:80].mean() != crop[70:74, 30:80].mean()
