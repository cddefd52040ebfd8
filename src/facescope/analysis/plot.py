"""Pictures of analysis results: annotated images and time-series plots for videos.

:func:`draw_analysis` draws, per face, the mesh (or dlib's 68 points), the head's
axes (red x to the person's left, green y down, blue out of the face), gaze rays
from both irises, and a bar chart of the expression probabilities beside the
face. :func:`plot_timeseries` plots a video's head pose, eye and mouth openness
with blinks marked, expressions, and valence/arousal over time, one line per
track (matplotlib, no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.geometry import LEFT_IRIS, NOSE_TIP, RIGHT_IRIS
from facescope.analysis.result import FaceAnalysis, FrameAnalysis

if TYPE_CHECKING:
    from facescope.analysis.result import VideoAnalysis

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


def draw_analysis(
    rgb: npt.NDArray[np.uint8],
    analysis: FrameAnalysis,
    *,
    mesh: bool = True,
    axes: bool = True,
    gaze: bool = True,
    expressions: bool = True,
) -> npt.NDArray[np.uint8]:
    """A copy of `rgb` with each face's analysis drawn on it."""
    canvas = np.ascontiguousarray(rgb).copy()
    for face in analysis.faces:
        _draw_face(canvas, face, mesh=mesh, axes=axes, gaze=gaze, expressions=expressions)
    return canvas


def _draw_face(
    canvas: npt.NDArray[np.uint8],
    face: FaceAnalysis,
    *,
    mesh: bool,
    axes: bool,
    gaze: bool,
    expressions: bool,
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
    if expressions and face.expressions:
        _bars(canvas, face, thick)


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


def _bars(canvas: npt.NDArray[np.uint8], face: FaceAnalysis, thick: int) -> None:
    """A horizontal bar chart of the expression probabilities, right of the face (or left)."""
    assert face.expressions is not None
    height, width = canvas.shape[:2]
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1)
    row = max(8, round(side / 9))
    chart_w = round(side * 1.3)
    left = round(x2) + 6 if x2 + 6 + chart_w < width else max(0, round(x1) - 6 - chart_w)
    top = max(0, min(round(y1), height - row * len(EXPRESSIONS)))
    scale = row / 30.0
    label_w = round(chart_w * 0.58)
    for i, name in enumerate(EXPRESSIONS):
        p = float(face.expressions.get(name, 0.0))
        y = top + i * row
        overlay = canvas[y : y + row - 2, left : left + chart_w]
        overlay[:] = (overlay * 0.4).astype(np.uint8)
        bar = round((chart_w - label_w) * p)
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
            (left + 2, y + row - 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, thick // 2),
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
        for column, style in (("yaw", "-"), ("pitch", "--"), ("roll", ":")):
            panels[0].plot(t, rows[column], style, label=f"{tag} {column}")
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
