"""Verification and identification with every model, on real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.match.thresholds import load_calibration

MODELS = ["sface", "dlib", "fusion"]


@pytest.mark.parametrize("model", MODELS)
def test_same_person_matches_and_different_people_do_not(data: Path, model: str) -> None:
    same = fs.verify(data / "obama_1.jpg", data / "obama_2.jpg", model=model)
    assert same.same_person and same.score >= same.threshold
    other = fs.verify(data / "obama_1.jpg", data / "biden_1.jpg", model=model)
    assert not other.same_person and other.score < other.threshold
    biden = fs.verify(data / "biden_1.jpg", data / "biden_2.jpg", model=model)
    assert biden.same_person
    assert same.model == model and same.fmr == pytest.approx(1e-3)
    assert same.threshold == pytest.approx(load_calibration().for_model(model).threshold(1e-3))


@pytest.mark.parametrize("model", ["sface", "dlib"])
def test_embeddings_are_normalised_with_raw_norms(data: Path, model: str) -> None:
    emb = fs.embed(data / "obama_left_biden_right.jpg", model=model)
    assert emb.vectors.shape == (2, 128) and emb.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    assert emb.norms.shape == (2,) and np.all(emb.norms > 0.1)
    assert emb.model == model


def test_aligned_crop_verifies_against_the_full_photo(data: Path) -> None:
    crop = fs.align(data / "obama_1.jpg")[0]
    for model in MODELS:
        assert fs.verify(crop, data / "obama_2.jpg", model=model).same_person
        assert not fs.verify(crop, data / "biden_1.jpg", model=model).same_person


def test_assume_aligned_accepts_other_crop_sizes(data: Path) -> None:
    crop = fs.align(data / "obama_1.jpg")[0]
    bigger = np.kron(crop, np.ones((2, 2, 1), np.uint8))  # 224x224, still aligned
    emb = fs.embed(bigger, assume_aligned=True)
    reference = fs.embed(crop)
    assert float(emb.vectors[0] @ reference.vectors[0]) > 0.9


def test_precomputed_embeddings_can_be_verified(data: Path) -> None:
    a = fs.embed(data / "obama_1.jpg")
    b = fs.embed(data / "obama_2.jpg")
    assert fs.verify(a, b).same_person
    with pytest.raises(fs.InvalidEmbeddingError, match="needs embeddings from dlib"):
        fs.verify(a, b, model="dlib")


def test_nan_and_malformed_embeddings_are_refused(data: Path) -> None:
    good = fs.embed(data / "obama_1.jpg")
    nan = fs.Embeddings(np.full((1, 128), np.nan, np.float32), np.ones(1, np.float32), "sface")
    with pytest.raises(fs.InvalidEmbeddingError, match="NaN"):
        fs.verify(good, nan)
    wrong = fs.Embeddings(np.ones((1, 64), np.float32), np.ones(1, np.float32), "sface")
    with pytest.raises(fs.InvalidEmbeddingError, match=r"\(1, 64\)"):
        fs.verify(good, wrong)
    zero = fs.Embeddings(np.zeros((1, 128), np.float32), np.ones(1, np.float32), "sface")
    with pytest.raises(fs.InvalidEmbeddingError, match="zero norm"):
        fs.verify(good, zero)


def test_no_face_raises_with_the_file_name(data: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (120, 120, 120)).save(blank)
    with pytest.raises(fs.NoFaceError, match=r"blank\.png"):
        fs.verify(blank, data / "obama_1.jpg")


def test_unknown_model_and_fmr_are_clear_errors(data: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'facenet'"):
        fs.verify(data / "obama_1.jpg", data / "obama_2.jpg", model="facenet")
    with pytest.raises(fs.CalibrationError, match=r"FMR 0\.05 is outside the calibrated range"):
        fs.verify(data / "obama_1.jpg", data / "obama_2.jpg", fmr=0.05)


@pytest.mark.parametrize("model", MODELS)
def test_identify_is_open_set(data: Path, model: str) -> None:
    known = fs.enroll(
        {"obama": [data / "obama_1.jpg"], "biden": [data / "biden_1.jpg"]}, model=model
    )
    faces = fs.identify(data / "biden_left_obama_right.jpg", known, model=model, top_k=2)
    identities = [f.identity for f in faces]
    assert identities[:2] == ["biden", "obama"]
    assert identities[2] is None  # the girl in the corner is not enrolled
    assert (
        len(faces[0].candidates) == 2
        and faces[0].candidates[0].score >= faces[0].candidates[1].score
    )


def test_fusion_is_at_least_as_accurate_as_the_best_single_model() -> None:
    calibration = load_calibration()
    sface, dlib, fusion = (calibration.for_model(m) for m in MODELS)
    assert fusion.eer <= min(sface.eer, dlib.eer)
    assert fusion.fnmr[1e-3] <= min(sface.fnmr[1e-3], dlib.fnmr[1e-3])
