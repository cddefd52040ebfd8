"""VideoRecognizer: one result per person, identified from the track's pooled embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from video_scenes import scene

import facescope as fs
from facescope.gallery import Gallery
from facescope.video.recognizer import TrackedFrame, VideoRecognizer, track


@pytest.fixture()
def gallery(tmp_path: Path, data: Path) -> Iterator[Gallery]:
    with Gallery.open(tmp_path / "g") as opened:
        opened.enroll("Obama", [data / "obama_2.jpg"])
        yield opened


@pytest.mark.slow
@pytest.mark.parametrize("stride", [1, 3])
def test_each_person_is_one_track_with_one_decision(
    gallery: Gallery, data: Path, stride: int
) -> None:
    results = VideoRecognizer(gallery, stride=stride).run(scene(data))
    assert [r.identity for r in results] == ["Obama", None]
    obama, stranger = results
    assert obama.first_frame == 0 and 36 <= obama.last_frame <= 39
    assert stranger.first_frame >= 55 and stranger.end > obama.end
    assert obama.detections == pytest.approx(40 / stride, abs=2)
    assert obama.score is not None and obama.threshold is not None
    assert obama.score >= obama.threshold
    assert obama.thumbnail.shape == (112, 112, 3) and obama.thumbnail_quality > 0
    assert obama.to_dict()["identity"] == "Obama"


def test_frames_between_detections_carry_extrapolated_boxes(gallery: Gallery, data: Path) -> None:
    frames: list[TrackedFrame] = list(VideoRecognizer(gallery, stride=3).frames(scene(data)[:40]))
    assert [f.detected for f in frames[:6]] == [True, False, False, True, False, False]
    later = [f for f in frames[6:] if not f.detected]
    assert all(len(f.faces) == 1 and f.track_ids.tolist() == [1] for f in later)
    assert all(f.labels == ["Obama"] for f in later)
    # the faces carry the same track ids and running identities, one sliceable object
    for f in frames:
        assert f.faces.track_id is not None and f.faces.identity is not None
        assert f.faces.track_id.tolist() == f.track_ids.tolist()
        assert f.faces.identity.tolist() == f.labels
        assert f.faces.boxes.dtype == np.float32
    assert later[0].faces[later[0].faces.identity == "Obama"].track_id.tolist() == [1]
    # the extrapolated box moves with the walker (4 px per frame)
    assert later[-1].faces.boxes[0][0] > later[0].faces.boxes[0][0] + 60


@pytest.mark.slow
def test_track_without_a_gallery_gives_ids(data: Path) -> None:
    frames = list(track(scene(data), stride=2))
    ids = {int(i) for f in frames for i in f.track_ids if i > 0}
    assert len(ids) == 2
    for f in frames:  # tracked, not identified
        assert f.faces.track_id is not None and f.faces.identity is None
        assert f.faces.track_id.tolist() == f.track_ids.tolist()


def test_bad_frames_are_refused(gallery: Gallery) -> None:
    with pytest.raises(fs.InvalidImageError, match="frame 1"):
        VideoRecognizer(gallery).run([np.zeros((10, 10, 3), np.uint8), np.zeros((4, 4), np.uint8)])
    with pytest.raises(ValueError, match="stride"):
        VideoRecognizer(gallery, stride=0)
