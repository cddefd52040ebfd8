"""Pictures of analysis results: annotated images and time-series plots for videos.

:func:`draw_analysis` draws, per face, the mesh (or dlib's 68 points), the head's
axes (red x to the person's left, green y down, blue out of the face), gaze rays
from both irises, and a bar chart of the expression probabilities beside the
face: :func:`panel_layout` puts each chart right of, left of, below or above its
face, wherever it covers no face and no other chart (shrinking it down to
:data:`MIN_ROW` pixels a bar first), and where no such place is left in the image
(a close-up, a crowd) in a strip added to the right of the picture, joined to its
face by a line. :func:`plot_timeseries` plots a video's head pose, eye and mouth openness
with blinks marked, expressions, and valence/arousal over time, one line per
track (matplotlib, no display needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.geometry import LEFT_IRIS, NOSE_TIP, RIGHT_IRIS
from facescope.analysis.result import FaceAnalysis, FrameAnalysis

if TYPE_CHECKING:
    from collections.abc import Sequence

    from facescope.analysis.result import VideoAnalysis
    from facescope.types import Box

#: One RGB colour per expression, in EXPRESSIONS order.
EXPRESSION_COLOURS: dict[str, tuple[int, int, int]] = {
    "anger": (231, 76, 60),
    "disgust": (39, 174, 96),
    "fear": (142, 68, 173),
    "happiness": (241, 196, 15),
    "sadness": (52, 152, 219),
    "surprise": (230, 126, 34),
    "neutral": (149, 165, 166),
}
_MESH = (120, 220, 255)
_BOX = (46, 204, 113)
_GAZE = (255, 64, 255)
_STRIP = (24, 24, 24)

#: An expression chart is one row per expression, PANEL_WIDTH rows wide; the smallest
#: row height (pixels) a chart is shrunk to before it moves to the strip.
PANEL_WIDTH = 12
MIN_ROW = 9
#: Pixels kept between a chart and any face box or other chart.
PANEL_GAP = 6

Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class PanelLayout:
    """Where each face's expression chart goes.

    Attributes:
        panels: per face, its chart's ``x1, y1, x2, y2`` in canvas pixels (None: no chart).
        width, height: the canvas: the image's size, or larger when some chart went to
            the strip added on the right (the image keeps its place at the top left).
        in_strip: per face, whether its chart is in that strip.
    """

    panels: list[Rect | None]
    width: int
    height: int
    in_strip: list[bool]


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _row_sizes(preferred: int) -> list[int]:
    sizes = [max(preferred, MIN_ROW)]
    while sizes[-1] > MIN_ROW:
        sizes.append(max(MIN_ROW, math.floor(sizes[-1] * 0.8)))
    return sizes


def _candidates(
    box: Sequence[float], row: int, taken: Sequence[Sequence[float]]
) -> list[tuple[float, float]]:
    """Top-left corners to try: right of, left of, below, above `box` (or past `taken`)."""
    gap = PANEL_GAP
    x1, y1, x2, y2 = box
    w, h = PANEL_WIDTH * row, len(EXPRESSIONS) * row
    tops = [y1, (y1 + y2 - h) / 2, y2 - h]
    lefts = [x1, (x1 + x2 - w) / 2, x2 - w]
    if taken:  # set off from the box, just past a chart already there
        right_xs = [t[2] + gap for t in taken if t[2] > x2]
        left_xs = [t[0] - gap - w for t in taken if t[0] < x1]
        below_ys = [t[3] + gap for t in taken if t[3] > y2]
        above_ys = [t[1] - gap - h for t in taken if t[1] < y1]
    else:
        right_xs, left_xs, below_ys, above_ys = (
            [x2 + gap],
            [x1 - gap - w],
            [y2 + gap],
            [y1 - gap - h],
        )
    out = [(x, t) for x in right_xs for t in tops]
    out += [(x, t) for x in left_xs for t in tops]
    out += [(left, y) for y in below_ys for left in lefts]
    out += [(left, y) for y in above_ys for left in lefts]
    return out


def _first_free(
    candidates: Sequence[tuple[float, float]],
    row: int,
    width: int,
    height: int,
    obstacles: Sequence[Sequence[float]],
    taken: Sequence[Sequence[float]],
) -> Rect | None:
    """The first candidate (moved inside the image) over no face and no chart."""
    gap = PANEL_GAP
    w, h = PANEL_WIDTH * row, len(EXPRESSIONS) * row
    if w > width or h > height:
        return None
    for cx, cy in candidates:
        left = round(min(max(cx, 0), width - w))
        top = round(min(max(cy, 0), height - h))
        rect = (left, top, left + w, top + h)
        grown = (left - gap, top - gap, left + w + gap, top + h + gap)
        if any(_overlaps(rect, o) for o in obstacles) or any(_overlaps(grown, t) for t in taken):
            continue
        return rect
    return None


def panel_layout(
    boxes: Sequence[Box], width: int, height: int, *, wanted: Sequence[bool] | None = None
) -> PanelLayout:
    """Place one expression chart per face: beside its face, over no face and no other chart.

    Larger faces choose first. Each tries right of, left of, below, then above its box
    (flush with the box's top or left edge, centred, or flush with the far edge), at its
    preferred size (a ninth of the face a row), then smaller down to :data:`MIN_ROW`;
    then the same sides set off past the charts already placed there (the picture
    joins such a chart to its face with a line). A chart with no such place inside the
    image goes to a strip added on the right.

    Args:
        boxes: every face's ``x1, y1, x2, y2`` (all of them are kept clear).
        width, height: the image size.
        wanted: which faces get a chart (default: all).
    """
    wanted = [True] * len(boxes) if wanted is None else list(wanted)
    gap = PANEL_GAP
    obstacles: list[tuple[float, float, float, float]] = []
    for x1, y1, x2, y2 in boxes:
        pad = max(2.0, 0.03 * max(x2 - x1, y2 - y1))
        obstacles.append((x1 - pad, y1 - pad, x2 + pad, y2 + pad))
    panels: list[Rect | None] = [None] * len(boxes)
    in_strip = [False] * len(boxes)
    taken: list[Rect] = []
    homeless: list[tuple[int, int]] = []
    order = sorted(
        (i for i in range(len(boxes)) if wanted[i]),
        key=lambda i: -(boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1]),
    )
    for i in order:
        side = max(boxes[i][2] - boxes[i][0], boxes[i][3] - boxes[i][1])
        preferred = max(MIN_ROW, round(side / 9))
        place: Rect | None = None
        # first right beside the face, shrinking; then set off by the charts already placed
        for shifted in (False, True):
            for row in _row_sizes(preferred):
                candidates = _candidates(obstacles[i], row, taken if shifted else [])
                place = _first_free(candidates, row, width, height, obstacles, taken)
                if place is not None:
                    break
            if place is not None:
                break
        if place is None:
            homeless.append((i, preferred))
        else:
            panels[i] = place
            taken.append(place)
    canvas_w, canvas_h = width, height
    if homeless:
        # the strip: one column of charts after another, faces top to bottom
        row = max(MIN_ROW, min(min(p for _, p in homeless), max(height // 8, MIN_ROW)))
        w, h = PANEL_WIDTH * row, len(EXPRESSIONS) * row
        left, top = width + gap, gap
        for i, _ in sorted(homeless, key=lambda item: (boxes[item[0]][1], boxes[item[0]][0])):
            if top + h > max(height, h + 2 * gap) - gap and top > gap:
                left, top = left + w + gap, gap
            panels[i] = (left, top, left + w, top + h)
            in_strip[i] = True
            canvas_w = max(canvas_w, left + w + gap)
            canvas_h = max(canvas_h, top + h + gap)
            top += h + gap
    return PanelLayout(panels, canvas_w, canvas_h, in_strip)


def draw_analysis(
    rgb: npt.NDArray[np.uint8],
    analysis: FrameAnalysis,
    *,
    mesh: bool = True,
    axes: bool = True,
    gaze: bool = True,
    expressions: bool = True,
) -> npt.NDArray[np.uint8]:
    """A copy of `rgb` with each face's analysis drawn on it.

    The picture keeps the image's size unless an expression chart finds no room beside
    its face (see :func:`panel_layout`): then a strip is added on the right.
    """
    image = np.ascontiguousarray(rgb)
    height, width = image.shape[:2]
    faces = analysis.faces
    layout = panel_layout(
        [f.box for f in faces],
        width,
        height,
        wanted=[expressions and bool(f.expressions) for f in faces],
    )
    canvas = np.empty((layout.height, layout.width, 3), np.uint8)
    canvas[:] = _STRIP
    canvas[:height, :width] = image
    for face in faces:
        _draw_face(canvas, face, mesh=mesh, axes=axes, gaze=gaze)
    for face, panel in zip(faces, layout.panels, strict=True):
        if panel is None or not face.expressions:
            continue
        start, end = _link(face.box, panel, width, height)
        if max(abs(start[0] - end[0]), abs(start[1] - end[1])) > 3 * PANEL_GAP + 0.03 * max(
            face.box[2] - face.box[0], face.box[3] - face.box[1]
        ):  # set off from its face: join them
            cv2.line(canvas, start, end, _BOX, 1, cv2.LINE_AA)
        _bars(canvas, face.expressions, panel)
    return canvas


def _link(
    box: Box, panel: Rect, width: int, height: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The nearest points of a face box (inside the image) and its chart."""
    ends: list[tuple[float, float]] = []
    spans = ((box[0], box[2], panel[0], panel[2]), (box[1], box[3], panel[1], panel[3]))
    for low, high, p_low, p_high in spans:
        if p_low >= high:
            ends.append((high, p_low))
        elif p_high <= low:
            ends.append((low, p_high))
        else:
            middle = (max(low, p_low) + min(high, p_high)) / 2
            ends.append((middle, middle))
    (bx, px), (by, py) = ends
    start = (round(min(max(bx, 0), width - 1)), round(min(max(by, 0), height - 1)))
    return start, (round(px), round(py))


def _draw_face(
    canvas: npt.NDArray[np.uint8],
    face: FaceAnalysis,
    *,
    mesh: bool,
    axes: bool,
    gaze: bool,
) -> None:
    x1, y1, x2, y2 = (round(v) for v in face.box)
    side = max(x2 - x1, y2 - y1, 1)
    thick = max(1, round(side / 150))
    cv2.rectangle(canvas, (x1, y1), (x2, y2), _BOX, thick)
    if mesh and face.mesh is not None:
        radius = max(1, round(side / 300))
        for x, y in face.mesh[:468, :2]:
            cv2.circle(canvas, (round(float(x)), round(float(y))), radius, _MESH, -1)
    elif mesh and face.landmarks68 is not None:
        for x, y in face.landmarks68:
            cv2.circle(canvas, (round(float(x)), round(float(y))), thick + 1, _MESH, -1)
    if axes and face.pose is not None and face.mesh is not None:
        origin = face.mesh[NOSE_TIP, :2].astype(np.float64)
        length = 0.5 * side
        rotation = face.pose.rotation
        # canonical axes: x towards the image's right (the person's left), y down, -z out
        for column, sign, colour in (
            (0, 1.0, (255, 0, 0)),
            (1, 1.0, (0, 200, 0)),
            (2, -1.0, (0, 90, 255)),
        ):
            tip = origin + sign * rotation[:2, column] * length
            _arrow(canvas, origin, tip, colour, thick + 1)
    if gaze and face.gaze is not None and face.mesh is not None:
        direction = face.gaze.vector[:2] * side * 0.6
        for iris in (RIGHT_IRIS, LEFT_IRIS):
            start = face.mesh[iris, :2].astype(np.float64)
            _arrow(canvas, start, start + direction, _GAZE, thick)


def _arrow(
    canvas: npt.NDArray[np.uint8],
    start: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    colour: tuple[int, int, int],
    thickness: int,
) -> None:
    cv2.arrowedLine(
        canvas,
        (round(float(start[0])), round(float(start[1]))),
        (round(float(end[0])), round(float(end[1]))),
        colour,
        thickness,
        tipLength=0.15,
    )


def _bars(canvas: npt.NDArray[np.uint8], expressions: dict[str, float], panel: Rect) -> None:
    """A horizontal bar chart of the expression probabilities, filling `panel`."""
    left, top, right, bottom = panel
    row = (bottom - top) // len(EXPRESSIONS)
    chart_w = right - left
    scale = row / 30.0
    label_w = round(chart_w * 0.58)
    region = canvas[top:bottom, left:right]
    region[:] = (region * 0.4).astype(np.uint8)
    for i, name in enumerate(EXPRESSIONS):
        p = float(expressions.get(name, 0.0))
        y = top + i * row
        bar = round((chart_w - label_w - 2) * min(max(p, 0.0), 1.0))
        cv2.rectangle(
            canvas,
            (left + label_w, y + 1),
            (left + label_w + bar, y + row - 3),
            EXPRESSION_COLOURS[name],
            -1,
        )
        cv2.putText(
            canvas,
            f"{name[:5]} {p:.2f}",
            (left + 2, y + row - max(2, round(row / 6))),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, round(row / 30)),
            cv2.LINE_AA,
        )


def plot_timeseries(video: VideoAnalysis, path: str | Path, *, title: str | None = None) -> Path:
    """Save a PNG of a video's measures over time (one line per track)."""
    from facescope.report.figures import pyplot

    plt = pyplot()

    table = video.to_frame()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig, panels = plt.subplots(5, 1, figsize=(11, 12), sharex=True)
    if table.empty:
        panels[0].text(0.5, 0.5, "no faces found", ha="center", transform=panels[0].transAxes)
        fig.savefig(target, dpi=100)
        plt.close(fig)
        return target
    tracks = table["track"].fillna(-1).astype(int)
    for track in sorted(set(tracks)):
        rows = table[tracks == track]
        tag = f"track {track}" if track >= 0 else "untracked"
        t = rows["time"]
        for column, style in (("Yaw", "-"), ("Pitch", "--"), ("Roll", ":")):
            panels[0].plot(t, rows[column], style, label=f"{tag} {column.lower()}")
        panels[1].plot(t, rows[["ear_right", "ear_left"]].mean(axis=1), label=f"{tag} eye openness")
        panels[2].plot(t, rows["mouth_open"], label=f"{tag} mouth openness")
        if rows[list(EXPRESSIONS)].notna().any().any():
            for name in EXPRESSIONS:
                colour = np.array(EXPRESSION_COLOURS[name]) / 255.0
                panels[3].plot(
                    t, rows[name], color=colour, label=name if track == min(tracks) else None
                )
            panels[4].plot(t, rows["valence"], label=f"{tag} valence")
            panels[4].plot(t, rows["arousal"], "--", label=f"{tag} arousal")
    for blinks in video.blinks.values():
        for blink in blinks:
            panels[1].axvspan(blink.start, blink.end, color="red", alpha=0.25, lw=0)
    panels[0].set_ylabel("head pose (°)")
    panels[1].set_ylabel("eye aspect ratio\n(blinks shaded)")
    panels[2].set_ylabel("mouth openness")
    panels[3].set_ylabel("expression p")
    panels[4].set_ylabel("valence / arousal\n(derived)")
    panels[4].set_xlabel("time (s)")
    for panel in panels:
        panel.grid(alpha=0.3)
        if panel.get_legend_handles_labels()[0]:
            panel.legend(loc="upper right", fontsize=7, ncol=3)
    fig.suptitle(title or "facial analysis over time")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
