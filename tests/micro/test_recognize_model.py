"""Micro-expression recognition: the F5C network, its heads and its weights files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the network needs the optional torch extra")

from facescope.micro.recognize import (  # noqa: E402
    WEIGHTS_FORMAT,
    InputConfig,
    MicroRecognitionError,
    MicroRecognizer,
    NetConfig,
    build_network,
    load_weights,
    read_meta,
    save_weights,
)
from facescope.micro.recognize.network import to_tensor  # noqa: E402

CLASSES = ("negative", "positive", "surprise")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _config(**kw: object) -> NetConfig:
    pipeline = InputConfig(size=32, frames=4, colour="grey", crop="none")
    return NetConfig(CLASSES, pipeline, width=8, **kw)  # type: ignore[arg-type]


def _clips(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 4, 32, 32, 1), dtype=np.uint8)


def test_heads_and_shapes() -> None:
    torch.manual_seed(0)
    model = build_network(_config(blocks=2)).eval()
    out = model(to_tensor(_clips(2)))
    assert out["logits"].shape == (2, 3)
    assert out["flow"].shape == (2, 3, 2, 16, 16)  # consecutive pairs, half the crop size
    assert out["landmarks"].shape == (2, 4, 68, 2)
    assert torch.allclose(out["landmarks"], torch.full_like(out["landmarks"], 0.5))  # init


def test_fcc_sees_the_whole_feature_map() -> None:
    torch.manual_seed(0)
    model = build_network(_config()).eval()
    fcc = model.f5c[0][0]
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[0, :, 0, 0] += 5.0  # one corner
    with torch.no_grad():
        changed = (fcc(x2) - fcc(x)).abs().sum(1)[0]
    assert bool((changed > 1e-6).all()), "every position depends on the corner: global field"
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    with torch.no_grad():
        assert float((conv(x2) - conv(x)).abs().sum(1)[0, 7, 7]) == 0.0  # a local one does not


def test_ccc_joins_correlated_channels() -> None:
    torch.manual_seed(0)
    model = build_network(_config(neighbours=2)).eval()
    ccc = model.f5c[0][1]
    base = torch.randn(1, 1, 8, 8)
    x = torch.cat([base, base * 2.0, torch.randn(1, 6, 8, 8)], 1)  # channels 0 and 1 alike
    x2 = x.clone()
    x2[0, 1] += 0.3 * base[0, 0]  # move channel 1 along its own pattern: still 0's neighbour
    with torch.no_grad():
        y = ccc(x)
        delta = (ccc(x2) - y).abs().sum((2, 3))[0]
    assert float(delta[0]) > 0.0  # channel 0 reads its graph neighbour 1
    assert y.shape == x.shape


def test_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = _config()
    model = build_network(config).eval()
    path = save_weights(model, config, tmp_path / "w.npz", {"classes": list(CLASSES),
                                                          "training": {"seed": 0}})  # fmt: skip
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype == np.float32 for k in data.files if k.startswith("w:"))
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == WEIGHTS_FORMAT and meta["architecture"]["classes"] == list(CLASSES)
    assert read_meta(path)["training"] == {"seed": 0}
    loaded, loaded_config, _ = load_weights(path)
    assert loaded_config == config
    x = to_tensor(_clips(2))
    with torch.inference_mode():
        assert torch.allclose(model(x)["logits"], loaded(x)["logits"], atol=1e-6)
    recognizer = MicroRecognizer.load(path, classes=CLASSES)
    probs = recognizer.probabilities(_clips(1)[0])
    assert probs.shape == (3,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(MicroRecognitionError, match="uint8 crops"):
        recognizer.probabilities(np.zeros((4, 64, 64, 1), np.uint8))


def test_bad_weights_fail_clearly(tmp_path: Path) -> None:
    config = _config()
    path = save_weights(build_network(config), config, tmp_path / "w.npz", {})
    with pytest.raises(MicroRecognitionError, match="not 5"):
        load_weights(path, classes=("a", "b", "c", "d", "e"))
    with pytest.raises(MicroRecognitionError, match="no weights file"):
        load_weights(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00not a zip")
    with pytest.raises(MicroRecognitionError, match="not a micro-expression weights file"):
        load_weights(junk)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": WEIGHTS_FORMAT}], dtype=object))
    with pytest.raises(MicroRecognitionError, match="pickled data is refused"):
        load_weights(pickled)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "facescope-restorer/1"})))
    with pytest.raises(MicroRecognitionError, match="not a facescope-micro-recognizer/1"):
        load_weights(other)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.pop(next(k for k in arrays if k.startswith("w:")))
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, **arrays)
    with pytest.raises(MicroRecognitionError, match="does not fit its architecture"):
        load_weights(truncated)
    meta = json.loads(str(arrays["meta"]))
    meta["architecture"]["classes"] = ["only-one"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(truncated, **arrays)
    with pytest.raises(MicroRecognitionError, match="2 or more distinct classes"):
        load_weights(truncated)
