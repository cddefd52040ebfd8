"""Cancelable (keyed, revocable) face templates.

A deployment secret ``key`` selects a random orthogonal matrix R (seeded from
SHA-256 of a domain label, the key and the model name). A protected template
is ``R @ x`` for an L2-normalised embedding ``x``:

* ``binary=False``: the rotation keeps every cosine similarity exactly, so the
  calibrated thresholds and accuracy are unchanged; templates made under
  different keys are unrelated coordinates (unlinkable across deployments). It
  is invertible by whoever holds the key, so the key must be kept apart from the
  templates (an HSM, a secrets manager).
* ``binary=True``: the signs of ``bits`` random projections (random-hyperplane
  hashing), compared by Hamming similarity. The code cannot be mapped back to
  the embedding (many embeddings share a code), at a measured cost in accuracy;
  its thresholds must be recalibrated (``facescope eval``). It does *not* stop
  model inversion by whoever holds the key: a search through model + code still
  finds faces that transfer (``benchmarks/bench_inversion.py``, README).

Revocation: :func:`rotate_key` moves real-valued templates from one key to
another without the original embeddings (``R_new @ R_old.T``); binary templates
cannot be moved, and the people must be re-captured (re-enrolled from photos).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facescope.errors import FacescopeError, InvalidEmbeddingError

DOMAIN = b"facescope-cancelable-template/1"
FloatArray = npt.NDArray[np.float32]


class TemplateProtectionError(FacescopeError, ValueError):
    """A protected-template operation that the scheme cannot do (say why)."""


def _as_key(key: bytes | str) -> bytes:
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(data) < 16:
        raise TemplateProtectionError(
            f"the template key must be at least 16 bytes (got {len(data)}): use e.g. "
            "secrets.token_hex(32)"
        )
    return data


@dataclass(frozen=True)
class CancelableTransform:
    """A keyed transform of embeddings; ``key_id`` names the key without revealing it.

    Args:
        key: the deployment secret (>= 16 bytes).
        model: the recogniser whose embeddings are protected (part of the seed).
        dim: embedding size (128 for sface and dlib).
        binary: random-hyperplane bits instead of a rotation.
        bits: code length when binary.
    """

    key: bytes | str = field(repr=False)
    model: str = "sface"
    dim: int = 128
    binary: bool = False
    bits: int = 256

    def __post_init__(self) -> None:
        secret = _as_key(self.key)
        if self.dim < 2 or (self.binary and self.bits < 8):
            raise TemplateProtectionError("need dim >= 2 and, for binary codes, bits >= 8")
        seed = hashlib.sha256(DOMAIN + b"\0" + self.model.encode() + b"\0" + secret).digest()
        rng = np.random.default_rng(np.frombuffer(seed, np.uint32))
        rows = self.bits if self.binary else self.dim
        gaussian = rng.standard_normal((max(rows, self.dim), self.dim))
        if self.binary:
            matrix = gaussian[:rows]
        else:
            q, r = np.linalg.qr(gaussian)
            matrix = (q * np.sign(np.diag(r))).T  # a uniformly random rotation (Haar)
        object.__setattr__(self, "_matrix", matrix.astype(np.float64))
        object.__setattr__(self, "_key_id", hashlib.sha256(b"id" + seed).hexdigest()[:12])

    @property
    def key_id(self) -> str:
        """A short public name of the key (a hash; it does not reveal the key)."""
        return str(self._key_id)  # type: ignore[attr-defined]

    @property
    def matrix(self) -> npt.NDArray[np.float64]:
        """The secret matrix (as secret as the key)."""
        matrix: npt.NDArray[np.float64] = self._matrix  # type: ignore[attr-defined]
        return matrix

    def protect(self, embeddings: npt.ArrayLike) -> FloatArray:
        """Protected templates: (n, dim) unit vectors, or (n, bits) 0/1 codes (as float32)."""
        x = np.asarray(embeddings, np.float64)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InvalidEmbeddingError(f"expected (n, {self.dim}) embeddings, got {x.shape}")
        if not np.isfinite(x).all():
            raise InvalidEmbeddingError("embeddings contain NaN or infinite values")
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if (norms < 1e-12).any():
            raise InvalidEmbeddingError("an embedding is all zeros")
        projected = (x / norms) @ self.matrix.T
        if self.binary:
            return np.asarray(projected > 0, dtype=np.float32)
        return np.asarray(
            projected / np.linalg.norm(projected, axis=1, keepdims=True), dtype=np.float32
        )

    def similarity(self, a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """(n, m) scores between protected templates: cosine, or 1 - 2 x Hamming share for bits."""
        pa, pb = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
        if self.binary:
            agree = pa @ pb.T + (1 - pa) @ (1 - pb).T
            return np.asarray(2.0 * agree / self.bits - 1.0, np.float64)
        return np.asarray(pa @ pb.T, np.float64)


def rotate_key(
    protected: npt.ArrayLike, old: CancelableTransform, new: CancelableTransform
) -> FloatArray:
    """Re-key stored templates (revocation) without the original embeddings.

    Raises:
        TemplateProtectionError: binary codes (the embedding cannot be recovered
            from them: re-capture the people), or transforms for different models or sizes.
    """
    if old.binary or new.binary:
        raise TemplateProtectionError(
            "binary protected templates cannot be moved to a new key: they do not keep enough "
            "of the embedding; re-enrol the people from new photos under the new key"
        )
    if (old.model, old.dim) != (new.model, new.dim):
        raise TemplateProtectionError(
            f"keys are for different models: {old.model}/{old.dim} vs {new.model}/{new.dim}"
        )
    t = np.atleast_2d(np.asarray(protected, np.float64))
    if t.shape[1] != old.dim or not np.isfinite(t).all():
        raise TemplateProtectionError(
            f"expected finite (n, {old.dim}) templates protected under key {old.key_id}, "
            f"got shape {t.shape}"
        )
    moved = t @ old.matrix @ new.matrix.T
    return np.asarray(moved / np.linalg.norm(moved, axis=1, keepdims=True), dtype=np.float32)
