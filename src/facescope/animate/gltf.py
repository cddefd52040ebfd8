"""A glTF 2.0 binary (``.glb``) writer: the head, its 52 morph targets and the performance.

Written by hand (no glTF library): a 12-byte header, a JSON chunk padded with
spaces and a BIN chunk padded with zeros, both to 4 bytes. One mesh with
``POSITION``, ``NORMAL`` and ``COLOR_0``, uint32 indices, 52 morph targets
(``POSITION`` deltas, named in ``mesh.extras.targetNames`` as Blender and three.js
read them), and one animation: the morph weights (path ``weights``, a ``LINEAR``
sampler with 52 values per key) and the head rotation (path ``rotation``).
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facescope.animate.character import Character, default_character
from facescope.animate.errors import AnimateError
from facescope.animate.shapes import SHAPES

FLOAT, UINT32 = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def _quaternion(yaw: float, pitch: float, roll: float) -> tuple[float, float, float, float]:
    """glTF (x, y, z, w) rotation of the head (y up, z to the viewer) for pose angles."""

    # yaw about +y, pitch about -x (up), roll about -z (clockwise in the image)
    def axis(ax: tuple[float, float, float], deg: float) -> npt.NDArray[np.float64]:
        h = math.radians(deg) / 2
        return np.array([ax[0] * math.sin(h), ax[1] * math.sin(h), ax[2] * math.sin(h),
                         math.cos(h)])  # fmt: skip

    def mul(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x1, y1, z1, w1 = p
        x2, y2, z2, w2 = q
        return np.array([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                         w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                         w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                         w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2])  # fmt: skip

    q = mul(mul(axis((0, 1, 0), yaw), axis((-1, 0, 0), pitch)), axis((0, 0, -1), roll))
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def _normals(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.uint32]) -> Any:
    tri = triangles.astype(np.int64)
    face = np.cross(
        vertices[tri[:, 1]] - vertices[tri[:, 0]], vertices[tri[:, 2]] - vertices[tri[:, 0]]
    )
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, tri[:, k], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)


def write_glb(
    path: str | os.PathLike[str],
    times: npt.ArrayLike,
    weights: npt.ArrayLike,
    head: npt.ArrayLike | None = None,
    character: Character | None = None,
) -> Path:
    """Write the head with its morph targets and the performance as an animation.

    Args:
        path: the ``.glb`` file.
        times: (n,) seconds, increasing.
        weights: (n, 52) morph weights (:data:`SHAPES` order).
        head: (n, 3) yaw, pitch, roll in degrees, or None (no rotation channel).
    """
    model = character or default_character()
    t = np.asarray(times, np.float32).reshape(-1)
    w = np.asarray(weights, np.float32)
    if w.shape != (len(t), len(SHAPES)) or len(t) == 0:
        raise AnimateError(f"weights must be ({len(t)}, {len(SHAPES)}), got {w.shape}")
    if not (np.isfinite(t).all() and np.isfinite(w).all()):
        raise AnimateError("times and weights must be finite")
    if len(t) > 1 and (np.diff(t) <= 0).any():
        raise AnimateError("keyframe times must increase")
    blobs: list[bytes] = []
    views: list[dict[str, Any]] = []
    accessors: list[dict[str, Any]] = []
    offset = 0

    def add(data: npt.NDArray[Any], kind: str, component: int, target: int | None,
            minmax: bool = False) -> int:  # fmt: skip
        nonlocal offset
        raw = np.ascontiguousarray(data).tobytes()
        view: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        views.append(view)
        pad = (-len(raw)) % 4
        blobs.append(raw + b"\x00" * pad)
        offset += len(raw) + pad
        count = data.shape[0] if kind != "SCALAR" or data.ndim == 1 else data.size
        accessor: dict[str, Any] = {
            "bufferView": len(views) - 1, "componentType": component,
            "count": int(count), "type": kind,
        }  # fmt: skip
        if minmax:
            flat = data.reshape(int(count), -1)
            accessor["min"] = [float(v) for v in flat.min(0)]
            accessor["max"] = [float(v) for v in flat.max(0)]
        accessors.append(accessor)
        return len(accessors) - 1

    position = add(model.vertices, "VEC3", FLOAT, ARRAY_BUFFER, minmax=True)
    normal = add(_normals(model.vertices, model.triangles), "VEC3", FLOAT, ARRAY_BUFFER)
    colour = add(model.colors, "VEC3", FLOAT, ARRAY_BUFFER)
    indices = add(model.triangles.reshape(-1), "SCALAR", UINT32, ELEMENT_ARRAY_BUFFER)
    targets = [
        {"POSITION": add(model.targets[k], "VEC3", FLOAT, ARRAY_BUFFER, minmax=True)}
        for k in range(len(SHAPES))
    ]
    key_times = add(t, "SCALAR", FLOAT, None, minmax=True)
    key_weights = add(w.reshape(-1), "SCALAR", FLOAT, None)
    samplers = [{"input": key_times, "output": key_weights, "interpolation": "LINEAR"}]
    channels = [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]
    if head is not None:
        angles = np.asarray(head, np.float64).reshape(len(t), 3)
        if not np.isfinite(angles).all():
            raise AnimateError("head angles must be finite")
        quats = np.array([_quaternion(*row) for row in angles], np.float32)
        rot = add(quats, "VEC4", FLOAT, None)
        samplers.append({"input": key_times, "output": rot, "interpolation": "LINEAR"})
        channels.append({"sampler": 1, "target": {"node": 0, "path": "rotation"}})
    document = {
        "asset": {"version": "2.0", "generator": "facescope.animate"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "head", "mesh": 0}],
        "meshes": [{
            "name": "stylized_head",
            "primitives": [{
                "attributes": {"POSITION": position, "NORMAL": normal, "COLOR_0": colour},
                "indices": indices, "mode": 4, "material": 0, "targets": targets,
            }],
            "weights": [0.0] * len(SHAPES),
            "extras": {"targetNames": list(SHAPES)},
        }],
        "materials": [{"name": "skin", "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
            "roughnessFactor": 0.8}, "doubleSided": True}],
        "animations": [{"name": "performance", "channels": channels, "samplers": samplers}],
        "buffers": [{"byteLength": offset}],
        "bufferViews": views,
        "accessors": accessors,
    }  # fmt: skip
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    binary = b"".join(blobs)
    total = 12 + 8 + len(text) + 8 + len(binary)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        handle.write(struct.pack("<III", 0x46546C67, 2, total))
        handle.write(struct.pack("<II", len(text), 0x4E4F534A))
        handle.write(text)
        handle.write(struct.pack("<II", len(binary), 0x004E4942))
        handle.write(binary)
    return out
