"""Cancelable templates: keyed, revocable, unlinkable; cosine kept by the rotation."""

from __future__ import annotations

import numpy as np
import pytest

from facescope.errors import InvalidEmbeddingError
from facescope.privacy import CancelableTransform, TemplateProtectionError, rotate_key

KEY = "a-deployment-secret-of-32-bytes!"
OTHER = "another-secret-for-a-second-site"


def _embeddings(n: int = 50, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 128))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_rotation_keeps_every_cosine_and_is_deterministic_per_key() -> None:
    x = _embeddings()
    t = CancelableTransform(KEY)
    p = t.protect(x)
    np.testing.assert_allclose(t.similarity(p, p), x @ x.T, atol=1e-5)
    np.testing.assert_array_equal(p, CancelableTransform(KEY).protect(x))
    assert not np.allclose(p, x, atol=0.1)
    assert t.key_id == CancelableTransform(KEY).key_id != CancelableTransform(OTHER).key_id
    assert KEY not in repr(t)


def test_templates_under_different_keys_do_not_link() -> None:
    x = _embeddings(200)
    a, b = CancelableTransform(KEY).protect(x), CancelableTransform(OTHER).protect(x)
    same_person_across_keys = np.einsum("ij,ij->i", a, b)
    # unrelated 128-d directions: cosine ~ N(0, 1/128), nowhere near a match (>= 0.42)
    assert np.abs(same_person_across_keys).max() < 0.42
    assert abs(same_person_across_keys.mean()) < 0.03


def test_rotate_key_moves_real_templates_without_the_embeddings() -> None:
    x = _embeddings()
    old, new = CancelableTransform(KEY), CancelableTransform(OTHER)
    moved = rotate_key(old.protect(x), old, new)
    np.testing.assert_allclose(moved, new.protect(x), atol=1e-5)
    with pytest.raises(TemplateProtectionError, match="re-enrol"):
        binary = CancelableTransform(KEY, binary=True)
        rotate_key(binary.protect(x), binary, new)
    with pytest.raises(TemplateProtectionError, match="different models"):
        rotate_key(old.protect(x), old, CancelableTransform(OTHER, model="dlib"))


def test_binary_codes_track_the_angle() -> None:
    x = _embeddings(2, seed=3)
    near = x[0] + 0.05 * x[1]
    near /= np.linalg.norm(near)
    t = CancelableTransform(KEY, binary=True, bits=512)
    codes = t.protect(np.stack([x[0], near, x[1]]))
    assert set(np.unique(codes)) <= {0.0, 1.0} and codes.shape == (3, 512)
    s = t.similarity(codes, codes)
    assert s[0, 0] == pytest.approx(1.0)
    assert s[0, 1] > s[0, 2]
    # random-hyperplane hashing: expected agreement 1 - angle / pi
    angle = np.arccos(np.clip(x[0] @ x[1], -1, 1))
    assert s[0, 2] == pytest.approx(1 - 2 * angle / np.pi, abs=0.12)


def test_bad_keys_and_embeddings_are_refused() -> None:
    with pytest.raises(TemplateProtectionError, match="16 bytes"):
        CancelableTransform("short")
    t = CancelableTransform(KEY)
    with pytest.raises(InvalidEmbeddingError, match="NaN"):
        t.protect(np.full(128, np.nan))
    with pytest.raises(InvalidEmbeddingError, match="expected"):
        t.protect(np.ones(64))
    with pytest.raises(InvalidEmbeddingError, match="zeros"):
        t.protect(np.zeros(128))
