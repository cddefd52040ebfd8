"""What every detector network shares: its (n, 15) rows and their NMS.

A row is YuNet's layout: ``x, y, w, h``, five landmarks ``x, y``, score.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

#: Columns of a row that hold x and y coordinates (2 and 3 are width, height).
X_COLUMNS = [0, 4, 6, 8, 10, 12]
Y_COLUMNS = [1, 5, 7, 9, 11, 13]


def nms(rows: npt.NDArray[np.float32], iou_threshold: float) -> npt.NDArray[np.float32]:
    """The rows that survive non-maximum suppression at `iou_threshold` (by score)."""
    if len(rows) <= 1:
        return np.asarray(rows, dtype=np.float32)
    boxes = [[float(r[0]), float(r[1]), float(r[2]), float(r[3])] for r in rows]
    keep = cv2.dnn.NMSBoxes(boxes, rows[:, 14].tolist(), 0.0, iou_threshold)
    return np.asarray(rows[np.asarray(keep, dtype=int).reshape(-1)], dtype=np.float32)
