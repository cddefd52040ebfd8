"""Lip reading: the landmark graphs, the network and its weights files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facescope.lips.read.graphs import MESH_CHAINS, anatomical, layout_name, mirror, symmetry
from facescope.lips.read.synth import synthetic_word

torch = pytest.importorskip("torch", reason="the lip-reading network needs the torch extra")

from facescope.lips.read import (  # noqa: E402
    WEIGHTS_FORMAT,
    LipReader,
    LipReadingError,
    NetConfig,
    build_network,
    load_weights,
    read_meta,
    save_weights,
)
from facescope.lips.read.network import template_of, to_tensors  # noqa: E402
from facescope.lips.read.preprocess import normalise_lips  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _template() -> tuple[tuple[float, float], ...]:
    lips = synthetic_word("ba", np.random.default_rng(0), lead=0).lips
    return template_of(normalise_lips(lips)[None])


def test_graphs_follow_the_layouts() -> None:
    template = np.asarray(_template())
    assert layout_name(20) == "ibug-mouth-20" and layout_name(57) == "knn"
    a = anatomical(template)
    assert a.shape == (20, 20) and np.allclose(a, a.T)
    assert a[0, 1] > 0 and a[11, 0] > 0 and a[12, 13] > 0 and a[0, 12] > 0  # rings, spoke
    assert a[0, 6] == 0  # the two corners are not joined
    partner = mirror(template)
    assert partner[0] == 6 and partner[3] == 3 and partner[12] == 16  # corners swap; centre
    assert np.array_equal(partner[partner], np.arange(20))
    s = symmetry(template)
    assert s[0, 6] > 0 and s[0, 1] == 0
    # MediaPipe mesh indices: the lip contours and the jaw line
    mesh = (61, 185, 40, 146, 91, 78, 191, 95, 132, 58, 999)
    points = np.random.default_rng(0).normal(size=(len(mesh), 2))
    m = anatomical(points, mesh)
    assert m[0, 1] > 0 and m[1, 2] > 0 and m[0, 3] > 0 and m[0, 5] > 0 and m[8, 9] > 0
    assert (m[10] > 0).sum() >= 4  # a point on no contour: joined to its nearest 3
    assert (61, 78) in MESH_CHAINS


@pytest.mark.parametrize("backend", ["gru", "tcn"])
def test_forward_shapes_and_fusion(backend: str) -> None:
    config = NetConfig(("a", "b", "c"), _template(), frames=8, size=48, width=4, hidden=16,
                       backend=backend)  # fmt: skip
    model = build_network(config).eval()
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (2, 8, 48, 48), dtype=np.uint8)
    lips = rng.normal(size=(2, 8, 20, 2)).astype(np.float32)
    out = model(*to_tensors(crops, lips))
    assert out["logits"].shape == (2, 3) and out["graph_logits"].shape == (2, 3)
    assert out["crop_embedding"].shape == (2, 64)
    assert torch.allclose(out["crop_embedding"].norm(dim=1), torch.ones(2))
    # the landmark stream reaches the crop stream (FiLM) once the fusion is non-zero
    with torch.no_grad():
        for film in model.films:
            film.to_affine.weight.normal_(0, 0.5)
    base = model(*to_tensors(crops, lips))["crop_embedding"]
    moved = model(*to_tensors(crops, lips * 1.5))["crop_embedding"]
    assert not torch.allclose(base, moved)


def test_config_checks() -> None:
    template = _template()
    with pytest.raises(LipReadingError, match="2 or more distinct words"):
        NetConfig(("a",), template)
    with pytest.raises(LipReadingError, match="multiple of 8"):
        NetConfig(("a", "b"), template, size=50)
    with pytest.raises(LipReadingError, match="backend"):
        NetConfig(("a", "b"), template, backend="lstm")
    with pytest.raises(LipReadingError, match="mesh indices"):
        NetConfig(("a", "b"), template, mesh_points=(1, 2))
    with pytest.raises(LipReadingError, match="bad architecture"):
        NetConfig.from_dict({"vocabulary": ["a", "b"]})


def test_weights_round_trip_and_bad_files(tmp_path: Path) -> None:
    config = NetConfig(("ba", "oo"), _template(), frames=8, size=48, width=4, hidden=16)
    torch.manual_seed(0)
    model = build_network(config).eval()
    path = save_weights(model, config, tmp_path / "w.npz", {"training": {"steps": 1}})
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == WEIGHTS_FORMAT and meta["vocabulary"] == ["ba", "oo"]
    assert read_meta(path)["architecture"]["size"] == 48
    loaded, again, _ = load_weights(path)
    assert again == config and not any(p.requires_grad for p in loaded.parameters())
    sample = synthetic_word("ba", np.random.default_rng(1))
    reader = LipReader.load(path)
    probs = reader.probabilities(sample.crops, sample.lips)
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    crops, lips = to_tensors(*_prepared(sample, config))
    with torch.inference_mode():
        direct = torch.softmax(model(crops, lips)["logits"], 1)[0].numpy()
    assert np.allclose(direct, probs, atol=1e-5)
    with pytest.raises(LipReadingError, match="reads 2 words"):
        LipReader.load(path, vocabulary=["oo", "ba"])
    with pytest.raises(LipReadingError, match="20 landmarks per frame"):
        reader.probabilities(sample.crops, sample.lips[:, :10])
    # corrupt, foreign, pickled, truncated and mismatched files
    with pytest.raises(LipReadingError, match="no weights file"):
        load_weights(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"junk")
    with pytest.raises(LipReadingError, match="not a lip-reading weights file"):
        load_weights(junk)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "facescope-micro-recognizer/1"})))
    with pytest.raises(LipReadingError, match="not a facescope-lipreader/1 file"):
        load_weights(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": WEIGHTS_FORMAT}], dtype=object))
    with pytest.raises(LipReadingError, match="pickled data is refused"):
        load_weights(pickled)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    short = dict(arrays)
    short.pop(next(k for k in arrays if k.startswith("w:stem")))
    np.savez(tmp_path / "short.npz", **short)
    with pytest.raises(LipReadingError, match="does not fit its architecture"):
        load_weights(tmp_path / "short.npz")
    nan = dict(arrays)
    key = next(k for k in arrays if k.endswith("classifier.1.weight"))
    nan[key] = np.full_like(arrays[key], np.nan)
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(LipReadingError, match="non-finite"):
        load_weights(tmp_path / "nan.npz")


def _prepared(sample: object, config: NetConfig) -> tuple[np.ndarray, np.ndarray]:
    from facescope.lips.read.preprocess import prepare_sample

    return prepare_sample(sample.crops, sample.lips, frames=config.frames,  # type: ignore[attr-defined]
                          size=config.size)  # fmt: skip
