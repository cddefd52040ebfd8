"""Detection: real faces found, ordered, sliceable; scale handling; aligned crops."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.pipeline import is_aligned_crop
from facescope.types import as_box


def test_two_person_photos_give_both_people_left_to_right(data: Path) -> None:
    known = {"obama": [data / "obama_1.jpg"], "biden": [data / "biden_1.jpg"]}
    for name, expected in (
        ("obama_left_biden_right.jpg", ["obama", "biden"]),
        ("biden_left_obama_right.jpg", ["biden", "obama"]),
    ):
        faces = fs.detect(data / name)
        assert len(faces) >= 2
        centres = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2
        assert np.all(np.diff(centres) >= 0), "faces must be ordered left to right"
        two_largest = np.sort(np.argsort(-faces.areas)[:2])
        found = fs.identify(data / name, known)
        assert [found[i].identity for i in two_largest] == expected


def test_detect_and_identify_share_the_face_order_and_box_format(data: Path) -> None:
    image = data / "biden_left_obama_right.jpg"
    faces = fs.detect(image)
    assert faces.boxes.dtype == np.float32 and faces.ordered() is faces  # the standard order
    found = fs.identify(image, {"obama": [data / "obama_1.jpg"]})
    assert [f.box for f in found] == [as_box(box) for box in faces.boxes]
    assert all(type(v) is float for f in found for v in f.box)
    named = faces.with_identifications(found)
    assert named.identity is not None and "obama" in named.identity.tolist()
    assert named[named.identity == "obama"].data["identity_score"][0] >= found[0].threshold


def test_faces_result_is_vectorised_and_sliceable(data: Path) -> None:
    faces = fs.detect(data / "biden_left_obama_right.jpg")
    assert faces.boxes.shape == (len(faces), 4) and faces.boxes.dtype == np.float32
    assert faces.scores.shape == (len(faces),)
    assert faces.landmarks5.shape == (len(faces), 5, 2)
    big = faces[faces.areas > np.median(faces.areas) * 0.9]
    assert 0 < len(big) <= len(faces)
    assert len(faces[0]) == 1
    # landmarks lie inside their boxes: eyes above the mouth
    for box, points in zip(faces.boxes, faces.landmarks5, strict=True):
        assert box[0] - 2 <= points[:, 0].min() and points[:, 0].max() <= box[2] + 2
        assert points[:2, 1].mean() < points[3:, 1].mean()


def test_max_faces_keeps_the_largest(data: Path) -> None:
    faces = fs.detect(data / "biden_left_obama_right.jpg")
    top = fs.detect(data / "biden_left_obama_right.jpg", max_faces=2)
    assert len(top) == 2
    assert set(np.round(top.areas)) == set(np.round(np.sort(faces.areas)[-2:]))


def test_large_image_is_downscaled_and_boxes_map_back(data: Path) -> None:
    small = fs.load_image(data / "obama_1.jpg")
    big = np.kron(small, np.ones((6, 6, 1), np.uint8))  # 6x upscaled copy, ~2300x2900
    faces_small, faces_big = fs.detect(small), fs.detect(big)
    assert len(faces_small) == len(faces_big) == 1
    np.testing.assert_allclose(faces_big.boxes[0] / 6, faces_small.boxes[0], atol=4)


def test_small_faces_are_found_by_tiling_when_asked(data: Path) -> None:
    portrait = fs.load_image(data / "obama_1.jpg")  # face ~100 px wide
    tiny = portrait[::4, ::4]  # face ~25 px
    canvas = np.full((3000, 4000, 3), 200, np.uint8)
    canvas[1500 : 1500 + tiny.shape[0], 2500 : 2500 + tiny.shape[1]] = tiny
    assert len(fs.detect(canvas)) == 0  # at 640 px working size the face is 4 px
    faces = fs.detect(canvas, min_size=16)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.boxes[0]
    assert 2500 <= x1 < x2 <= 2500 + tiny.shape[1] and 1500 <= y1 < y2 <= 1500 + tiny.shape[0]


def test_aligned_crop_is_auto_detected(data: Path) -> None:
    crop = fs.align(data / "obama_1.jpg")[0]
    assert crop.shape == (112, 112, 3) and is_aligned_crop(crop)
    faces = fs.detect(crop)
    assert faces.aligned and len(faces) == 1
    detected = fs.detect(crop, assume_aligned=False)
    assert not detected.aligned


def test_no_face_in_a_non_face_image() -> None:
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert len(fs.detect(gradient)) == 0


def test_portraits_have_the_labelled_number_of_faces(portraits: Path) -> None:
    with (portraits / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        faces = fs.detect(portraits / row["path"])
        # the group photo also holds a bystander; labels count the named people
        assert len(faces) >= int(row["n_faces"]), row["path"]


@pytest.mark.parametrize("stride", [1])
def test_tight_greyscale_crops_are_detected(orl: Path, stride: int) -> None:
    files = sorted(orl.glob("s*/*.pgm"))[::stride]
    found = sum(len(fs.detect(path)) > 0 for path in files)
    assert found == len(files)


def test_tiny_image_is_upscaled_for_small_faces(data: Path) -> None:
    import cv2

    photo = fs.load_image(data / "obama_left_biden_right.jpg")
    tiny = cv2.resize(
        photo, (photo.shape[1] // 6, photo.shape[0] // 6), interpolation=cv2.INTER_AREA
    )
    faces = fs.detect(tiny, min_size=8)  # faces ~14 px wide in a 106x62 image
    assert len(faces) == 2
    assert faces.boxes[0, 2] < tiny.shape[1] / 2 < faces.boxes[1, 0]
