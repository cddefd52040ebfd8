"""Tracks end at shot cuts and at appearance jumps: a track's identity is one person's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import TESTDATA

import facescope as fs
from facescope.gallery import Gallery
from facescope.match.thresholds import load_calibration
from facescope.tracking.shots import ShotDetector
from facescope.tracking.tracker import FaceTracker, split_similarity_for
from facescope.types import Faces
from facescope.video.recognizer import VideoRecognizer

VIDEOS = TESTDATA / "video"
FPS = 25.0
SIZE = (360, 640)


def _fit(photo: np.ndarray, height: int = 220) -> np.ndarray:
    from PIL import Image

    width = round(photo.shape[1] * height / photo.shape[0])
    return np.asarray(Image.fromarray(photo).resize((width, height)))


def shot(photo: np.ndarray, background: tuple[int, int, int], frames: int) -> list[np.ndarray]:
    """`photo` swaying by a few pixels at the same place on a plain background."""
    out = []
    for index in range(frames):
        canvas = np.empty((*SIZE, 3), np.uint8)
        canvas[:] = background
        x, y = 200 + 2 * (index % 4), 60
        canvas[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
        out.append(canvas)
    return out


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    data = Path(__file__).parents[1] / "data"
    return {name: _fit(fs.load_image(data / f"{name}_1.jpg")) for name in ("obama", "biden")}


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


# ---- the shot detector --------------------------------------------------------------


def test_the_detector_fires_at_the_cut_and_nowhere_else(photos: dict[str, np.ndarray]) -> None:
    clip = [*shot(photos["obama"], (40, 60, 120), 20), *shot(photos["biden"], (150, 130, 90), 20)]
    detector = ShotDetector()
    assert [i for i, frame in enumerate(clip) if detector.update(frame)] == [20]
    detector.reset()  # a new video: its first frame is no cut
    assert not detector.update(clip[25])


def test_gradual_dimming_is_no_cut(photos: dict[str, np.ndarray]) -> None:
    base = shot(photos["obama"], (40, 60, 120), 60)
    dimming = [
        np.clip(frame.astype(np.float32) * (1.0 - 0.6 * i / 59), 0, 255).astype(np.uint8)
        for i, frame in enumerate(base)
    ]
    detector = ShotDetector()
    assert not any(detector.update(frame) for frame in dimming)
    assert detector.last_distance < detector.min_distance


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_distance"):
        ShotDetector(min_distance=0.0)
    with pytest.raises(ValueError):
        ShotDetector(window=0)


# ---- the tracker: cuts and appearance jumps -----------------------------------------


def test_a_cut_ends_every_track_and_new_ids_follow() -> None:
    tracker = FaceTracker()
    a, b = unit(1), unit(2)
    for frame in range(5):
        assert tracker.update(faces([[100, 100, 160, 170]]), frame / FPS, a[None]).tolist() == [1]
    tracker.cut()
    ended = tracker.pop_finished()
    assert [(t.id, t.end_reason, t.confirmed) for t in ended] == [(1, "cut", True)]
    assert tracker.tracks == []
    # the same place after the cut is a new track, even with the same face
    assert tracker.update(faces([[100, 100, 160, 170]]), 5 / FPS, b[None]).tolist() == [2]


def test_an_appearance_jump_at_the_same_place_splits_the_track() -> None:
    tracker = FaceTracker(split_similarity=0.345)
    obama, biden = unit(1), unit(2)
    box = [[100, 100, 160, 170]]
    for frame in range(10):
        assert tracker.update(faces(box), frame / FPS, obama[None]).tolist() == [1]
    ids = tracker.update(faces(box), 10 / FPS, biden[None])
    assert ids.tolist() == [2]
    ended = tracker.pop_finished()
    assert [(t.id, t.end_reason) for t in ended] == [(1, "split")]
    # the ended track's embedding is still Obama's alone
    assert ended[0].embedding is not None and float(ended[0].embedding @ obama) > 0.99
    assert [t.id for t in tracker.tracks] == [2]


def test_a_slowly_changing_face_stays_one_track() -> None:
    tracker = FaceTracker(split_similarity=0.345)
    a, b = unit(1), unit(2)
    box = [[100, 100, 160, 170]]
    for frame in range(20):  # the same person, embedding noise of a few degrees
        mixed = a + 0.15 * (b if frame % 2 else -b)
        ids = tracker.update(faces(box), frame / FPS, (mixed / np.linalg.norm(mixed))[None])
        assert ids.tolist() == [1]
    assert tracker.pop_finished() == []


def test_a_weak_detection_of_another_face_never_extends_a_track() -> None:
    tracker = FaceTracker(split_similarity=0.345, high_score=0.8, low_score=0.5)
    a, b = unit(1), unit(2)
    box = [[100, 100, 160, 170]]
    tracker.update(faces(box), 0.0, a[None])
    tracker.update(faces(box), 1 / FPS, a[None])
    assert tracker.update(faces(box, [0.6]), 2 / FPS, b[None]).tolist() == [-1]
    assert tracker.update(faces(box), 3 / FPS, a[None]).tolist() == [1]  # it is still there


def test_the_split_threshold_is_the_calibrated_fmr_1e2_threshold() -> None:
    calibration = load_calibration().for_model("sface")
    assert split_similarity_for("sface") == pytest.approx(calibration.threshold(1e-2))
    assert split_similarity_for("no-such-model") is None
    assert VideoRecognizer().split_similarity == pytest.approx(calibration.threshold(1e-2))


# ---- the recogniser on a synthetic clip ---------------------------------------------


@pytest.fixture()
def gallery(tmp_path: Path, data: Path) -> Iterator[Gallery]:
    with Gallery.open(tmp_path / "g") as opened:
        opened.enroll("Obama", [data / "obama_2.jpg"])
        opened.enroll("Biden", [data / "biden_2.jpg"])
        yield opened


def test_no_track_runs_across_a_cut(gallery: Gallery, photos: dict[str, np.ndarray]) -> None:
    clip = [*shot(photos["obama"], (40, 60, 120), 8), *shot(photos["biden"], (150, 130, 90), 8)]
    frames = list(VideoRecognizer(gallery, stride=3).frames(clip))
    assert [f.index for f in frames if f.cut] == [8]
    assert frames[8].detected  # a cut is a detection round, whatever the stride
    before = {i for f in frames[:8] for i in f.track_ids.tolist()}
    after = {i for f in frames[8:] for i in f.track_ids.tolist()}
    assert before and after and not before & after and -1 not in before | after
    results = VideoRecognizer(gallery, stride=3).run(clip)
    assert [(r.identity, r.first_frame >= 8, r.last_frame < 8) for r in results] == [
        ("Obama", False, True),
        ("Biden", True, False),
    ]


def test_an_appearance_jump_without_a_cut_splits_the_track(
    gallery: Gallery, photos: dict[str, np.ndarray]
) -> None:
    # the same place and background, the photo switched: no shot detector at all
    clip = [*shot(photos["obama"], (90, 90, 90), 8), *shot(photos["biden"], (90, 90, 90), 8)]
    frames = list(VideoRecognizer(gallery, shots=False).frames(clip))
    assert not any(f.cut for f in frames)
    ids = [f.track_ids.tolist() for f in frames]
    assert ids[:8] == [[1]] * 8
    assert ids[8][0] not in (1, -1) and ids[8:] == [ids[8]] * 8
    results = VideoRecognizer(gallery, shots=False).run(clip)
    # each track's identity comes from one person
    assert [(r.identity, r.detections) for r in results] == [("Obama", 8), ("Biden", 8)]


# ---- real clips ---------------------------------------------------------------------


def _videos() -> list[Path]:
    return sorted(VIDEOS.glob("*.mp4")) if VIDEOS.is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(not _videos(), reason=f"shared test videos not found at {VIDEOS}")
def test_real_clips_joined_end_to_end_cut_where_they_join() -> None:
    """The talking-head clips (no cuts of their own) spliced: the cuts are known."""
    import cv2

    from facescope.io.video import VideoSource

    clip: list[np.ndarray] = []
    joins = []
    for path in _videos():
        if clip:
            joins.append(len(clip))
        with VideoSource(path, max_frames=40) as video:
            clip += [cv2.resize(f.rgb, (480, 480), interpolation=cv2.INTER_AREA) for f in video]
    frames = list(VideoRecognizer(stride=3).frames(clip))
    cuts = [f.index for f in frames if f.cut]
    assert cuts == joins
    spans: dict[int, list[int]] = {}
    for f in frames:
        for track_id in f.track_ids.tolist():
            spans.setdefault(track_id, []).append(f.index)
    assert -1 not in spans
    for track_id, seen in spans.items():  # no track spans a cut
        assert not any(min(seen) < cut <= max(seen) for cut in cuts), track_id
    assert len(spans) == len(joins) + 1  # one person per clip: one track each, no split


def test_drawn_labels_never_show_track_id_minus_one() -> None:
    from facescope.draw import _labels
    from facescope.video.pipeline import frame_labels

    assert frame_labels([3, -1, 4], ["Obama", None, None]) == ["#3 Obama", "unknown", "#4 unknown"]
    tracked = faces([[0, 0, 10, 10], [20, 0, 30, 10]]).with_tracks(np.array([2, -1]))
    assert _labels(tracked) == ["#2", "untracked"]
    assert _labels(tracked.with_identities(["Biden", None])) == ["#2 Biden", "unknown"]
