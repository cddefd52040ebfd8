"""Drawing results on images (kept apart from the result types)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from facescope.types import Faces

_GREEN = (46, 204, 113)
_GREY = (160, 160, 160)


def annotate(
    rgb: npt.NDArray[np.uint8],
    faces: Faces,
    labels: Sequence[str | None] | None = None,
    *,
    known: Sequence[bool] | None = None,
) -> npt.NDArray[np.uint8]:
    """Return a copy of `rgb` with face boxes, landmarks and optional labels.

    A label of None draws the box grey (an unknown person); `known` chooses the
    colour per face explicitly (grey where False) when labels are all text.
    Without `labels`, faces that carry track ids or identities are labelled
    ``#track name`` (grey: not recognised); other faces show their detector score.
    """
    if labels is None and (faces.track_id is not None or faces.identity is not None):
        labels = _labels(faces)
        known = _known(faces) if known is None else known
    canvas = np.ascontiguousarray(rgb).copy()
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for index in range(len(faces)):
        label = labels[index] if labels is not None else f"{faces.scores[index]:.2f}"
        is_known = label is not None if known is None else bool(known[index])
        colour = _GREEN if is_known else _GREY
        x1, y1, x2, y2 = (round(float(v)) for v in faces.boxes[index])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        for x, y in faces.landmarks5[index]:
            cv2.circle(canvas, (round(float(x)), round(float(y))), thickness + 1, colour, -1)
        text = label if label is not None else "unknown"
        scale = 0.4 * thickness
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(0, y1 - height - 6)
        cv2.rectangle(canvas, (x1, top), (x1 + width + 4, top + height + 6), colour, -1)
        cv2.putText(
            canvas,
            text,
            (x1 + 2, top + height + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    return canvas


def _labels(faces: Faces) -> list[str | None]:
    """``#track name`` per face, from whichever of the two the faces carry."""
    out: list[str | None] = []
    for index in range(len(faces)):
        parts = []
        if faces.track_id is not None and faces.track_id[index] >= 0:
            parts.append(f"#{int(faces.track_id[index])}")
        if faces.identity is not None:
            parts.append(faces.identity[index] or "unknown")
        out.append(" ".join(parts) or "untracked")
    return out


def _known(faces: Faces) -> list[bool]:
    if faces.identity is None:
        return [True] * len(faces)
    return [name is not None for name in faces.identity]
