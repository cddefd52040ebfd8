"""facescope.pad.check: decision, attack type, evidence, heatmap and explanation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facescope.errors import InvalidImageError, NoFaceError
from facescope.pad import check, check_crops
from facescope.pad.cues import PADError
from facescope.pad.face import face_crop
from facescope.pad.heatmap import GRID, overlay
from facescope.pad.model import MODEL_ENV, shipped_model
from facescope.pad.train import synthetic_crop

ANTISPOOF = Path(__file__).parents[2] / "../shared/testdata/antispoof"


@pytest.fixture(scope="module")
def astronaut_crop() -> np.ndarray:
    return face_crop(skdata.astronaut())[0]


def test_shipped_model_is_provenanced() -> None:
    model = shipped_model()
    assert model.species == ("print",)  # real prints only: no real replays to learn from
    assert set(model.groups) == {"stem"} and model.patch is not None
    assert 0.0 < model.threshold < 1.0
    assert model.meta["calibrated_on_real"] is False and not model.calibrated
    assert "NUAA" in model.meta["data"] and "NUAA" in model.meta["trained_on"]
    assert model.meta["script"].startswith("python scripts/fit_pad.py")
    assert model.thresholds.to_json()["format"] == "facescope-thresholds/2"
    band = model.uncertain_band
    assert band is not None and band[0] <= model.threshold <= band[1]
    # the band holds until the model is calibrated for a camera
    assert model.with_threshold(0.5, calibrated_on_real=True).uncertain_band is None


def test_check_reports_every_part_of_the_decision() -> None:
    result = check(skdata.astronaut())
    assert 0.0 <= result.live_probability <= 1.0
    band = shipped_model().uncertain_band
    assert band is not None and result.uncertain_band == band
    if band[0] <= result.live_probability < band[1]:
        assert result.decision == "uncertain"
    else:
        assert result.decision == ("live" if result.live_probability >= result.threshold
                                   else "attack")  # fmt: skip
    assert result.is_live == (result.decision == "live")
    assert result.attack_type in {"none", "print", "replay", "unknown"}
    assert (result.attack_type == "none") == result.is_live
    assert result.calibrated is False and result.to_dict()["calibrated"] is False
    assert sum(result.attack_probabilities.values()) == pytest.approx(
        1.0 - result.live_probability, abs=1e-6
    )
    assert {e.cue for e in result.evidence} == set(shipped_model().groups)
    assert all(e.indicates in {"live", "attack", "unclear"} for e in result.evidence)
    assert result.heatmap is not None and result.heatmap.shape == (GRID, GRID)
    assert np.all((result.heatmap >= 0) & (result.heatmap <= 1))
    assert ("LIVE" in result.explanation) == result.is_live
    assert "Not calibrated for this camera" in result.explanation
    assert "facescope pad calibrate" in result.explanation
    assert result.box is not None and result.frames == 1
    json.dumps(result.to_dict())  # JSON-ready


@pytest.mark.slow
def test_synthetic_attacks_score_below_bona_fide_captures(astronaut_crop: np.ndarray) -> None:
    """The model ranks held-out synthetic attacks (of a face it never saw) below captures."""
    rng = np.random.default_rng(7)
    model = shipped_model()
    scores = {}
    for species in ("bona_fide", "print", "replay"):
        crops = [synthetic_crop(astronaut_crop, species, rng) for _ in range(12)]
        scores[species] = np.mean([check_crops([c], model=model).live_probability for c in crops])
    assert scores["bona_fide"] > scores["print"]
    assert scores["bona_fide"] > scores["replay"]


def test_heatmap_localises_an_attacked_half(astronaut_crop: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    hot, cold = [], []
    for _ in range(6):
        live = synthetic_crop(astronaut_crop, "bona_fide", rng)
        attack = synthetic_crop(astronaut_crop, "print", rng)
        mixed = live.copy()
        mixed[:, 56:] = attack[:, 56:]
        heat = check_crops([mixed]).heatmap
        assert heat is not None
        hot.append(heat[:, GRID // 2 + 1 :].mean())
        cold.append(heat[:, : GRID // 2 - 1].mean())
    assert np.mean(hot) > np.mean(cold)
    picture = overlay(astronaut_crop, np.zeros((GRID, GRID)))
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8


def test_bad_inputs_give_specific_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InvalidImageError):
        check(empty)
    with pytest.raises(NoFaceError):
        check(np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(PADError, match="no face crops"):
        check_crops([])
    with pytest.raises(PADError, match="not found"):
        check(skdata.astronaut(), model=tmp_path / "missing.json")
    missing_video = tmp_path / "nothing.mp4"
    with pytest.raises(Exception, match=r"nothing\.mp4"):
        check(missing_video)


def test_environment_names_a_calibrated_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facescope.pad.model import default_model

    path = shipped_model().with_threshold(0.999, calibrated_on_real=True).save(tmp_path / "c.json")
    monkeypatch.setenv(MODEL_ENV, str(path))
    assert default_model().threshold == pytest.approx(0.999)
    result = check(skdata.astronaut())
    assert result.threshold == pytest.approx(0.999)
    assert "facescope pad calibrate" not in result.explanation


@pytest.mark.slow
def test_real_photos_and_video_run_end_to_end() -> None:
    if not (ANTISPOOF / "labels.csv").is_file():
        pytest.skip(f"shared anti-spoofing samples not found at {ANTISPOOF}")
    for name in ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg"):
        result = check(ANTISPOOF / name)
        assert 0.0 <= result.live_probability <= 1.0
    video = check(ANTISPOOF / "replay_attack_video.webm", frames=6)
    assert video.frames == 6
    cues = {e.cue for e in video.evidence}
    assert set(shipped_model().groups) <= cues
    assert len(cues) > len(shipped_model().groups)  # the video liveness cues joined in
    crop = cv2.resize(video.crop, (112, 112)) if video.crop is not None else None
    assert crop is not None


def test_wrong_types_and_bad_crops_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError):
        check(12345)  # type: ignore[arg-type]
    with pytest.raises(PADError, match="112x112x3"):
        check_crops([np.zeros((64, 64, 3), np.uint8)])


def test_collect_skips_undecodable_captures_and_names_them(data: Path, tmp_path: Path) -> None:
    from facescope.pad.samples import collect

    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "cut.jpg").write_bytes((data / "obama_1.jpg").read_bytes()[:500])
    (tmp_path / "ok.jpg").write_bytes((data / "obama_1.jpg").read_bytes())
    found = collect([tmp_path])
    assert len(found) == 1 and found.sources == [str(tmp_path / "ok.jpg")]
    assert sorted(Path(p).name for p, _ in found.skipped) == ["cut.jpg", "zero.jpg"]
    with pytest.raises(PADError, match="no such file"):
        collect([tmp_path / "missing"])
