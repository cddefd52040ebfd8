"""The weather-adapted SFace: weights file, training loop, and the restore="auto" hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import facescope as fs
from facescope.embed.sface_torch import load_sface_torch
from facescope.embed.sface_weather import (
    ADAPTED_BLOCKS,
    BLEND_RANGE,
    WEATHER_SFACE_ENV,
    adapted_available,
    adapted_features,
    adapted_prefixes,
    blend_with_sface,
    fuse_with_view,
    load_adapted,
    save_adapted,
    shipped_adapted,
)
from facescope.errors import ModelFileError, WeatherError
from facescope.pipeline import embed_aligned_crops, embed_restored
from facescope.restoration.auto import (
    ADAPTED_FOR,
    VIEW_FOR,
    Restored,
    plan,
    restore_image,
    view_for,
)
from facescope.restoration.detectors import Assessment
from facescope.weather import degrade
from facescope.weather.adapt import AdaptConfig, train_adapted_sface, validation_cosine


@pytest.fixture(scope="module")
def crops(data: Path) -> np.ndarray:
    names = ("obama_1", "obama_2", "biden_1", "biden_2")
    return np.stack([fs.align(data / f"{n}.jpg")[0] for n in names])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_unadapted_network_is_sface_and_the_file_round_trips(
    crops: np.ndarray, tmp_path: Path
) -> None:
    pinned = load_sface_torch()
    onnx = embed_aligned_crops(crops, "sface").vectors
    # the torch graph is SFace's (one crop, obama_2, differs from ONNX by cosine 0.994)
    np.testing.assert_array_less(0.99, np.sum(_unit(adapted_features(crops, pinned)) * onnx, 1))
    path = save_adapted(pinned, tmp_path / "w.npz", {"note": "test"})
    again, meta = load_adapted(path)
    assert meta["note"] == "test" and meta["blocks"] == ADAPTED_BLOCKS
    saved = set(np.load(path).files) - {"meta"}
    assert saved and all(k[2:].startswith(adapted_prefixes()) for k in saved)  # blocks only
    assert "w:pre_fc1.weight" not in saved  # the rest comes from the pinned SFace
    np.testing.assert_allclose(adapted_features(crops, again), adapted_features(crops, pinned))


def test_bad_weights_and_inputs_are_refused(
    crops: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, meta=np.array('{"format": "other"}'))
    with pytest.raises(ModelFileError, match="not a facescope-sface-weather/1 file"):
        load_adapted(foreign)
    empty = tmp_path / "empty.npz"
    np.savez(empty, meta=np.array('{"format": "facescope-sface-weather/1", "blocks": 2}'))
    with pytest.raises(ModelFileError, match="does not fit SFace"):
        load_adapted(empty)
    model = load_sface_torch()
    wrong = {k: v for k, v in model.state_dict().items() if k.startswith(adapted_prefixes(1))}
    bad = tmp_path / "nan.npz"
    nans = {f"w:{k}": np.full(v.shape, np.nan, np.float32) for k, v in wrong.items()}
    np.savez(bad, meta=np.array('{"format": "facescope-sface-weather/1", "blocks": 1}'), **nans)
    with pytest.raises(ModelFileError, match="non-finite"):
        load_adapted(bad)
    not_zip = tmp_path / "text.npz"
    not_zip.write_text("hello")
    with pytest.raises(ModelFileError, match="zip"):
        load_adapted(not_zip)
    with pytest.raises(WeatherError, match=r"\(n, 112, 112, 3\) uint8"):
        adapted_features(crops[0], model)
    monkeypatch.setenv(WEATHER_SFACE_ENV, str(tmp_path / "missing.npz"))
    assert adapted_available() is False
    from facescope.embed import sface_weather

    monkeypatch.setattr(sface_weather, "SHIPPED_SHA256", "0" * 64)
    if adapted_available() or (Path(sface_weather.__file__).parent / "sface_weather.npz").is_file():
        with pytest.raises(ModelFileError, match="pinned SHA-256"):
            load_adapted()  # the shipped file, altered: refused, never used


def test_training_moves_degraded_features_towards_the_clean_ones(crops: np.ndarray) -> None:
    config = AdaptConfig(steps=12, batch=4, lr=1e-3, clean_share=0.0, kinds=("noise",),
                         severities=(5,), seed=2)  # fmt: skip
    records: list[dict[str, float]] = []
    model, info = train_adapted_sface(crops, config, progress=lambda k, n, r: records.append(r))
    assert len(records) == 12 and np.isfinite([r["loss"] for r in records]).all()
    assert info["crops"] == 4 and info["config"]["kinds"] == ["noise"]
    assert not any(p.requires_grad for p in model.parameters())
    noisy = np.stack([degrade(c, "noise", 5, seed=50 + i) for i, c in enumerate(crops)])
    teacher = load_sface_torch()
    before = validation_cosine(teacher, crops, noisy, teacher)
    after = validation_cosine(model, crops, noisy, teacher)
    assert after > before + 0.02  # the same faces, new noise: the loss is not memorised noise
    # only the front end changed: the head is the pinned SFace's
    assert np.array_equal(model.pre_fc1.weight.numpy(), teacher.pre_fc1.weight.numpy())
    with pytest.raises(WeatherError, match="at least 4 crops"):
        train_adapted_sface(crops[:2], config)


def test_plan_hands_adapted_kinds_to_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    from facescope.restoration import auto

    monkeypatch.setattr(auto, "ADAPTED_FOR", frozenset({"rain", "noise"}))
    monkeypatch.setattr(auto, "ADAPTED_WITH_REMEDY", frozenset({"noise"}))
    half = {"rain": 0.5, "noise": 0.5, "haze": 0.5}
    found = Assessment({"rain": 0.9, "noise": 0.8, "haze": 0.7}, half, {"motion_length": 0.0})
    assert auto.uses_adapted(found)
    # the network takes rain; noise keeps its classical remedy; haze is dehazed; no restorer
    assert plan(found, adapted=True) == ("dehaze", "denoise")
    # without the network (restore() alone, or ArcFace) the pixel methods stay as they were
    expected = ("dehaze", "learned") if auto.learned_ready() else ("dehaze", "denoise")
    assert plan(found, adapted=False) == expected
    hazy = Assessment({"haze": 0.9}, {"haze": 0.5})
    assert not auto.uses_adapted(hazy) and plan(hazy, adapted=True) == ("dehaze",)


def test_shipped_network_sees_through_weather_and_keeps_clean_faces(crops: np.ndarray) -> None:
    if not adapted_available():
        pytest.skip("no shipped weather-adapted SFace in this checkout")
    model, meta = shipped_adapted()
    assert meta["script"].startswith("python scripts/fit_weather_sface.py")
    clean = embed_aligned_crops(crops, "sface").vectors
    # forced on clean faces it stays close to SFace (held-out mean 0.951), not equal: gated
    np.testing.assert_array_less(0.9, np.sum(_unit(adapted_features(crops, model)) * clean, 1))
    for kind in ("rain", "noise", "snow"):
        bad = np.stack([degrade(c, kind, 4, seed=7 + i) for i, c in enumerate(crops)])
        plain = np.sum(embed_aligned_crops(bad, "sface").vectors * clean, 1).mean()
        adapted = np.sum(_unit(adapted_features(bad, model)) * clean, 1).mean()
        assert adapted > plain + 0.02, kind


def test_auto_embeds_weather_with_the_adapted_network(crops: np.ndarray) -> None:
    if not adapted_available() or "rain" not in ADAPTED_FOR:
        pytest.skip("rain does not go to the adapted SFace in this checkout")
    rainy = degrade(crops[0], "rain", 4, seed=1)
    done = restore_image(rainy, "auto", adapted=True)
    assert done.adapted and "learned" not in done.applied
    assert not restore_image(rainy, "auto").adapted  # restore() alone never asks for it
    auto = embed_restored([done]).vectors[0]
    plain = embed_aligned_crops(rainy[None], "sface").vectors[0]
    # auto's features are SFace's and the network's blended by their disagreement
    mixed, weight = blend_with_sface(plain[None], adapted_features(rainy[None]))
    np.testing.assert_allclose(auto, mixed[0], atol=1e-5)
    assert 0.0 <= weight[0] <= 1.0
    clean = embed_aligned_crops(crops[:1], "sface").vectors[0]
    assert auto @ clean > plain @ clean
    # through the public verb: the crop is aligned, restore="auto" takes the same path
    np.testing.assert_allclose(fs.embed(rainy, assume_aligned=True, restore="auto").vectors[0],
                               auto, atol=1e-5)  # fmt: skip
    # clean faces keep SFace's own features, bit for bit
    kept = embed_restored([Restored(crops[1], ())]).vectors
    np.testing.assert_array_equal(kept, embed_aligned_crops(crops[1:2], "sface").vectors)
    with pytest.raises(WeatherError, match="SFace's"):
        embed_restored([done], "arcface")


def test_blend_trusts_the_network_by_how_far_it_moves_the_features() -> None:
    rng = np.random.default_rng(0)
    sface = _unit(rng.normal(size=(1, 128)))
    low, high = BLEND_RANGE
    away = _unit(rng.normal(size=(1, 128)))
    away = _unit(away - (away @ sface.T) * sface)  # orthogonal to sface
    rows, wanted = [], []
    for d in (0.0, low / 2, (low + high) / 2, high * 1.5, 0.9):
        c = 1.0 - d  # a unit vector at cosine c to sface
        rows.append(c * sface[0] + np.sqrt(1.0 - c * c) * away[0])
        wanted.append(float(np.clip((d - low) / (high - low), 0.0, 1.0)))
    adapted = 3.0 * np.stack(rows)  # raw features: not unit length
    mixed, weight = blend_with_sface(np.repeat(2.0 * sface, len(rows), 0), adapted)
    np.testing.assert_allclose(weight, wanted, atol=1e-6)
    assert weight[0] == 0.0 and weight[-1] == 1.0
    # a small move keeps SFace's own features, a large one takes the network's
    np.testing.assert_allclose(mixed[0], sface[0], atol=1e-6)
    np.testing.assert_allclose(mixed[-1], _unit(adapted)[-1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), 1.0, atol=1e-6)
    # in between, the mix lies between the two
    assert mixed[2] @ sface[0] > _unit(adapted)[2] @ sface[0]


@pytest.mark.parametrize(
    ("sface", "adapted", "span", "match"),
    [
        (np.ones((2, 128)), np.ones((3, 128)), BLEND_RANGE, "one shape"),
        (np.ones(128), np.ones(128), BLEND_RANGE, "one shape"),
        (np.full((1, 128), np.nan), np.ones((1, 128)), BLEND_RANGE, "non-finite"),
        (np.ones((1, 128)), np.ones((1, 128)), (0.2, 0.1), "low < high"),
    ],
)
def test_blend_refuses_bad_input(
    sface: np.ndarray, adapted: np.ndarray, span: tuple[float, float], match: str
) -> None:
    with pytest.raises(WeatherError, match=match):
        blend_with_sface(sface, adapted, span)


def test_fusion_averages_unit_features_by_the_views_weight() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 128)), rng.normal(size=(3, 128))
    fused = fuse_with_view(5.0 * a, 0.1 * b, np.array([0.0, 0.3, 1.0]))  # lengths do not count
    np.testing.assert_allclose(fused[0], _unit(a)[0], atol=1e-6)
    np.testing.assert_allclose(fused[2], _unit(b)[2], atol=1e-6)
    np.testing.assert_allclose(fused[1], _unit(0.7 * _unit(a) + 0.3 * _unit(b))[1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(fuse_with_view(a, b, 0.3)[1], fused[1], atol=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "weight", "match"),
    [
        (np.ones((2, 128)), np.ones((3, 128)), 0.3, "one shape"),
        (np.full((1, 128), np.nan), np.ones((1, 128)), 0.3, "non-finite"),
        (np.ones((1, 128)), np.ones((1, 128)), 1.5, r"\[0, 1\]"),
        (np.ones((1, 128)), np.ones((1, 128)), float("nan"), r"\[0, 1\]"),
    ],
)
def test_fusion_refuses_bad_input(a: np.ndarray, b: np.ndarray, weight: float, match: str) -> None:
    with pytest.raises(WeatherError, match=match):
        fuse_with_view(a, b, weight)


def test_view_for_names_the_kinds_method(monkeypatch: pytest.MonkeyPatch) -> None:
    from facescope.restoration import auto

    monkeypatch.setattr(auto, "VIEW_FOR", {"haze": ("dehaze", 0.3), "noise": ("denoise", 0.5)})
    half = {"haze": 0.5, "noise": 0.5, "rain": 0.5}
    assert view_for(Assessment({"rain": 0.9}, half)) is None
    assert view_for(Assessment({"haze": 0.9}, half)) == ("dehaze", 0.3)
    # two kinds with views: the method applied first (ORDER) wins
    assert view_for(Assessment({"noise": 0.9, "haze": 0.9}, half)) == ("dehaze", 0.3)


def test_auto_fuses_a_dehazed_view_into_hazy_faces(crops: np.ndarray) -> None:
    if not adapted_available() or "haze" not in VIEW_FOR:
        pytest.skip("haze gets no second view in this checkout")
    hazy = degrade(crops[0], "haze", 3, seed=2)
    done = restore_image(hazy, "auto", adapted=True)
    assert done.adapted and done.view is not None and done.view_method == VIEW_FOR["haze"][0]
    assert f"view:{done.view_method}" in done.to_dict()["applied"]
    assert restore_image(hazy, "auto").view is None  # restore() alone never makes one
    without = Restored(done.image, done.applied, done.assessment, True)
    network = embed_restored([without]).vectors
    view = embed_aligned_crops(done.view[None], "sface").vectors
    wanted = fuse_with_view(network, view, VIEW_FOR["haze"][1])
    np.testing.assert_allclose(embed_restored([done]).vectors, wanted, atol=1e-5)
    # the fused embedding is closer to the clean face than the network's alone
    clean = embed_aligned_crops(crops[:1], "sface").vectors[0]
    assert wanted[0] @ clean > network[0] @ clean
