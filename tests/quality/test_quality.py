"""Face quality: components react to real degradations; the gallery refuses poor photos."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from skimage import data as skdata

from facescope.errors import EnrollmentError, PoorQualityError
from facescope.gallery import Gallery
from facescope.io.image import load_image
from facescope.match.thresholds import load_calibration
from facescope.pipeline import embed_faces, find_faces, largest
from facescope.quality.assess import (
    DEFAULT_MIN_QUALITY,
    FEATURES,
    SIGNS,
    FaceQuality,
    assess_face,
    assess_quality,
    error_versus_discard,
    landmark_pose,
    load_quality_model,
)
from facescope.types import Faces


@pytest.fixture(scope="module")
def astronaut() -> tuple[npt.NDArray[np.uint8], Faces]:
    rgb = np.ascontiguousarray(skdata.astronaut())
    face = largest(find_faces(rgb))
    assert len(face) == 1
    return rgb, face


def _scaled(faces: Faces, factor: float, shift: tuple[float, float] = (0.0, 0.0)) -> Faces:
    offset = np.array(shift, np.float32)
    return Faces(
        faces.boxes * factor + np.tile(offset, 2),
        faces.scores,
        faces.landmarks5 * factor + offset,
    )


def test_clean_face_is_good(astronaut: tuple[npt.NDArray[np.uint8], Faces]) -> None:
    rgb, face = astronaut
    (quality,) = assess_quality(rgb, face)
    assert isinstance(quality, FaceQuality)
    assert quality.reasons == ()
    assert quality.score >= DEFAULT_MIN_QUALITY
    assert quality.pose_source == "landmarks"
    assert abs(quality.yaw) < 20 and abs(quality.roll) < 20
    assert quality.border_cut == 0.0
    assert set(quality.to_dict()) >= {"score", "reasons", "sharpness", "yaw", "border_cut"}


def test_blur_lowers_sharpness_and_score(astronaut: tuple[npt.NDArray[np.uint8], Faces]) -> None:
    rgb, face = astronaut
    clean = assess_face(rgb, face)
    blurred = assess_face(np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), 6.0)), face)
    assert blurred.sharpness < clean.sharpness / 5
    assert blurred.score < clean.score
    assert any("blurred" in reason for reason in blurred.reasons)


def test_darkening_lowers_exposure_and_score(
    astronaut: tuple[npt.NDArray[np.uint8], Faces],
) -> None:
    rgb, face = astronaut
    clean = assess_face(rgb, face)
    dark = assess_face((rgb * 0.08).astype(np.uint8), face)
    assert dark.brightness < clean.brightness / 4
    assert dark.contrast < clean.contrast
    assert dark.score < clean.score
    assert any("too dark" in reason for reason in dark.reasons)


def test_tiny_face_is_too_small(astronaut: tuple[npt.NDArray[np.uint8], Faces]) -> None:
    rgb, face = astronaut
    factor = 0.12
    small = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    quality = assess_face(np.ascontiguousarray(small), _scaled(face, factor))
    assert quality.eye_distance < 15
    assert any(reason.startswith("face too small") for reason in quality.reasons)
    assert quality.score < assess_face(rgb, face).score


def test_face_cut_by_the_border(astronaut: tuple[npt.NDArray[np.uint8], Faces]) -> None:
    rgb, face = astronaut
    nose_x = int(face.landmarks5[0, 2, 0])
    cut = np.ascontiguousarray(rgb[:, nose_x:])
    quality = assess_face(cut, _scaled(face, 1.0, (-nose_x, 0.0)))
    assert 0.3 < quality.border_cut < 0.7
    assert any("cut by the image border" in reason for reason in quality.reasons)
    assert quality.score < assess_face(rgb, face).score


def test_partial_portrait(portraits: Path) -> None:
    rgb = load_image(portraits / "barack_obama_partial.jpg")
    faces = find_faces(rgb)
    if len(faces) == 0:
        pytest.skip("the detector finds no face in the partial portrait")
    quality = assess_face(rgb, largest(faces))
    assert quality.border_cut > 0.0
    assert any("border" in reason or "partial" in reason for reason in quality.reasons)


def test_profile_and_degenerate_faces_never_raise(
    astronaut: tuple[npt.NDArray[np.uint8], Faces],
) -> None:
    rgb, face = astronaut
    points = face.landmarks5[0].copy()
    eye_distance = float(points[1, 0] - points[0, 0])
    profile = points.copy()
    profile[2, 0] = points[1, 0] + 0.3 * eye_distance  # nose beyond the far eye
    profile[[1, 4], 0] = points[[0, 3], 0] + 0.3 * eye_distance  # far side foreshortened
    yaw, _, _ = landmark_pose(profile)
    assert abs(yaw) > 40
    quality = assess_face(rgb, Faces(face.boxes, face.scores, profile[None]))
    assert any("yaw" in reason for reason in quality.reasons)
    collapsed = np.repeat(points[:1], 5, axis=0)
    outside = points + np.array([5000.0, 5000.0], np.float32)
    for landmarks in (collapsed, outside):
        for q in assess_quality(rgb, Faces(face.boxes, face.scores, landmarks[None])):
            assert 0.0 <= q.score <= 1.0 and q.reasons
    assert assess_quality(rgb, Faces.empty()) == []


def test_mesh_pose_and_visibility_are_used(
    astronaut: tuple[npt.NDArray[np.uint8], Faces],
) -> None:
    rgb, face = astronaut
    turned = assess_face(rgb, face, pose=(62.0, 5.0, 0.0), mesh_inside=0.6)
    assert turned.pose_source == "mesh" and turned.yaw == 62.0
    assert any("yaw 62°" in reason for reason in turned.reasons)
    assert any("mesh" in reason for reason in turned.reasons)
    assert turned.score < assess_face(rgb, face).score
    with pytest.raises(ValueError, match="one per face"):
        assess_quality(
            rgb,
            Faces(
                np.repeat(face.boxes, 2, 0),
                np.repeat(face.scores, 2),
                np.repeat(face.landmarks5, 2, 0),
            ),
            pose=(1.0, 2.0, 3.0),
        )


def test_aligned_crop_is_taken_as_frontal() -> None:
    crop = np.asarray(
        cv2.resize(np.ascontiguousarray(skdata.astronaut()[20:220, 130:330]), (112, 112)), np.uint8
    )
    faces = find_faces(crop)
    assert faces.aligned
    (quality,) = assess_quality(crop, faces)
    assert quality.pose_source == "aligned" and quality.border_cut == 0.0
    assert 0.0 <= quality.score <= 1.0


def test_model_is_fitted_with_provenance() -> None:
    model = load_quality_model()
    assert np.any(model.coef_ != 0)
    assert model.classes_ == ("failure", "success") and model.feature_names_in_ == FEATURES
    provenance = model.provenance_
    assert provenance["script"].startswith("python scripts/fit_quality.py")
    assert set(provenance["fit_identities"]).isdisjoint(provenance["test_identities"])
    # every coefficient kept the sign it was constrained to (the score is monotone)
    signs = np.array([SIGNS[name] for name in FEATURES])
    assert (model.coef_[0] * signs >= 0).all()


def test_error_versus_discard_drops_lowest_quality_first() -> None:
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.7])
    quality = np.array([0.1, 0.3, 0.9, 0.8, 0.5])
    assert error_versus_discard(scores, quality, 0.5, (0.0, 0.2, 0.4)) == [0.4, 0.25, 0.0]


# ---- enrolment -------------------------------------------------------------------


def test_gallery_refuses_a_poor_photo_with_the_reason(data: Path, tmp_path: Path) -> None:
    rgb = load_image(data / "obama_1.jpg")
    dark = (rgb * 0.1).astype(np.uint8)
    with Gallery.open(tmp_path / "g") as gallery:
        with pytest.raises(PoorQualityError, match="too dark") as refused:
            gallery.enroll("obama", [dark])
        assert isinstance(refused.value, EnrollmentError)
        assert refused.value.score < DEFAULT_MIN_QUALITY or refused.value.reasons
        assert len(gallery) == 0
        result = gallery.enroll("obama", [data / "obama_1.jpg"])
        ((_, record),) = gallery.templates("obama")
        expected = assess_face(rgb, largest(find_faces(rgb)))
        assert record.quality == pytest.approx(expected.score, abs=1e-6)
        assert record.quality >= DEFAULT_MIN_QUALITY and result.added == 1
        # The check can be turned off.
        assert gallery.enroll("obama", [dark], min_quality=None).added == 1


def test_service_refuses_a_poor_photo_with_422_and_the_reason(data: Path, tmp_path: Path) -> None:
    from service_helpers import client, error_code

    rgb = load_image(data / "obama_1.jpg")
    blurred = cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), 8.0)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR))
    assert ok
    with client(tmp_path / "data") as api:
        response = api.post(
            "/v1/collections/default/subjects/Obama/faces",
            files={"image": ("blurred.png", encoded.tobytes(), "image/png")},
        )
        assert response.status_code == 422 and error_code(response) == "poor_quality"
        message = response.json()["error"]["message"]
        assert "blurred.png" in message and "too blurred" in message
        good = api.post(
            "/v1/collections/default/subjects/Obama/faces",
            files={"image": ("obama_1.jpg", (data / "obama_1.jpg").read_bytes(), "image/jpeg")},
        )
        assert good.status_code == 201


# ---- error versus discard on the calibration set ----------------------------------


@pytest.mark.slow
def test_fnmr_falls_as_low_quality_faces_are_discarded(celebrities: Path) -> None:
    with (celebrities / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_identity: dict[str, list[str]] = {}
    for row in rows:
        by_identity.setdefault(row["identity"], []).append(row["path"])
    # The identities the bundled model was not fitted on.
    names = sorted(load_quality_model().provenance_["test_identities"])
    identity, vectors, quality = [], [], []
    for number, name in enumerate(names):
        for path in by_identity[name][:20]:
            crop = load_image(celebrities / path)
            scene = np.asarray(
                cv2.copyMakeBorder(crop, 56, 56, 56, 56, cv2.BORDER_REPLICATE), np.uint8
            )
            faces = largest(find_faces(scene, assume_aligned=False))
            if len(faces) == 0:
                continue
            identity.append(number)
            quality.append(assess_face(scene, faces).score)
            vectors.append(embed_faces(crop, find_faces(crop), "sface").vectors[0])
    ids, embedded, q = np.array(identity), np.stack(vectors), np.array(quality)
    first, second = np.triu_indices(len(ids), 1)
    genuine = ids[first] == ids[second]
    scores = np.einsum("ij,ij->i", embedded[first[genuine]], embedded[second[genuine]])
    pair_quality = np.minimum(q[first[genuine]], q[second[genuine]])
    threshold = load_calibration(None).for_model("sface").threshold(1e-3)
    at_0, at_20 = error_versus_discard(scores, pair_quality, threshold, (0.0, 0.2))
    assert at_0 > 0.0
    assert at_20 <= at_0


def test_enrolment_refusal_names_the_check_that_refused() -> None:
    """Issue 28: "quality 0.84, need 0.50" next to a refusal read as a contradiction."""
    from types import SimpleNamespace

    from facescope.gallery.templates import check_quality

    cut = SimpleNamespace(score=0.84, reasons=("face cut by the image border: 12% outside",))
    with pytest.raises(PoorQualityError) as refused:
        check_quality(cut, "a.jpg", 0.5)  # type: ignore[arg-type]
    message = str(refused.value)
    assert message.startswith("a.jpg: not enrolled: refused by the quality check (face cut")
    assert "although the overall score 0.84 passes 0.50" in message
    low = SimpleNamespace(score=0.31, reasons=())
    with pytest.raises(PoorQualityError) as refused:
        check_quality(low, "b.jpg", 0.5)  # type: ignore[arg-type]
    assert "overall quality score: 0.31 is below 0.50, with no single check" in str(refused.value)
    check_quality(low, "b.jpg", 0.0)  # off: nothing raised
