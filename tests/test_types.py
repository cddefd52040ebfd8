"""One result vocabulary: Faces with tracks, identities and per-face data; boxes; renamed names."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from facescope.types import (
    UNTRACKED,
    Candidate,
    Faces,
    Identification,
    VerifyResult,
    as_box,
    face_order,
)


def three() -> Faces:
    """Three faces, given out of order: centres at x = 250, 50, 150."""
    boxes = [[200, 0, 300, 100], [0, 0, 100, 100], [100, 10, 200, 110]]
    landmarks = np.arange(3 * 10, dtype=np.float32).reshape(3, 5, 2)
    return Faces(np.array(boxes), [0.9, 0.8, 0.7], landmarks)


def test_boxes_are_float32_xyxy_whatever_comes_in() -> None:
    faces = Faces([[1, 2, 3, 4]], [1], np.zeros((1, 5, 2)))
    assert faces.boxes.dtype == np.float32 and faces.boxes.shape == (1, 4)
    assert faces.scores.dtype == np.float32 and faces.landmarks5.dtype == np.float32
    assert faces.areas.tolist() == [4.0]
    empty = Faces.empty()
    assert empty.boxes.shape == (0, 4) and empty.boxes.dtype == np.float32


def test_as_box_is_four_python_floats_from_float32() -> None:
    box = as_box(np.array([1.1, 2, 3, 4], np.float64))
    assert isinstance(box, tuple) and len(box) == 4
    assert all(type(v) is float for v in box)
    assert box[0] == float(np.float32(1.1))  # the float32 value, not the float64 one
    with pytest.raises(ValueError):
        as_box([1, 2, 3])


def test_the_face_order_is_left_to_right_ties_most_confident_first() -> None:
    faces = three().ordered()
    centres = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2
    assert centres.tolist() == [50, 150, 250]
    assert faces.scores.tolist() == pytest.approx([0.8, 0.7, 0.9])
    # landmarks travel with their faces
    assert faces.landmarks5[0, 0].tolist() == [10, 11]
    tie = Faces([[0, 0, 10, 10], [0, 5, 10, 15]], [0.6, 0.9], np.zeros((2, 5, 2)))
    assert tie.ordered().scores.tolist() == pytest.approx([0.9, 0.6])
    assert face_order(tie.boxes, tie.scores).tolist() == [1, 0]
    already = faces.ordered()
    assert already is faces


def test_slicing_keeps_tracks_identities_and_data_aligned() -> None:
    faces = (
        three()
        .with_tracks([7, None, 3])
        .with_identities(["Ada", None, "Bob"])
        .with_data(quality=[0.5, 0.25, 0.75], embedding=np.eye(3, 4, dtype=np.float32))
    )
    assert faces.track_id is not None and faces.track_id.dtype == np.int64
    assert faces.track_id.tolist() == [7, UNTRACKED, 3]
    assert faces.identity is not None and faces.identity.dtype == object
    for selector in (np.array([False, True, True]), np.array([2, 1]), [2, 1], slice(1, None)):
        part = faces[selector]
        assert len(part) == 2
        assert part.track_id is not None and part.identity is not None
        rows = {float(b[0]): (t, i, q) for b, t, i, q in zip(
            part.boxes, part.track_id.tolist(), part.identity.tolist(),
            part.data["quality"].tolist(), strict=True,
        )}  # fmt: skip
        assert rows == {0.0: (-1, None, 0.25), 100.0: (3, "Bob", 0.75)}
        assert part.data["embedding"].shape == (2, 4)
    one = faces[0]
    assert len(one) == 1 and one.identity is not None and one.identity.tolist() == ["Ada"]
    assert one.data["embedding"].shape == (1, 4)
    ordered = faces.ordered()
    assert ordered.identity is not None and ordered.identity.tolist() == [None, "Bob", "Ada"]
    assert ordered.data["quality"].tolist() == [0.25, 0.75, 0.5]


def test_new_fields_are_validated() -> None:
    base = three()
    with pytest.raises(ValueError, match="track_id"):
        base.with_tracks([1, 2])
    with pytest.raises(ValueError, match="track_id"):
        base.with_tracks([1.5, 2, 3])
    with pytest.raises(ValueError, match="track_id"):
        base.with_tracks([1, 2, -5])
    with pytest.raises(ValueError, match="identity"):
        base.with_identities(["a", "b"])
    with pytest.raises(ValueError, match="identity"):
        base.with_identities(["a", 3, None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="data\\['quality'\\]"):
        base.with_data(quality=[0.1, 0.2])
    with pytest.raises(ValueError, match="data\\['flag'\\]"):
        base.with_data(flag=1.0)
    with pytest.raises(ValueError, match="disagree"):
        Faces(np.zeros((2, 4)), np.zeros(3), np.zeros((2, 5, 2)))
    # unset by default, and the empty result takes empty arrays
    assert base.track_id is None and base.identity is None and base.data == {}
    empty = Faces.empty().with_tracks([]).with_identities([]).with_data(q=[])
    assert empty.track_id is not None and empty.track_id.shape == (0,)


def test_to_dicts_shows_the_new_fields_only_when_set() -> None:
    plain = three().to_dicts()
    assert set(plain[0]) == {"box", "score", "landmarks5"}
    tagged = three().with_tracks([1, -1, 2]).with_identities([None, "Bob", None])
    rows = tagged.with_data(quality=np.array([0.5, 0.25, 0.75], np.float32)).to_dicts()
    assert [r["track_id"] for r in rows] == [1, None, 2]
    assert [r["identity"] for r in rows] == [None, "Bob", None]
    assert [r["quality"] for r in rows] == [0.5, 0.25, 0.75]
    json.dumps(rows)


def test_identifications_go_onto_the_faces() -> None:
    faces = three().ordered()
    found = [
        Identification(as_box(box), name, score, 0.4, "sface", [Candidate("Ada", score)])
        for box, name, score in zip(faces.boxes, ["Ada", None, "Bob"], [0.9, 0.2, 0.6], strict=True)
    ]
    named = faces.with_identifications(found)
    assert named.identity is not None and named.identity.tolist() == ["Ada", None, "Bob"]
    assert named.data["identity_score"].tolist() == pytest.approx([0.9, 0.2, 0.6])
    assert named.data["identity_threshold"].tolist() == pytest.approx([0.4] * 3)
    assert found[0].to_dict()["box"] == [0.0, 0.0, 100.0, 100.0]
    with pytest.raises(ValueError, match="2 identifications for 3 faces"):
        faces.with_identifications(found[:2])


def test_verify_result_fmr_and_its_deprecated_far_target() -> None:
    result = VerifyResult(True, 0.7, 0.42, "sface", 1e-3)
    assert result.fmr == 1e-3
    with pytest.warns(DeprecationWarning, match="far_target"):
        assert result.far_target == 1e-3
    data = result.to_dict()
    assert data["fmr"] == 1e-3 and data["far_target"] == 1e-3


def test_min_face_is_a_deprecated_alias_of_min_size() -> None:
    from facescope.analysis.analyzer import AnalyzeOptions
    from facescope.video.recognizer import VideoRecognizer, track

    assert AnalyzeOptions(min_size=20).min_size == 20
    with pytest.warns(DeprecationWarning, match="min_face"):
        options = AnalyzeOptions(min_face=20)
    assert options.min_size == 20
    with pytest.warns(DeprecationWarning, match="min_face"):
        assert options.min_face == 20
    with pytest.warns(DeprecationWarning, match="min_face"):
        assert dataclasses.replace(AnalyzeOptions(), min_face=30).min_size == 30
    # replace without the old name stays silent and keeps the value
    assert dataclasses.replace(options, max_faces=2).min_size == 20
    with pytest.raises(TypeError, match="min_size"), pytest.warns(DeprecationWarning):
        AnalyzeOptions(min_size=10, min_face=20)

    with pytest.warns(DeprecationWarning, match="min_face"):
        recognizer = VideoRecognizer(min_face=24)
    assert recognizer.min_size == 24
    with pytest.warns(DeprecationWarning, match="min_face"):
        assert recognizer.min_face == 24
    with pytest.warns(DeprecationWarning, match="min_face"):
        track([], min_face=24)


def test_enrol_response_is_a_deprecated_alias() -> None:
    from facescope.service import schemas

    with pytest.warns(DeprecationWarning, match="EnrollResponse"):
        assert schemas.EnrolResponse is schemas.EnrollResponse
    with pytest.raises(AttributeError):
        _ = schemas.NoSuchResponse


def test_annotate_labels_tracked_and_identified_faces() -> None:
    from facescope.draw import annotate

    faces = Faces([[10, 40, 60, 90], [200, 40, 250, 90]], [0.9, 0.9], np.zeros((2, 5, 2)))
    canvas = np.zeros((120, 320, 3), np.uint8)
    named = annotate(canvas, faces.with_tracks([4, 5]).with_identities(["Ada", None]))
    assert named[90, 35].tolist() == [46, 204, 113]  # known: green bottom edge
    assert named[90, 225].tolist() == [160, 160, 160]  # not recognised: grey
    plain = annotate(canvas, faces)
    assert plain[90, 225].tolist() == [46, 204, 113]  # scores only: every box green
