"""verify compares every face of each photo, at a threshold that keeps the stated FMR (issue 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.api import verify_faces
from facescope.match.thresholds import load_calibration, threshold_at
from facescope.types import Embeddings


def test_the_person_is_found_among_several_faces(data: Path) -> None:
    group = data / "biden_left_obama_right.jpg"
    found = fs.detect(group)
    assert len(found) >= 2
    result = fs.verify(data / "obama_1.jpg", group)
    assert result.same_person and result.faces_b == len(found)
    assert result.comparisons == result.faces_a * result.faces_b
    assert result.box_b is not None and 400 < result.box_b[0] < 600  # Obama, right of Biden
    biden = fs.verify(data / "biden_1.jpg", group)
    assert biden.same_person and biden.box_b is not None and biden.box_b[0] < 400
    stranger = fs.verify(data / "obama_1.jpg", data / "biden_1.jpg")
    assert not stranger.same_person and stranger.comparisons == 1


def test_several_pairs_raise_the_threshold_to_keep_the_fmr() -> None:
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(5, 128)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    one = {"sface": Embeddings(unit[:1], np.ones(1, np.float32), "sface")}
    four = {"sface": Embeddings(unit[1:], np.ones(4, np.float32), "sface")}
    single = verify_faces(one, {"sface": Embeddings(unit[1:2], np.ones(1), "sface")})
    several = verify_faces(one, four)
    table = load_calibration().for_model("sface").thresholds
    assert single.threshold == pytest.approx(load_calibration().for_model("sface").threshold(1e-3))
    expected = threshold_at(table, 1.0 - (1.0 - 1e-3) ** (1.0 / 4))
    assert several.comparisons == 4 and several.threshold == pytest.approx(expected)
    assert several.threshold > single.threshold
    # the reported pair is the best-scoring one
    scores = unit[1:] @ unit[0]
    assert several.score == pytest.approx(float(scores.max()), abs=1e-6)
    assert several.box_a is None and several.box_b is None  # embeddings carry no boxes


def test_gallery_verify_finds_the_subject_among_several_faces(data: Path, tmp_path: Path) -> None:
    from facescope.gallery import Gallery

    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("Biden", data / "biden_1.jpg")
        result = gallery.verify("Biden", data / "biden_left_obama_right.jpg")
        assert result.same_person and result.faces_b >= 2
        assert result.box_b is not None and result.box_b[0] < 400  # Biden, left of Obama
        one = gallery.verify("Biden", data / "biden_1.jpg")
        assert result.threshold > one.threshold  # several faces: a stricter threshold
        assert one.faces_b == 1 and one.comparisons == 1


def test_verify_faces_refuses_bad_embeddings_with_clear_errors() -> None:
    from facescope.errors import InvalidEmbeddingError, NoFaceError

    good = {"sface": Embeddings(np.eye(1, 128, dtype=np.float32), np.ones(1), "sface")}
    nan = {"sface": Embeddings(np.full((1, 128), np.nan, np.float32), np.ones(1), "sface")}
    with pytest.raises(InvalidEmbeddingError, match="NaN"):
        verify_faces(good, nan)
    short = {"sface": Embeddings(np.ones((1, 64), np.float32), np.ones(1), "sface")}
    with pytest.raises(InvalidEmbeddingError, match="128"):
        verify_faces(short, good)
    with pytest.raises(InvalidEmbeddingError, match="dlib"):
        verify_faces(good, good, model="fusion")  # fusion needs both models
    empty = {"sface": Embeddings(np.zeros((0, 128), np.float32), np.ones(0), "sface")}
    with pytest.raises((InvalidEmbeddingError, NoFaceError)):
        verify_faces(empty, good)
    with pytest.raises(ValueError, match="model"):
        verify_faces(good, good, model="facenet")


def test_gallery_verify_faces_refuses_bad_probes(data: Path, tmp_path: Path) -> None:
    from facescope.errors import InvalidEmbeddingError, UnknownSubjectError
    from facescope.gallery import Gallery

    with Gallery.open(tmp_path / "g") as gallery:
        gallery.enroll("Biden", data / "biden_1.jpg")
        with pytest.raises(InvalidEmbeddingError, match="NaN"):
            gallery.verify_faces("Biden", np.full((2, 128), np.nan, np.float32), None)
        with pytest.raises(InvalidEmbeddingError, match="shape"):
            gallery.verify_faces("Biden", np.ones((2, 64), np.float32), None)
        with pytest.raises(ValueError, match="boxes"):
            gallery.verify_faces("Biden", np.eye(2, 128, dtype=np.float32), np.zeros((3, 4)))
        with pytest.raises(UnknownSubjectError):
            gallery.verify_faces("Nobody", np.eye(1, 128, dtype=np.float32), None)
