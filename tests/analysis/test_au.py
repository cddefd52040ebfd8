"""Geometric action units and the AU expression head."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from conftest import TESTDATA

from facescope.analysis.au import (
    ACTION_UNITS,
    AU_DEFINITIONS,
    MEASURE_NAMES,
    MEASURES,
    AUEstimator,
    PersonalNeutral,
    action_units,
    default_calibration,
    geometric_measures,
)
from facescope.analysis.expression.au_head import HEAD_PATH, AUExpressionHead, features_from_mesh
from facescope.analysis.expression.labels import EXPRESSIONS
from facescope.analysis.geometry import face_geometry

FloatArray = npt.NDArray[np.float64]
#: Accuracy the shipped head measured on the CK+ test subjects (fit_au_head.py), less a margin.
HEAD_TEST_ACCURACY = float(
    json.loads(HEAD_PATH.read_text())["head"]["provenance"]["metrics"]["test"]["accuracy"]
)
MARGIN = 0.03


def as_image(canonical: FloatArray, angle_deg: float = 0.0, scale: float = 3.0) -> FloatArray:
    """A canonical-frame mesh turned into 'image pixels': rotated about y and z, scaled, moved."""
    a = np.deg2rad(angle_deg)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    roll = np.array(
        [[np.cos(a / 2), -np.sin(a / 2), 0], [np.sin(a / 2), np.cos(a / 2), 0], [0, 0, 1]]
    )
    return np.asarray(scale * canonical @ yaw @ roll + np.array([320.0, 240.0, 0.0]))


@pytest.fixture()
def face() -> FloatArray:
    """The canonical face (mm; its own frame is already canonical)."""
    return face_geometry().canonical.copy()


def aus(points: FloatArray, **kwargs: object) -> dict[str, float]:
    return action_units(points, **kwargs)  # type: ignore[arg-type]


def neutral_of(points: FloatArray) -> FloatArray:
    return np.asarray(geometric_measures(points))


def test_names_and_docs() -> None:
    for required in ("AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25", "AU26", "AU43"):
        assert required in ACTION_UNITS
    assert set(MEASURES) == set(MEASURE_NAMES)
    for description, terms in AU_DEFINITIONS.values():
        assert description
        assert {key.lstrip("+-") for key in terms} <= set(MEASURE_NAMES)


def test_own_neutral_gives_zero(face: FloatArray) -> None:
    values = aus(face, neutral=neutral_of(face))
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in values.values())


def test_lip_corners_up_and_out_raise_au12(face: FloatArray) -> None:
    smile = face.copy()
    for index, side in ((61, -1.0), (291, 1.0)):
        smile[index] += (4.0 * side, -4.0, 0.0)
    values = aus(smile, neutral=neutral_of(face))
    assert values["AU12"] > 0.5
    assert values["AU15"] == 0.0
    frown = face.copy()
    frown[[61, 291], 1] += 4.0
    down = aus(frown, neutral=neutral_of(face))
    assert down["AU15"] > 0.5 and down["AU12"] == 0.0


def test_jaw_drop_raises_au25_au26(face: FloatArray) -> None:
    jaw = face.copy()
    lower = face[:468, 1] > face[14, 1] - 0.5  # the lower lip, chin and jaw below it
    jaw[:468][lower] += (0.0, 12.0, 0.0)
    values = aus(jaw, neutral=neutral_of(face))
    assert values["AU25"] > 0.3 and values["AU26"] > 0.3
    assert values["AU12"] < 0.2


def test_closed_eyes_raise_au43(face: FloatArray) -> None:
    closed = face.copy()
    for top, bottom in ((159, 145), (158, 153), (160, 144), (386, 374), (385, 380), (387, 373)):
        closed[top] = face[bottom]
    values = aus(closed, neutral=neutral_of(face))
    assert values["AU43"] > 0.8
    assert aus(face, neutral=neutral_of(face))["AU43"] == pytest.approx(0.0, abs=1e-9)


def test_lowered_inner_brows_raise_au4(face: FloatArray) -> None:
    frown = face.copy()
    inner = [107, 55, 66, 65, 336, 285, 296, 295]
    frown[inner] += (0.0, 4.0, 0.0)
    frown[[107, 55, 66, 65], 0] += 1.5  # and together
    frown[[336, 285, 296, 295], 0] -= 1.5
    values = aus(frown, neutral=neutral_of(face))
    assert values["AU4"] > 0.5
    assert values["AU1"] == 0.0
    raised = face.copy()
    raised[inner] -= (0.0, 6.0, 0.0)
    assert aus(raised, neutral=neutral_of(face))["AU1"] > 0.5


def test_rotation_and_scale_invariance(face: FloatArray) -> None:
    smile = face.copy()
    smile[[61, 291], 1] -= 3.0
    smile[:468][face[:468, 1] > face[14, 1] - 0.5] += (0.0, 5.0, 0.0)
    reference = aus(smile)
    for angle, scale in ((20.0, 2.0), (-25.0, 7.5)):
        moved = aus(as_image(smile, angle, scale))
        for name in ACTION_UNITS:
            assert moved[name] == pytest.approx(reference[name], abs=1e-6)


def test_intensities_are_non_negative(face: FloatArray) -> None:
    rng = np.random.default_rng(0)
    estimator = AUEstimator()
    noisy = face[None] + rng.normal(0.0, 2.0, (20, *face.shape))
    values = estimator.transform(noisy)
    assert values.shape == (20, len(ACTION_UNITS))
    assert (values >= 0).all() and np.isfinite(values).all()


def test_calibrate_sets_personal_neutral(face: FloatArray) -> None:
    estimator = AUEstimator().calibrate([as_image(face, 10.0), as_image(face, -5.0, 4.0)])
    np.testing.assert_allclose(estimator.neutral_, neutral_of(face), atol=1e-6)
    assert max(action_units(face, estimator).values()) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        AUEstimator().calibrate([])


def test_personal_neutral_converges(face: FloatArray) -> None:
    person = face.copy()
    person[[61, 291], 1] -= 2.5  # a person whose mouth corners rest high
    person[[107, 55, 66, 65, 336, 285, 296, 295], 1] += 2.0  # and whose brows sit low
    tracker = PersonalNeutral(window=120, min_frames=20)
    np.testing.assert_allclose(tracker.neutral, default_calibration().neutral)
    population = aus(person)
    assert population["AU12"] > 0.2 or population["AU4"] > 0.2
    rng = np.random.default_rng(1)
    for i in range(100):
        frame = person + rng.normal(0.0, 0.05, person.shape)
        if i % 10 == 0:  # an occasional expression: lips part
            frame[:468][person[:468, 1] > person[14, 1] - 0.5] += (0.0, 6.0, 0.0)
        tracker.update(as_image(frame, angle_deg=float(rng.uniform(-15, 15))))
    np.testing.assert_allclose(tracker.neutral, neutral_of(person), atol=0.3)
    personal = tracker.action_units(as_image(person, 5.0), update=False)
    assert personal["AU12"] < 0.1 and personal["AU4"] < 0.1
    assert personal["AU25"] < 0.1


def test_head_probabilities(face: FloatArray) -> None:
    head = AUExpressionHead()
    feats = features_from_mesh(np.stack([face, as_image(face, 15.0)]))
    assert feats.shape == (2, len(MEASURE_NAMES))
    proba = head.predict_proba(feats)
    assert proba.shape == (2, len(EXPRESSIONS))
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-9)
    assert (proba[:, EXPRESSIONS.index("neutral")] == 0).all()
    np.testing.assert_allclose(proba[0], proba[1], atol=1e-6)  # pose-free features
    assert head.predict_mesh(face).shape == (1, 7)
    failed = head.predict_proba(np.full((1, len(MEASURE_NAMES)), np.nan))
    assert (failed == 0).all()


def test_head_file_holds_a_shared_head_and_the_old_layout_loads(tmp_path: Path) -> None:
    payload = json.loads(HEAD_PATH.read_text())
    assert payload["head"]["format"] == "facescope-head/1"
    head = AUExpressionHead()
    assert head.provenance_["script"] == "python scripts/fit_au_head.py"
    assert head.head_.get_params()["class_weight"] == "balanced"
    old = {k: v for k, v in payload["head"].items() if k not in ("format", "params")}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"head": old}))
    x = head.mean_ + 0.5 * head.scale_
    np.testing.assert_array_equal(AUExpressionHead(path).predict_proba(x), head.predict_proba(x))
    calibration_only = tmp_path / "calibration_only.json"
    calibration_only.write_text(json.dumps({"action_units": payload["action_units"]}))
    with pytest.raises(ValueError, match="no fitted head"):
        AUExpressionHead(calibration_only)


def test_astronaut_smiles() -> None:
    """End to end on a public-domain smiling portrait: detect, mesh, AUs."""
    skimage_data = pytest.importorskip("skimage.data")
    from facescope.analysis.mesh import shared_mesher
    from facescope.api import detect

    rgb = np.ascontiguousarray(skimage_data.astronaut())
    faces = detect(rgb, max_faces=1)
    assert len(faces.boxes) == 1
    mesh = shared_mesher().mesh(rgb, faces.boxes[0])
    assert mesh is not None
    values = action_units(mesh.points)
    assert values["AU12"] > values["AU15"]
    assert values["AU12"] > 0.2
    proba = AUExpressionHead().predict_mesh(mesh.points)[0]
    assert EXPRESSIONS[int(proba.argmax())] == "happiness"


@pytest.fixture(scope="module")
def ckplus_test_probs() -> tuple[FloatArray, list[str]]:
    if not (TESTDATA / "expression" / "labels.csv").is_file():
        pytest.skip(f"CK+ not found at {TESTDATA / 'expression'}")
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    try:
        import bench_au
    finally:
        sys.path.pop(0)
    from facescope.analysis.expression.ckplus import load_ckplus

    labels = [s.label for s in load_ckplus(TESTDATA / "expression", split="test")]
    return bench_au.ckplus_au_probabilities("test", TESTDATA / "expression"), labels


def test_head_on_ckplus_test_split(ckplus_test_probs: tuple[FloatArray, list[str]]) -> None:
    proba, labels = ckplus_test_probs
    predicted = [EXPRESSIONS[i] for i in proba.argmax(1)]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))
    assert accuracy >= HEAD_TEST_ACCURACY - MARGIN
    anger = [p for p, t in zip(predicted, labels, strict=True) if t == "anger"]
    assert np.mean([p == "anger" for p in anger]) > 0.5
    disgust = [p for p, t in zip(predicted, labels, strict=True) if t == "disgust"]
    assert np.mean([p == "disgust" for p in disgust]) > 0.5
