"""SFace on ONNX Runtime: conversion, parity with cv2.FaceRecognizerSF, batching, input checks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facescope.embed.sface_onnx import SFaceSession, convert_sface_model
from facescope.models.registry import verified_path

ALIGNED_DIR = Path("/work/shared/testdata/faces/aligned_celebrities")
CROPS_PER_IDENTITY = 2
MAX_IDENTITIES = 6


@pytest.fixture(scope="module")
def model_path() -> Path:
    """The pinned SFace file, SHA-256 checked."""
    return verified_path("sface")


@pytest.fixture(scope="module")
def session(model_path: Path) -> SFaceSession:
    """One converted ONNX Runtime session shared by the module."""
    return SFaceSession(model_path, intra_op_threads=1)


@pytest.fixture(scope="module")
def noise_crops() -> np.ndarray:
    """Synthetic (5, 112, 112, 3) uint8 RGB crops, always available."""
    return np.random.default_rng(1234).integers(0, 256, size=(5, 112, 112, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def face_crops() -> np.ndarray:
    """Real aligned 112x112 face crops as an (n, 112, 112, 3) uint8 RGB array."""
    if not ALIGNED_DIR.is_dir():
        pytest.skip(f"aligned face crops not found at {ALIGNED_DIR}")
    identities = sorted(path for path in ALIGNED_DIR.iterdir() if path.is_dir())
    crops: list[np.ndarray] = []
    for identity in identities[:MAX_IDENTITIES]:
        for png in sorted(identity.glob("*.png"))[:CROPS_PER_IDENTITY]:
            bgr = cv2.imread(str(png), cv2.IMREAD_COLOR)
            assert bgr is not None, f"cannot decode {png}"
            assert bgr.shape == (112, 112, 3), f"{png} is {bgr.shape}, expected 112x112x3"
            crops.append(bgr[:, :, ::-1])
    if not crops:
        pytest.skip(f"no PNG crops under {ALIGNED_DIR}")
    return np.ascontiguousarray(np.stack(crops))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def _opencv_features(model_path: Path, rgb_crops: np.ndarray) -> np.ndarray:
    recognizer = cv2.FaceRecognizerSF.create(str(model_path), "")
    rows = [
        recognizer.feature(np.ascontiguousarray(crop[:, :, ::-1])).reshape(-1) for crop in rgb_crops
    ]
    return np.stack(rows).astype(np.float32)


def test_converted_model_is_fp32_with_dynamic_batch(model_path: Path) -> None:
    import onnx

    model = onnx.load_from_string(convert_sface_model(model_path.read_bytes()))
    graph = model.graph
    assert [value.name for value in graph.input] == ["data"]
    assert [value.name for value in graph.output] == ["fc1"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param
    assert not any(node.op_type == "DequantizeLinear" for node in graph.node)
    assert all(init.data_type != onnx.TensorProto.INT8 for init in graph.initializer)


def test_convert_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        convert_sface_model(b"this is not an onnx model")


def test_matches_opencv_on_real_faces(
    session: SFaceSession, model_path: Path, face_crops: np.ndarray
) -> None:
    ours = session.run(face_crops)
    reference = _opencv_features(model_path, face_crops)
    assert ours.shape == reference.shape == (len(face_crops), 128)
    assert ours.dtype == np.float32
    assert np.isfinite(ours).all()
    cosine = _cosine(ours, reference)
    assert cosine.min() >= 0.99999, f"cosine to cv2.FaceRecognizerSF: {cosine}"
    # Raw (un-normalised) features, like OpenCV's.
    np.testing.assert_allclose(
        np.linalg.norm(ours, axis=1), np.linalg.norm(reference, axis=1), rtol=1e-4
    )


def test_input_is_rgb_not_bgr(
    session: SFaceSession, model_path: Path, face_crops: np.ndarray
) -> None:
    """Feeding BGR instead of RGB must visibly change the features (the order matters)."""
    reference = _opencv_features(model_path, face_crops[:3])
    swapped = session.run(np.ascontiguousarray(face_crops[:3, :, :, ::-1]))
    assert _cosine(swapped, reference).min() < 0.999


def test_matches_opencv_on_noise(
    session: SFaceSession, model_path: Path, noise_crops: np.ndarray
) -> None:
    ours = session.run(noise_crops)
    reference = _opencv_features(model_path, noise_crops)
    cosine = _cosine(ours, reference)
    assert cosine.min() >= 0.99999, f"cosine to cv2.FaceRecognizerSF: {cosine}"


def test_batch_matches_single(session: SFaceSession, noise_crops: np.ndarray) -> None:
    batch = session.run(noise_crops)
    assert batch.shape == (5, 128)
    assert batch.dtype == np.float32
    singles = np.concatenate([session.run(noise_crops[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, singles, atol=1e-4, rtol=0)


def test_batch_matches_single_real_faces(session: SFaceSession, face_crops: np.ndarray) -> None:
    batch = session.run(face_crops[:5])
    singles = np.concatenate([session.run(face_crops[i : i + 1]) for i in range(len(batch))])
    np.testing.assert_allclose(batch, singles, atol=1e-4, rtol=0)


def test_more_than_one_chunk(session: SFaceSession, noise_crops: np.ndarray) -> None:
    crops = np.concatenate([noise_crops] * 14)  # 70 crops: two ORT calls (64 + 6)
    features = session.run(crops)
    assert features.shape == (70, 128)
    np.testing.assert_allclose(features, np.tile(features[:5], (14, 1)), atol=1e-4, rtol=0)


def test_empty_batch(session: SFaceSession) -> None:
    features = session.run(np.zeros((0, 112, 112, 3), dtype=np.uint8))
    assert features.shape == (0, 128)
    assert features.dtype == np.float32


def test_non_contiguous_input(session: SFaceSession, noise_crops: np.ndarray) -> None:
    strided = np.concatenate([noise_crops, noise_crops])[::2]  # non-contiguous view
    assert not strided.flags.c_contiguous
    np.testing.assert_allclose(
        session.run(strided), session.run(np.ascontiguousarray(strided)), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize(
    ("crops", "message"),
    [
        (np.zeros((112, 112, 3), dtype=np.uint8), "shape"),
        (np.zeros((2, 112, 112), dtype=np.uint8), "shape"),
        (np.zeros((2, 3, 112, 112), dtype=np.uint8), "shape"),
        (np.zeros((2, 96, 112, 3), dtype=np.uint8), "shape"),
        (np.zeros((2, 112, 112, 4), dtype=np.uint8), "shape"),
        (np.zeros((2, 112, 112, 3), dtype=np.float32), "uint8"),
        (np.zeros((2, 112, 112, 3), dtype=np.int64), "uint8"),
        ([[0] * 3] * 2, "numpy array"),
    ],
)
def test_rejects_bad_input(session: SFaceSession, crops: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        session.run(crops)  # type: ignore[arg-type]


def test_rejects_bad_thread_count(model_path: Path) -> None:
    with pytest.raises(ValueError, match="intra_op_threads"):
        SFaceSession(model_path, intra_op_threads=0)


def test_concurrent_runs_agree(session: SFaceSession, noise_crops: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = session.run(noise_crops)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: session.run(noise_crops), range(8)))
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-5, rtol=0)
