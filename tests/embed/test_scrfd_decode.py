"""SCRFD output decoding (no weights needed): anchors, distances, YuNet row layout."""

from __future__ import annotations

import numpy as np

from facescope.detect import scrfd


def _outputs(height: int, width: int) -> dict[str, np.ndarray]:
    out = {}
    for stride in scrfd.STRIDES:
        cells = (height // stride) * (width // stride) * scrfd.ANCHORS_PER_CELL
        out[f"score_{stride}"] = np.zeros((cells, 1), np.float32)
        out[f"bbox_{stride}"] = np.zeros((cells, 4), np.float32)
        out[f"kps_{stride}"] = np.zeros((cells, 10), np.float32)
    return out


def test_one_detection_decodes_to_a_yunet_row() -> None:
    height, width = 64, 96
    out = _outputs(height, width)
    cols = width // 16
    # stride 16, cell (row 2, col 3), second anchor of the cell
    index = (2 * cols + 3) * 2 + 1
    out["score_16"][index] = 0.9
    out["bbox_16"][index] = [1.0, 0.5, 2.0, 1.5]  # left, top, right, bottom in strides
    out["kps_16"][index] = [-0.5, -0.25, 0.5, -0.25, 0.0, 0.0, -0.25, 0.5, 0.25, 0.5]
    rows = scrfd.decode(out, height, width, 0.5)
    assert rows.shape == (1, 15)
    cx, cy = 3 * 16, 2 * 16
    np.testing.assert_allclose(rows[0, :4], [cx - 16, cy - 8, 48, 32])
    np.testing.assert_allclose(rows[0, 4:6], [cx - 8, cy - 4])
    np.testing.assert_allclose(rows[0, 12:14], [cx + 4, cy + 8])
    assert rows[0, 14] == np.float32(0.9)


def test_nothing_above_the_threshold_is_empty_and_overlaps_are_merged() -> None:
    out = _outputs(64, 64)
    assert scrfd.decode(out, 64, 64, 0.5).shape == (0, 15)
    out["score_8"][[0, 1]] = [[0.8], [0.7]]  # the two anchors of one cell: same box
    out["bbox_8"][[0, 1]] = 2.0
    rows = scrfd.decode(out, 64, 64, 0.5)
    assert len(rows) == 1 and rows[0, 14] == np.float32(0.8)


def test_the_anchor_count_must_match_the_map() -> None:
    out = _outputs(64, 64)
    out["score_8"] = np.full((3, 1), 0.9, np.float32)
    try:
        scrfd.decode(out, 64, 64, 0.5)
    except RuntimeError as exc:
        assert "anchors" in str(exc)
    else:
        raise AssertionError("a mismatched output was decoded")
