"""The learned texture cue (facescope.pad.stem) and the uncertain band of PAD decisions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from facescope.pad import check, check_crops
from facescope.pad.cues import PADError
from facescope.pad.face import face_crop
from facescope.pad.model import shipped_model
from facescope.pad.stem import WIDTH, feature_names, stem_features

ANTISPOOF = Path(__file__).parents[2] / "../shared/testdata/antispoof"


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return face_crop(skdata.astronaut())[0]


def test_stem_features_are_per_channel_statistics(crop: np.ndarray) -> None:
    first = stem_features(crop[None])
    assert first.shape == (1, WIDTH) == (1, len(feature_names())) == (1, 192)
    assert np.all(np.isfinite(first))
    stds = first[0, [i for i, n in enumerate(feature_names()) if ".std[" in n]]
    assert np.all(stds >= 0) and stds.max() > 0
    # batching does not change a crop's values, and the same crop gives the same values
    darker = (crop * 0.5).astype(np.uint8)
    both = stem_features(np.stack([crop, darker, crop]))
    np.testing.assert_allclose(both[0], first[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both[2], first[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(both[1], first[0])
    assert stem_features(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, WIDTH)


def test_stem_refuses_what_is_not_an_aligned_crop() -> None:
    with pytest.raises(PADError, match="112, 112, 3"):
        stem_features(np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(PADError, match="uint8"):
        stem_features(np.zeros((1, 112, 112, 3), np.float32))


def test_uncertain_band_answers_uncertain_until_calibrated(crop: np.ndarray) -> None:
    wide = shipped_model().with_threshold(0.5, uncertain_band=[0.0, 1.01])
    result = check_crops([crop], model=wide)
    assert result.decision == "uncertain" and not result.is_live
    assert result.attack_type == "unknown"
    assert result.explanation.startswith("UNCERTAIN")
    assert result.to_dict()["decision"] == "uncertain"
    calibrated = wide.with_threshold(0.5, calibrated_on_real=True)
    decided = check_crops([crop], model=calibrated)
    assert decided.decision in {"live", "attack"} and decided.uncertain_band is None
    assert decided.calibrated and "Not calibrated" not in decided.explanation


def test_explanation_follows_the_verdict(crop: np.ndarray) -> None:
    for threshold in (0.001, 0.999):  # the same crop judged live, then attack
        model = shipped_model().with_threshold(threshold, calibrated_on_real=True)
        result = check_crops([crop], model=model)
        assert result.decision == ("live" if threshold < 0.5 else "attack")
        stem = next(e for e in result.evidence if e.cue == "stem")
        if (stem.weight > 0) == (result.decision == "live"):  # the cue carried the verdict
            assert "because of: stem" in result.explanation
        else:  # the cue lost: it is named as outweighed, never as a reason
            assert "Outweighed, pointing the other way: stem" in result.explanation


@pytest.mark.slow
def test_live_and_replay_pair_get_no_confident_wrong_decision() -> None:
    """The shared live webcam video and its phone replay: never trained on."""
    if not (ANTISPOOF / "video_labels.csv").is_file():
        pytest.skip(f"shared anti-spoofing videos not found at {ANTISPOOF}")
    live = check(ANTISPOOF / "live_video.webm", frames=12, video_cues=False)
    replay = check(ANTISPOOF / "replay_attack_video.webm", frames=12, video_cues=False)
    assert live.decision != "attack"
    assert replay.decision != "live"
    assert live.live_probability > replay.live_probability
