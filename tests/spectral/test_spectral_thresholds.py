"""Per-spectrum-pair thresholds, per-spectrum embedding normalisation and verification."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facescope.errors import FacescopeError
from facescope.spectral import (
    SpectralError,
    SpectralThresholds,
    Spectrum,
    SpectrumNormaliser,
    UncalibratedPairError,
    calibrate_spectral_thresholds,
    cross_spectral_scores,
    scores_by_spectrum_pair,
    verify_cross_spectral,
)

VIS, NIR = Spectrum.VIS, Spectrum.NIR


def _scores(rng: np.random.Generator, gen_mean: float, imp_mean: float) -> tuple:
    return rng.normal(gen_mean, 0.08, 2000), rng.normal(imp_mean, 0.07, 5000)


@pytest.fixture()
def thresholds() -> SpectralThresholds:
    rng = np.random.default_rng(0)
    return SpectralThresholds.calibrate(
        {
            ("vis", "vis"): _scores(rng, 0.7, 0.05),
            (NIR, VIS): _scores(rng, 0.45, 0.12),  # impostors shifted up across spectra
            ("nir", "nir"): _scores(rng, 0.6, 0.08),
        },
        fmr=1e-3,
        model="sface",
    )


def test_thresholds_differ_per_pair_and_are_unordered(thresholds: SpectralThresholds) -> None:
    vv, vn, nn = (thresholds.threshold(*p) for p in [(VIS, VIS), (VIS, NIR), (NIR, NIR)])
    assert len({vv, vn, nn}) == 3
    assert vn > vv  # higher impostor scores need a higher threshold to hold FMR 1e-3
    assert thresholds.threshold("nir", "vis") == thresholds.threshold("vis", "nir") == vn
    point = thresholds.point(VIS, NIR)
    assert point.fmr <= 1e-3 and point.n_impostor == 5000


def test_threshold_holds_the_target_fmr(thresholds: SpectralThresholds) -> None:
    rng = np.random.default_rng(0)
    _, imp = _scores(rng, 0.7, 0.05)
    assert (imp >= thresholds.threshold(VIS, VIS)).mean() <= 1e-3


def test_uncalibrated_pair_raises(thresholds: SpectralThresholds) -> None:
    with pytest.raises(UncalibratedPairError, match="vis-thermal") as info:
        thresholds.threshold("thermal", "vis")
    assert isinstance(info.value, FacescopeError) and isinstance(info.value, ValueError)


def test_json_round_trip(thresholds: SpectralThresholds, tmp_path: Path) -> None:
    path = thresholds.save(tmp_path / "sub" / "thresholds.json")
    data = json.loads(path.read_text())
    assert data["format"] == "facescope-thresholds/2" and data["by"] == ["pair"]
    assert {p["pair"] for p in data["points"]} == {"vis-vis", "vis-nir", "nir-nir"}
    assert {p["fmr"] for p in data["points"]} == {1e-3}
    loaded = SpectralThresholds.load(path)
    assert loaded.model == "sface" and loaded.fmr == 1e-3
    for pair in thresholds.pairs:
        assert loaded.threshold(*pair) == thresholds.threshold(*pair)
        assert loaded.point(*pair) == thresholds.point(*pair)


def test_files_of_the_first_layout_still_load(tmp_path: Path) -> None:
    old = {
        "format": "facescope.spectral.thresholds/1",
        "fmr": 0.001,
        "model": "sface",
        "pairs": {
            "vis-nir": {
                "threshold": 0.31, "fmr_target": 0.001, "fmr": 0.0008, "fnmr": 0.2,
                "eer": 0.05, "n_genuine": 100, "n_impostor": 5000,
            }
        },
    }  # fmt: skip
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = SpectralThresholds.load(path)
    assert loaded.threshold("nir", "vis") == 0.31 and loaded.model == "sface"
    assert loaded.point(VIS, NIR).n_impostor == 5000
    again = SpectralThresholds.load(loaded.save(tmp_path / "new.json"))
    assert again.point(VIS, NIR) == loaded.point(VIS, NIR)
    assert json.loads((tmp_path / "new.json").read_text())["format"] == "facescope-thresholds/2"


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpectralError, match="cannot read"):
        SpectralThresholds.load(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(SpectralError, match="not a spectral thresholds file"):
        SpectralThresholds.load(bad)
    recognition = json.loads(
        (Path(__file__).parents[2] / "src/facescope/match/thresholds.json").read_text()
    )
    bad.write_text(json.dumps(recognition))
    with pytest.raises(SpectralError, match="not by pair"):
        SpectralThresholds.load(bad)
    with pytest.raises(SpectralError):
        SpectralThresholds.load(tmp_path / "missing.json")


def test_calibration_errors() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(SpectralError, match="cannot resolve"):
        SpectralThresholds.calibrate({("vis", "nir"): (rng.normal(size=50), rng.normal(size=50))})
    with pytest.raises(SpectralError, match="NaN"):
        SpectralThresholds.calibrate({("vis", "nir"): ([0.5, np.nan], rng.normal(size=2000))})
    with pytest.raises(SpectralError, match="no"):
        SpectralThresholds.calibrate({("vis", "nir"): ([], rng.normal(size=2000))})
    scores = (rng.normal(size=10), rng.normal(size=2000))
    with pytest.raises(SpectralError, match="twice"):
        SpectralThresholds.calibrate({("vis", "nir"): scores, ("nir", "vis"): scores})
    with pytest.raises(SpectralError, match="unknown spectrum"):
        SpectralThresholds.calibrate({("vis", "uv"): (rng.normal(size=10), rng.normal(size=2000))})
    with pytest.raises(SpectralError, match="fmr"):
        SpectralThresholds.calibrate({("vis", "vis"): scores}, fmr=0.0)


# ----------------------------------------------------------------- embeddings


def _toy(seed: int = 0, n_ids: int = 30, per_id: int = 4, dim: int = 16) -> tuple:
    """Identity centres; NIR copies carry a shared offset (the modality gap)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    offset = 1.5 * rng.normal(size=dim)
    ids = np.repeat(np.arange(n_ids), per_id)
    vis = centres[ids] + 0.5 * rng.normal(size=(len(ids), dim))
    nir = centres[ids] + offset + 0.5 * rng.normal(size=(len(ids), dim))
    return vis, nir, ids


def test_normaliser_removes_a_shared_modality_offset(tmp_path: Path) -> None:
    vis, nir, ids = _toy()
    train = ids < 15
    normaliser = SpectrumNormaliser(model="toy").fit(
        np.concatenate([vis[train], nir[train]]), [VIS] * train.sum() + [NIR] * train.sum()
    )
    test = ~train
    raw = cross_spectral_scores(vis[test], VIS, nir[test], NIR)
    fixed = cross_spectral_scores(vis[test], VIS, nir[test], NIR, normaliser=normaliser)
    same = ids[test][:, None] == ids[test][None, :]

    def gap(s: np.ndarray) -> float:
        return float(s[same].mean() - s[~same].mean())

    assert gap(fixed) > gap(raw) + 0.1
    out = normaliser.transform(nir[test], "nir")
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)

    loaded = SpectrumNormaliser.load(normaliser.save(tmp_path / "means.npz"))
    assert loaded.model == "toy" and set(loaded.spectra) == {VIS, NIR}
    assert np.allclose(loaded.transform(nir[test], NIR), out)


def test_normaliser_errors(tmp_path: Path) -> None:
    vis, _, _ = _toy()
    normaliser = SpectrumNormaliser().fit(vis, "vis")
    with pytest.raises(UncalibratedPairError, match="nir"):
        normaliser.transform(vis, "nir")
    with pytest.raises(SpectralError, match="spectra for"):
        normaliser.fit(vis, ["vis", "nir"])
    with pytest.raises(SpectralError, match="NaN"):
        normaliser.transform(np.full((2, 16), np.nan), "vis")
    with pytest.raises(SpectralError, match="dimensions"):
        normaliser.transform(np.ones((2, 8)), "vis")
    with pytest.raises(SpectralError, match="empty"):
        normaliser.fit(np.zeros((0, 16)), "vis")
    with pytest.raises(SpectralError, match="nothing to save"):
        SpectrumNormaliser().save(tmp_path / "x.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz")
    with pytest.raises(SpectralError, match="cannot read"):
        SpectrumNormaliser.load(junk)


def test_scores_by_pair_skip_same_source_rows() -> None:
    vis, nir, ids = _toy(n_ids=5, per_id=3)
    n = len(ids)
    emb = np.concatenate([vis, nir])
    grouped = scores_by_spectrum_pair(
        emb,
        np.concatenate([ids, ids]),
        [VIS] * n + [NIR] * n,
        sources=np.concatenate([np.arange(n), np.arange(n)]),
    )
    assert set(grouped) == {(VIS, VIS), (VIS, NIR), (NIR, NIR)}
    gen, imp = grouped[(VIS, NIR)]
    assert len(gen) == 5 * 3 * 2  # same identity, different capture
    assert len(imp) == n * (n - 3)
    assert len(grouped[(VIS, VIS)][0]) == 5 * 3


def test_calibrate_and_verify_cross_spectral() -> None:
    vis, nir, ids = _toy(n_ids=40, per_id=5)
    n = len(ids)
    thresholds = calibrate_spectral_thresholds(
        np.concatenate([vis, nir]), np.concatenate([ids, ids]), [VIS] * n + [NIR] * n, fmr=1e-3
    )
    assert set(thresholds.pairs) == {(VIS, VIS), (VIS, NIR), (NIR, NIR)}
    assert thresholds.threshold(VIS, NIR) != thresholds.threshold(VIS, VIS)
    result = verify_cross_spectral(vis[0], "vis", nir[1], "nir", thresholds)
    assert result.pair == (VIS, NIR)
    assert result.threshold == thresholds.threshold(VIS, NIR)
    assert result.match == (result.score >= result.threshold)
    with pytest.raises(UncalibratedPairError):
        verify_cross_spectral(vis[0], "vis", nir[1], "thermal", thresholds)
    with pytest.raises(SpectralError, match="single"):
        verify_cross_spectral(vis[:2], "vis", nir[1], "nir", thresholds)
    with pytest.raises(SpectralError, match="SpectralThresholds"):
        verify_cross_spectral(vis[0], "vis", nir[1], "nir", {"vis-nir": 0.3})  # type: ignore[arg-type]
    with pytest.raises(SpectralError, match="dimensions"):
        cross_spectral_scores(vis[:2], VIS, nir[:2, :8], NIR)
    with pytest.raises(SpectralError):
        cross_spectral_scores("abc", VIS, nir[:2], NIR)
    with pytest.raises(SpectralError, match="zero length"):
        cross_spectral_scores(np.zeros(16), VIS, nir[:2], NIR)
