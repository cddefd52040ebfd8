"""SFace in PyTorch (facescope.embed.sface_torch): parity with the ONNX Runtime graph,
gradients to the input, frozen eval defaults, structure checks and install hints."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from conftest import DATA

torch = pytest.importorskip("torch", reason="the differentiable SFace needs PyTorch")
onnx = pytest.importorskip("onnx", reason="reading the converted SFace graph needs onnx")

import facescope  # noqa: E402
from facescope.embed import sface_torch  # noqa: E402
from facescope.embed.sface_onnx import SFaceSession, converted_key  # noqa: E402
from facescope.embed.sface_torch import SFaceTorch, load_sface_torch  # noqa: E402
from facescope.errors import ModelFileError, ModelNotAvailableError  # noqa: E402
from facescope.models import converted  # noqa: E402
from facescope.models.registry import MODEL_FILES, verified_path  # noqa: E402

#: the torch port must give the ONNX graph's features to float rounding
MIN_COSINE = 0.99999
MAX_ABS_DIFF = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model() -> SFaceTorch:
    return load_sface_torch()


@pytest.fixture(scope="module")
def session() -> SFaceSession:
    return SFaceSession(verified_path("sface"), intra_op_threads=1, precision="fp32")


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    """Named aligned (112, 112, 3) RGB crops: real faces and deterministic noise."""
    skimage_data = pytest.importorskip("skimage.data")
    named = {"astronaut": facescope.align(skimage_data.astronaut())}
    for name in ("obama_1", "obama_2", "biden_1"):
        named[name] = facescope.align(DATA / f"{name}.jpg")
    out = {}
    for name, aligned in named.items():
        assert aligned.shape == (1, 112, 112, 3), (name, aligned.shape)
        out[name] = aligned[0]
    rng = np.random.default_rng(22)
    for k in range(3):
        out[f"noise_{k}"] = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    return out


def _blob(crops: np.ndarray) -> Any:
    """(n, 112, 112, 3) uint8 RGB -> the (n, 3, 112, 112) float32 0..255 model input."""
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32))


def _features(model: SFaceTorch, crops: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.asarray(model(_blob(crops)).numpy())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray(
        (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    )


def _unit(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    return np.asarray(v / np.linalg.norm(v))


def test_matches_onnx_batched_and_single(
    model: SFaceTorch, session: SFaceSession, crops: dict[str, np.ndarray]
) -> None:
    names = list(crops)
    batch = np.stack([crops[name] for name in names])
    reference = session.run(batch)
    batched = _features(model, batch)
    assert batched.shape == (len(names), 128) and batched.dtype == np.float32
    cosines = _cosines(batched, reference)
    diff = np.abs(batched - reference).max(axis=1)
    report = {name: (float(c), float(d)) for name, c, d in zip(names, cosines, diff, strict=True)}
    assert cosines.min() >= MIN_COSINE, report
    assert diff.max() <= MAX_ABS_DIFF, report
    for index, name in enumerate(names):
        single = _features(model, batch[index : index + 1])
        assert _cosines(single, reference[index : index + 1])[0] >= MIN_COSINE, name
        np.testing.assert_allclose(single[0], batched[index], rtol=0, atol=MAX_ABS_DIFF)


def test_identity_order_preserved(
    model: SFaceTorch, session: SFaceSession, crops: dict[str, np.ndarray]
) -> None:
    batch = np.stack([crops["obama_1"], crops["obama_2"], crops["biden_1"]])
    similarities = {}
    for backend, features in (("torch", _features(model, batch)), ("onnx", session.run(batch))):
        o1, o2, b1 = (_unit(row) for row in features)
        similarities[backend] = (float(o1 @ o2), float(o1 @ b1))
        same, other = similarities[backend]
        assert same > other + 0.2, (backend, same, other)
    np.testing.assert_allclose(similarities["torch"], similarities["onnx"], rtol=0, atol=1e-5)


def test_gradients_reach_the_input_not_the_parameters(
    model: SFaceTorch, crops: dict[str, np.ndarray]
) -> None:
    x = _blob(np.stack([crops["obama_1"], crops["noise_0"]])).requires_grad_()
    model(x).norm().backward()
    assert x.grad is not None
    grad = x.grad.numpy()
    assert np.isfinite(grad).all()
    assert (np.abs(grad).reshape(2, -1).max(axis=1) > 0).all()
    assert all(parameter.grad is None for parameter in model.parameters())


def test_frozen_eval_by_default(model: SFaceTorch) -> None:
    for module in (model, SFaceTorch()):
        assert not module.training
        assert not any(module.training for module in module.modules())
        assert not any(parameter.requires_grad for parameter in module.parameters())
    assert float(model.input_mean) == 127.5
    assert float(model.input_scale) == 1 / 128


@pytest.mark.parametrize("shape", [(3, 112, 112), (1, 1, 112, 112), (1, 3, 96, 96)])
def test_rejects_wrong_input_shape(model: SFaceTorch, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(n, 3, 112, 112\)"):
        model(torch.zeros(shape))


def _converted_graph() -> Any:
    data = converted.load(
        converted_key("fp32"), verified_path("sface"), MODEL_FILES["sface"].sha256
    )
    return onnx.load_from_string(data).graph


def _arrays(graph: Any) -> dict[str, np.ndarray]:
    return {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}


def test_graph_walk_names_every_weight() -> None:
    graph = _converted_graph()
    state = sface_torch._state_from_graph(graph, _arrays(graph))
    expected = set(SFaceTorch().state_dict())
    assert set(state) == expected


def test_mismatched_graph_is_refused() -> None:
    graph = _converted_graph()
    node = next(node for node in graph.node if node.name == "conv_3_dw_conv2d")
    for attribute in node.attribute:
        if attribute.name == "strides":
            attribute.ints[:] = [1, 1]
    with pytest.raises(ModelFileError, match="strides"):
        sface_torch._state_from_graph(graph, _arrays(graph))


def test_missing_torch_gives_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sface_torch, "torch", None)
    with pytest.raises(ModelNotAvailableError, match=r"facescope\[torch\]"):
        load_sface_torch()


def test_missing_onnx_gives_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelNotAvailableError, match=r"facescope\[build\]"):
        load_sface_torch()
