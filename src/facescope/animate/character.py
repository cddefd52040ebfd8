"""The built-in stylized head: a small mesh generated here, with the 52 ARKit morph targets.

Units are head radii (the head is about 2 units tall), ``+y`` up, ``+z`` towards the
viewer (glTF's convention); the character's left is ``+x`` (the viewer's right), so
``eyeBlinkLeft`` closes the eye drawn on the image's right, like the performer's.
The head is an ellipsoid with flat, coloured feature layers laid just in front of
its surface (eyes with lids, brows, lips and mouth, nose, tongue); every morph
target is a per-vertex displacement of those layers (a glTF POSITION delta).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from facescope.animate.shapes import INDEX, SHAPES

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.uint32]

SKIN = (0.96, 0.76, 0.62)
SCLERA = (0.97, 0.97, 0.97)
IRIS = (0.12, 0.10, 0.10)
BROW = (0.25, 0.15, 0.10)
LIP = (0.78, 0.25, 0.28)
MOUTH = (0.18, 0.04, 0.06)
TONGUE = (0.90, 0.45, 0.50)
NOSE = (0.93, 0.68, 0.55)

_RADII = (0.82, 1.0, 0.78)


@dataclass(frozen=True)
class Character:
    """A mesh with morph targets.

    Attributes:
        vertices: (V, 3) float32 rest positions.
        colors: (V, 3) float32 linear RGB in [0, 1].
        triangles: (T, 3) uint32 vertex indices, counter-clockwise seen from the front.
        layers: (T,) int draw-order bias (features over skin, lids over eyes).
        targets: (52, V, 3) float32 displacements, :data:`SHAPES` order.
    """

    vertices: FloatArray
    colors: FloatArray
    triangles: IntArray
    layers: npt.NDArray[np.int32]
    targets: FloatArray

    def deformed(self, weights: npt.ArrayLike) -> FloatArray:
        """Vertex positions under (52,) morph weights."""
        w = np.asarray(weights, np.float32).reshape(len(SHAPES))
        return np.asarray(self.vertices + np.tensordot(w, self.targets, axes=1), np.float32)


class _Builder:
    def __init__(self) -> None:
        self.v: list[tuple[float, float, float]] = []
        self.c: list[tuple[float, float, float]] = []
        self.t: list[tuple[int, int, int]] = []
        self.layer: list[int] = []

    def surface_z(self, x: float, y: float) -> float:
        a, b, c = _RADII
        inside = 1.0 - (x / a) ** 2 - (y / b) ** 2
        return c * math.sqrt(max(inside, 0.0))

    def point(self, x: float, y: float, lift: float, color: tuple[float, float, float]) -> int:
        self.v.append((x, y, self.surface_z(x, y) + lift))
        self.c.append(color)
        return len(self.v) - 1

    def tri(self, a: int, b: int, c: int, layer: int) -> None:
        self.t.append((a, b, c))
        self.layer.append(layer)

    def fan(self, centre: int, rim: list[int], layer: int, closed: bool = True) -> None:
        n = len(rim)
        for k in range(n if closed else n - 1):
            self.tri(centre, rim[k], rim[(k + 1) % n], layer)

    def strip(self, a: list[int], b: list[int], layer: int, closed: bool = False) -> None:
        n = len(a)
        for k in range(n if closed else n - 1):
            k1 = (k + 1) % n
            self.tri(a[k], b[k], b[k1], layer)
            self.tri(a[k], b[k1], a[k1], layer)


def _ellipse(
    cx: float, cy: float, rx: float, ry: float, n: int, a0: float = 0.0,
    a1: float = 2 * math.pi, endpoint: bool = False,
) -> list[tuple[float, float]]:  # fmt: skip
    angles = np.linspace(a0, a1, n, endpoint=endpoint)
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in angles]


@cache
def default_character() -> Character:
    """The built-in head (built once)."""
    b = _Builder()
    groups: dict[str, list[int]] = {}
    # head ellipsoid (rows from the crown to the chin), skin
    rows, cols = 18, 28
    grid = []
    for i in range(rows + 1):
        phi = math.pi * i / rows
        row = []
        for j in range(cols):
            theta = 2 * math.pi * j / cols
            x = _RADII[0] * math.sin(phi) * math.sin(theta)
            y = _RADII[1] * math.cos(phi)
            z = _RADII[2] * math.sin(phi) * math.cos(theta)
            b.v.append((x, y, z))
            b.c.append(SKIN)
            row.append(len(b.v) - 1)
        grid.append(row)
    for i in range(rows):
        for j in range(cols):
            a, c = grid[i][j], grid[i][(j + 1) % cols]
            d, e = grid[i + 1][j], grid[i + 1][(j + 1) % cols]
            b.tri(a, d, e, 0)
            b.tri(a, e, c, 0)
    groups["head"] = [v for row in grid for v in row]
    # eyes: sclera, iris, upper and lower lids (sides: 0 right at -x, 1 left at +x)
    for side, sx in (("Right", -1.0), ("Left", 1.0)):
        cx, cy, rx, ry = 0.32 * sx, 0.18, 0.16, 0.10
        rim = [b.point(x, y, 0.02, SCLERA) for x, y in _ellipse(cx, cy, rx, ry, 16)]
        b.fan(b.point(cx, cy, 0.02, SCLERA), rim, 1)
        groups[f"sclera{side}"] = [*rim]
        iris_rim = [b.point(x, y, 0.03, IRIS) for x, y in _ellipse(cx, cy, 0.065, 0.065, 12)]
        centre = b.point(cx, cy, 0.03, IRIS)
        b.fan(centre, iris_rim, 2)
        groups[f"iris{side}"] = [centre, *iris_rim]
        top = _ellipse(cx, cy, rx * 1.08, ry * 1.08, 9, 0.0, math.pi, endpoint=True)
        fixed = [b.point(x, y + 0.02, 0.04, SKIN) for x, y in _ellipse(cx, cy, rx * 1.15,
                 ry * 1.5, 9, 0.0, math.pi, endpoint=True)]  # fmt: skip
        moving = [b.point(x, y, 0.04, SKIN) for x, y in top]
        b.strip(fixed, moving, 3)
        groups[f"upperLid{side}"] = moving
        groups[f"upperLidFixed{side}"] = fixed
        bottom = _ellipse(cx, cy, rx * 1.08, ry * 1.08, 9, math.pi, 2 * math.pi, endpoint=True)
        fixed_b = [b.point(x, y - 0.02, 0.04, SKIN) for x, y in _ellipse(cx, cy, rx * 1.15,
                   ry * 1.5, 9, math.pi, 2 * math.pi, endpoint=True)]  # fmt: skip
        moving_b = [b.point(x, y, 0.04, SKIN) for x, y in bottom]
        b.strip(fixed_b, moving_b, 3)
        groups[f"lowerLid{side}"] = moving_b
        # brow: a thick arc
        xs = np.linspace(cx - 0.17 * sx, cx + 0.17 * sx, 6)
        lower = [b.point(float(x), 0.38 + 0.04 * (1 - ((x - cx) / 0.17) ** 2), 0.04, BROW)
                 for x in xs]  # fmt: skip
        upper = [b.point(float(x), 0.43 + 0.04 * (1 - ((x - cx) / 0.17) ** 2), 0.04, BROW)
                 for x in xs]  # fmt: skip
        if sx < 0:
            b.strip(upper, lower, 4)
        else:
            b.strip(lower, upper, 4)
        groups[f"brow{side}"] = lower + upper
    # nose: a small pyramid
    tip = len(b.v)
    b.v.append((0.0, -0.08, b.surface_z(0.0, -0.08) + 0.18))
    b.c.append(NOSE)
    base = [b.point(x, y, 0.01, NOSE) for x, y in _ellipse(0.0, -0.06, 0.1, 0.09, 8)]
    b.fan(tip, base, 2)
    groups["nose"] = [tip, *base]
    # mouth: dark inside, tongue, lip ring (outer ellipse to inner ellipse)
    mx, my = 0.0, -0.48
    inner_xy = _ellipse(mx, my, 0.22, 0.025, 20)
    outer_xy = _ellipse(mx, my, 0.30, 0.09, 20)
    inner_dark = [b.point(x, y, 0.015, MOUTH) for x, y in inner_xy]
    b.fan(b.point(mx, my, 0.015, MOUTH), inner_dark, 1)
    tongue = [b.point(x, y, 0.02, TONGUE) for x, y in _ellipse(mx, my - 0.01, 0.1, 0.012, 10)]
    tongue_centre = b.point(mx, my - 0.01, 0.02, TONGUE)
    b.fan(tongue_centre, tongue, 2)
    outer = [b.point(x, y, 0.03, LIP) for x, y in outer_xy]
    inner = [b.point(x, y, 0.03, LIP) for x, y in inner_xy]
    b.strip(outer, inner, 3, closed=True)
    groups["tongue"] = [tongue_centre, *tongue]
    v = np.asarray(b.v, np.float32)
    targets = np.zeros((len(SHAPES), len(v), 3), np.float32)

    def move(shape: str, idx: list[int] | npt.NDArray[np.int64], delta: npt.ArrayLike) -> None:
        targets[INDEX[shape], idx] += np.asarray(delta, np.float32)

    mouth_all = np.array(inner_dark + outer + inner + groups["tongue"])
    lips = np.array(outer + inner)
    head = np.array(groups["head"])
    # eyes
    for side, sx in (("Right", -1.0), ("Left", 1.0)):
        cx, cy = 0.32 * sx, 0.18
        up = np.array(groups[f"upperLid{side}"])
        low = np.array(groups[f"lowerLid{side}"])
        move(f"eyeBlink{side}", up, np.stack([np.zeros(len(up)), 2 * (cy - v[up, 1]) - 0.01,
                                              np.full(len(up), 0.05)], 1))  # fmt: skip
        move(f"eyeSquint{side}", low, [0.0, 0.05, 0.0])
        move(f"eyeSquint{side}", up, [0.0, -0.03, 0.0])
        scl = np.array(groups[f"sclera{side}"])
        top_scl = scl[v[scl, 1] > cy + 1e-6]
        move(f"eyeWide{side}", top_scl, [0.0, 0.045, 0.0])
        move(f"eyeWide{side}", up, [0.0, 0.05, 0.0])
        move(f"eyeWide{side}", np.array(groups[f"upperLidFixed{side}"]), [0.0, 0.05, 0.0])
        iris = np.array(groups[f"iris{side}"])
        move(f"eyeLookUp{side}", iris, [0.0, 0.04, 0.0])
        move(f"eyeLookDown{side}", iris, [0.0, -0.035, 0.0])
        move(f"eyeLookIn{side}", iris, [-0.07 * sx, 0.0, 0.0])
        move(f"eyeLookOut{side}", iris, [0.07 * sx, 0.0, 0.0])
        brow = np.array(groups[f"brow{side}"])
        inward = np.clip((0.32 - np.abs(v[brow, 0])) / 0.34 + 0.5, 0.0, 1.0)  # 1 at the nose
        move("browInnerUp", brow, np.stack([0 * inward, 0.12 * inward, 0 * inward], 1))
        move(f"browOuterUp{side}", brow, np.stack([0 * inward, 0.12 * (1 - inward),
                                                   0 * inward], 1))  # fmt: skip
        move(f"browDown{side}", brow, np.stack([-0.04 * sx * inward, -0.08 * inward - 0.02,
                                                0 * inward], 1))  # fmt: skip
        # cheeks: ellipsoid skin near (0.45 sx, -0.2)
        d2 = (v[head, 0] - 0.45 * sx) ** 2 + (v[head, 1] + 0.2) ** 2
        fall = np.exp(-d2 / 0.03) * (v[head, 2] > 0)
        normal = v[head] / np.asarray(_RADII, np.float32) ** 2
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        move("cheekPuff", head, 0.12 * fall[:, None] * normal)
        move(f"cheekSquint{side}", head, np.stack([0 * fall, 0.06 * fall, 0 * fall], 1))
        move(f"cheekSquint{side}", low, [0.0, 0.02, 0.0])
        nose_side = np.array([i for i in groups["nose"][1:] if v[i, 0] * sx > 0.02])
        move(f"noseSneer{side}", nose_side, [0.0, 0.04, 0.0])
        # mouth corners and sides
        near = np.clip(1.0 - np.abs(v[lips, 0] - 0.3 * sx) / 0.25, 0.0, 1.0)
        near_dark = np.clip(1.0 - np.abs(v[inner_dark, 0] - 0.22 * sx) / 0.2, 0.0, 1.0)
        for idx, weight in ((lips, near), (np.array(inner_dark), near_dark)):
            move(f"mouthSmile{side}", idx, np.stack([0.05 * sx * weight, 0.1 * weight,
                                                     0 * weight], 1))  # fmt: skip
            move(f"mouthFrown{side}", idx, np.stack([0 * weight, -0.08 * weight, 0 * weight], 1))
            move(f"mouthStretch{side}", idx, np.stack([0.08 * sx * weight, -0.02 * weight,
                                                       0 * weight], 1))  # fmt: skip
            move(f"mouthDimple{side}", idx, np.stack([0.03 * sx * weight, 0 * weight,
                                                      -0.02 * weight], 1))  # fmt: skip
        lower_side = np.array([i for i in outer + inner if v[i, 1] < my and v[i, 0] * sx > 0.05])
        upper_side = np.array([i for i in outer + inner if v[i, 1] > my and v[i, 0] * sx > 0.05])
        move(f"mouthLowerDown{side}", lower_side, [0.0, -0.06, 0.0])
        move(f"mouthUpperUp{side}", upper_side, [0.0, 0.06, 0.0])
        press = np.array([i for i in outer if v[i, 0] * sx > 0.05])
        move(f"mouthPress{side}", press, np.stack([0 * v[press, 1],
             -0.6 * (v[press, 1] - my), 0 * v[press, 1]], 1))  # fmt: skip
    # jaw and mouth opening
    lower_lips = np.array([i for i in outer + inner + inner_dark if v[i, 1] < my - 1e-6])
    chin = head[(v[head, 1] < -0.35) & (v[head, 2] > 0)]
    chin_fall = np.clip((-0.35 - v[chin, 1]) / 0.4, 0.0, 1.0)
    move("jawOpen", lower_lips, [0.0, -0.22, 0.0])
    move("jawOpen", np.array(groups["tongue"]), [0.0, -0.12, 0.0])
    move("jawOpen", chin, np.stack([0 * chin_fall, -0.22 * chin_fall, 0 * chin_fall], 1))
    lower_lip_only = np.array([i for i in outer + inner if v[i, 1] < my - 1e-6])
    move("mouthClose", lower_lip_only, [0.0, 0.2, 0.0])
    for shape, sx in (("jawLeft", 1.0), ("jawRight", -1.0)):
        move(shape, lower_lips, [0.08 * sx, 0.0, 0.0])
        move(shape, chin, np.stack([0.08 * sx * chin_fall, 0 * chin_fall, 0 * chin_fall], 1))
    move("jawForward", lower_lips, [0.0, 0.0, 0.06])
    move("jawForward", chin, np.stack([0 * chin_fall, 0 * chin_fall, 0.08 * chin_fall], 1))
    rel = v[mouth_all] - np.array([mx, my, 0.0], np.float32)
    move("mouthPucker", mouth_all, np.stack([-0.45 * rel[:, 0], 0.2 * rel[:, 1],
                                             np.full(len(rel), 0.06)], 1))  # fmt: skip
    move("mouthFunnel", mouth_all, np.stack([-0.35 * rel[:, 0], 1.2 * rel[:, 1],
                                             np.full(len(rel), 0.04)], 1))  # fmt: skip
    move("mouthLeft", mouth_all, [0.1, 0.0, 0.0])
    move("mouthRight", mouth_all, [-0.1, 0.0, 0.0])
    outer_a = np.array(outer)
    for shape, sign in (("mouthRollLower", -1), ("mouthRollUpper", 1)):
        idx = outer_a[(v[outer_a, 1] - my) * sign > 1e-6]
        move(shape, idx, np.stack([0 * v[idx, 1], -0.7 * (v[idx, 1] - my), 0 * v[idx, 1]], 1))
    move("mouthShrugLower", lower_lip_only, [0.0, 0.04, 0.02])
    upper_lip_only = np.array([i for i in outer + inner if v[i, 1] > my + 1e-6])
    move("mouthShrugUpper", upper_lip_only, [0.0, 0.03, 0.02])
    move("tongueOut", np.array(groups["tongue"]), [0.0, -0.14, 0.12])
    return Character(
        v,
        np.asarray(b.c, np.float32),
        np.asarray(b.t, np.uint32),
        np.asarray(b.layer, np.int32),
        targets,
    )
