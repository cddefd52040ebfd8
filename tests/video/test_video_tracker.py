"""FaceTracker: stable ids through motion, crossings, occlusions and false detections."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.tracking.tracker import FaceTracker, iou_matrix
from facescope.types import Faces

FPS = 25.0


def faces(boxes: list[list[float]], scores: list[float] | None = None) -> Faces:
    n = len(boxes)
    return Faces(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores if scores is not None else [0.95] * n, np.float32),
        np.zeros((n, 5, 2), np.float32),
    )


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_iou_matrix_hand_computed() -> None:
    a = [[0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_two_people_walking_keep_their_ids() -> None:
    tracker = FaceTracker()
    seen = []
    for frame in range(50):
        x = 4.0 * frame
        ids = tracker.update(
            faces([[x, 10, x + 60, 80], [400 - x, 200, 460 - x, 270]]), frame / FPS
        )
        seen.append(tuple(ids))
    assert seen[0] == (1, 2) and set(seen) == {(1, 2)}
    assert all(t.confirmed for t in tracker.tracks)


def test_crossing_paths_are_told_apart_by_appearance() -> None:
    tracker = FaceTracker()
    a, b = unit(1), unit(2)
    for frame in range(40):
        xa, xb = 10.0 * frame, 390.0 - 10.0 * frame  # they meet at frame 19-20
        boxes = [[xa, 50, xa + 60, 120], [xb, 50, xb + 60, 120]]
        order = [0, 1] if frame % 2 == 0 else [1, 0]  # detector order carries no identity
        ids = tracker.update(
            faces([boxes[i] for i in order]), frame / FPS, np.stack([[a, b][i] for i in order])
        )
        by_person = dict(zip(order, ids.tolist(), strict=True))
        assert by_person == {0: 1, 1: 2}, frame


def test_short_occlusion_keeps_the_id_and_reid_finds_it_elsewhere() -> None:
    tracker = FaceTracker(max_lost_s=1.0)
    face = unit(3)
    for frame in range(10):
        tracker.update(faces([[100, 100, 160, 170]]), frame / FPS, face[None])
    for frame in range(10, 20):  # hidden for 0.4 s
        assert tracker.update(faces([]), frame / FPS).size == 0
    ids = tracker.update(faces([[300, 120, 360, 190]]), 20 / FPS, face[None])  # far away
    assert ids.tolist() == [1]
    for frame in range(21, 60):  # hidden 1.6 s: longer than max_lost_s, the track ends
        tracker.update(faces([]), frame / FPS)
    assert [t.id for t in tracker.pop_finished()] == [1]
    assert tracker.update(faces([[300, 120, 360, 190]]), 60 / FPS, face[None]).tolist() == [2]


def test_a_one_frame_false_detection_never_confirms() -> None:
    tracker = FaceTracker(min_hits=2)
    tracker.update(faces([[10, 10, 50, 60]]), 0.0)
    tracker.update(faces([]), 1 / FPS)
    finished = tracker.pop_finished()
    assert len(finished) == 1 and not finished[0].confirmed
    assert tracker.tracks == []


def test_weak_detections_extend_tracks_but_never_start_them() -> None:
    tracker = FaceTracker(high_score=0.8, low_score=0.5)
    tracker.update(faces([[10, 10, 70, 80]]), 0.0)
    tracker.update(faces([[12, 10, 72, 80]]), 1 / FPS)
    ids = tracker.update(faces([[14, 10, 74, 80], [300, 300, 360, 370]], [0.6, 0.6]), 2 / FPS)
    assert ids.tolist() == [1, -1]
    assert len(tracker.tracks) == 1 and tracker.tracks[0].hits == 3


def test_update_with_faces_puts_the_track_ids_on_the_faces() -> None:
    tracker = FaceTracker(high_score=0.8, low_score=0.5)
    tracker.update_with_faces(faces([[10, 10, 70, 80]]), 0.0)
    tracked = tracker.update_with_faces(
        faces([[12, 10, 72, 80], [300, 300, 360, 370]], [0.9, 0.6]), 1 / FPS
    )
    assert tracked.track_id is not None and tracked.track_id.tolist() == [1, -1]
    assert tracked[tracked.track_id >= 0].boxes.tolist() == [[12, 10, 72, 80]]
    assert tracked.to_dicts()[1]["track_id"] is None


def test_predict_extrapolates_between_detections() -> None:
    tracker = FaceTracker()
    for frame in range(0, 9, 3):  # detection every third frame, moving 30 px per round
        tracker.update(faces([[10.0 * frame, 0, 10.0 * frame + 50, 60]]), frame / FPS)
    ids, boxes = tracker.predict(7 / FPS)
    assert ids.tolist() == [1]
    assert boxes.shape == (1, 4) and boxes.dtype == np.float32
    assert 55 < boxes[0][0] < 85  # between the last box (60) and the next expected (90)


def test_bad_calls_are_refused() -> None:
    tracker = FaceTracker()
    tracker.update(faces([]), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(faces([]), 0.5)
    with pytest.raises(ValueError, match="embeddings"):
        tracker.update(faces([[0, 0, 10, 10]]), 2.0, np.zeros((2, 128), np.float32))
    with pytest.raises(ValueError):
        FaceTracker(low_score=0.9, high_score=0.5)
