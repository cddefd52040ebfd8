"""Conv-cut, facescope's own in-the-wild expression network: build, train, save, load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import TESTDATA  # noqa: E402

from facescope.analysis.expression import convcut  # noqa: E402
from facescope.analysis.expression.convcut import (  # noqa: E402
    ABLATIONS,
    ConvCutConfig,
    ConvCutModel,
    build_convcut,
    load_convcut,
    predict_logits,
    save_convcut,
    ship_weights,
    shipped_weights,
)
from facescope.analysis.expression.convcut_train import (  # noqa: E402
    TrainConfig,
    augment,
    class_weights,
    load_fer2013,
    stratified_split,
    train_convcut,
)
from facescope.analysis.expression.labels import EXPRESSIONS  # noqa: E402
from facescope.analysis.expression.models import make_model  # noqa: E402
from facescope.errors import ModelFileError, ModelNotAvailableError  # noqa: E402

FER = TESTDATA / "expression" / "fer2013_train.npz"
SMALL = ConvCutConfig(stem=8, widths=(8, 16, 32), depths=(1, 1, 1), heads=2, dropout=0.0)


def _synthetic(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three easy classes: a bright blob at the top, the middle or the bottom, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.integers(60, 100, (n, 48, 48)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 6 + 14 * k : 18 + 14 * k, 12:36] = 220
    return images, labels.astype(np.int64)


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_every_ablation_builds_and_gives_seven_logits(ablation: str) -> None:
    torch.manual_seed(0)
    model = build_convcut(ConvCutConfig.for_ablation(ablation)).eval()
    assert model.config.ablation == ablation
    with torch.no_grad():
        out = model(torch.zeros(3, 1, 48, 48))
    assert out.shape == (3, len(EXPRESSIONS))
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert ("deb" in names) == (ablation != "convnext")
    assert ("attention" in names) == (ablation == "+attention")
    with pytest.raises(ValueError, match="unknown ablation"):
        ConvCutConfig.for_ablation("+everything")


def test_augment_keeps_shape_and_is_seeded() -> None:
    x = torch.randn(8, 1, 48, 48)
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_split_is_stratified_disjoint_and_fixed() -> None:
    labels = np.repeat(np.arange(7), [50, 10, 40, 70, 50, 45, 30])
    train, val = stratified_split(labels, 0.1, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    assert np.array_equal(np.bincount(labels[val]), [5, 1, 4, 7, 5, 4, 3])  # round half even
    assert np.array_equal(val, stratified_split(labels, 0.1, seed=1)[1])
    weights = class_weights(labels)
    assert weights[1] > weights[3] and np.isclose(weights.mean(), 1.0)


def test_a_few_training_steps_reduce_the_loss_and_are_deterministic() -> None:
    images, labels = _synthetic()
    config = TrainConfig(steps=40, batch_size=32, lr=3e-3, eval_every=10, augment=False)
    model, record = train_convcut(images, labels, config, val=(images, labels), model_config=SMALL)
    losses = [p["val_loss"] for p in record.curves]
    assert losses[-1] < losses[0] - 0.2, losses
    assert record.curves[-1]["val_accuracy"] > 0.6
    assert not model.training
    again, _ = train_convcut(images, labels, config, model_config=SMALL)
    assert np.array_equal(predict_logits(model, images), predict_logits(again, images))


def test_save_load_round_trip_is_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = build_convcut(SMALL).eval()
    path = save_convcut(model, tmp_path / "w.npz", {"note": "test"})
    loaded, meta = load_convcut(path)
    assert meta["note"] == "test" and meta["config"] == SMALL.to_dict()
    # weights are stored as float16: the loaded model equals the original rounded to float16
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    images, _ = _synthetic(8)
    assert np.array_equal(predict_logits(model, images), predict_logits(loaded, images))
    again = save_convcut(loaded, tmp_path / "again.npz", {"note": "test"})
    with np.load(path) as a, np.load(again) as b:
        assert a.files == b.files
        assert all(np.array_equal(a[k], b[k]) for k in a.files if k != "meta")


def test_bad_weights_files_give_clear_errors(tmp_path: Path) -> None:
    torch.manual_seed(2)
    path = save_convcut(build_convcut(SMALL), tmp_path / "w.npz", {})
    with pytest.raises(ModelNotAvailableError, match="no conv-cut weights"):
        load_convcut(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_convcut(path, sha256="0" * 64)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match=r"cannot read it as an \.npz"):
        load_convcut(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "something-else/1"})))
    with pytest.raises(ModelFileError, match="not a facescope-convcut/1"):
        load_convcut(other)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.pop(next(k for k in arrays if k.startswith("w:")))
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, **arrays)
    with pytest.raises(ModelFileError, match="does not fit its architecture"):
        load_convcut(truncated)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ModelFileError):
        load_convcut(pickled)


def test_shipped_weights_are_sha_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "convcut.json"
    manifest.write_text(json.dumps({"file": None, "sha256": None}))
    with pytest.raises(ModelNotAvailableError, match=r"fit_expression\.py"):
        shipped_weights(manifest)
    torch.manual_seed(3)
    trained = save_convcut(build_convcut(SMALL), tmp_path / "trained.npz", {})
    info = ship_weights(trained, manifest)
    path, digest = shipped_weights(manifest)
    assert path == tmp_path / "convcut.npz" and digest == info["sha256"]
    load_convcut(path, sha256=digest)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_convcut(path, sha256=digest)
    # the shipped path of the package: the manifest's digest is checked
    monkeypatch.delenv(convcut.CONVCUT_ENV, raising=False)
    monkeypatch.setattr(convcut, "MANIFEST_PATH", manifest)
    monkeypatch.setattr(convcut.shipped_weights, "__defaults__", (manifest,))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_convcut()


def test_the_member_predicts_any_crop_size(tmp_path: Path) -> None:
    torch.manual_seed(4)
    path = save_convcut(build_convcut(SMALL), tmp_path / "w.npz", {})
    member = ConvCutModel(path=path)
    crops = [np.full((160, 160), 90, np.uint8), np.full((48, 48, 3), 200, np.uint8)]
    probs = member.predict_crops(crops, flip=True)
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert isinstance(make_model("convcut"), ConvCutModel)


@pytest.mark.skipif(not FER.is_file(), reason="shared FER2013 data absent")
def test_fer2013_loads_in_expression_order() -> None:
    images, labels = load_fer2013(FER)
    assert images.shape == (28709, 48, 48) and images.dtype == np.uint8
    counts = np.bincount(labels, minlength=7)
    assert counts[EXPRESSIONS.index("disgust")] == 436
    assert counts[EXPRESSIONS.index("happiness")] == counts.max()
