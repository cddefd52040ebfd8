"""The interface both gallery backends implement (SQLite and PostgreSQL), and its records."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facescope.embed.recognizers import EMBEDDING_DIMS
from facescope.errors import InvalidEmbeddingError

#: Length of a stored template for the default models (sface, dlib), and for galleries
#: made before the model was recorded. A gallery's own length: :func:`dim_for`.
DIM = 128
#: A stored template is L2-normalised: its norm may differ from 1 by float32
#: rounding (about 1e-7), never by this much.
NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class TemplateRecord:
    """One enrolled template, as stored."""

    embedding: npt.NDArray[np.float32]
    norm: float
    quality: float
    source: str
    content_hash: str
    #: capture spectrum (:class:`facescope.spectral.Spectrum` value: vis, nir, thermal);
    #: stored in clear, also in encrypted galleries
    spectrum: str = "vis"


@dataclass(frozen=True)
class SubjectInfo:
    """A subject and how many templates it has."""

    name: str
    metadata: dict[str, Any]
    n_templates: int
    created_at: float


def dim_for(model: str | None) -> int:
    """The template length of a gallery of `model`: 128 (sface, dlib), 512 (arcface).

    A gallery whose model is not recorded yet, or is unknown to this version, keeps
    :data:`DIM` (128): what every gallery held before ArcFace.
    """
    return EMBEDDING_DIMS.get(model or "", DIM)


def check_embedding(vector: npt.ArrayLike, label: str, dim: int = DIM) -> npt.NDArray[np.float32]:
    """`vector` as `dim` float32 values if it is a finite unit vector; else InvalidEmbeddingError.

    Search scores are dot products that assume unit vectors: a NaN, zero or
    scaled template would rank as NaN or outrank every honest one, so none is
    ever stored (and none is accepted on load, see :func:`vector_problem`).
    """
    array = np.asarray(vector, np.float32).reshape(-1)
    problem = vector_problem(array, dim)
    if problem is not None:
        raise InvalidEmbeddingError(
            f"{label}: the embedding {problem}; templates are {dim} finite values of unit "
            "norm (L2-normalised)"
        )
    return array


def vector_problem(vector: npt.NDArray[np.float32], dim: int = DIM) -> str | None:
    """What is wrong with a stored template's values, or None if it is a finite unit vector."""
    if vector.size != dim:
        return f"has {vector.size} values, not {dim}"
    if not np.isfinite(vector).all():
        return "holds NaN or infinite values"
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm == 0.0:
        return "is all zeros"
    if abs(norm - 1.0) > NORM_TOLERANCE:
        return f"is not a unit vector (norm {norm:.6g})"
    return None


def name_key(name: str) -> str:
    """A subject name's key for spotting near-duplicates: Unicode-normalised (NFKC),
    case-folded, whitespace removed. "Obama", "obama " and "O bama" share one key."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


class TemplateStore(Protocol):
    """Durable subjects and templates, with 1:N search."""

    path: Any

    @property
    def encrypted(self) -> bool:
        """Whether templates are encrypted at rest."""
        ...

    @property
    def erasure_pending(self) -> bool:
        """Whether an erasure may still have copies the store could not yet overwrite."""
        ...

    def finish_erasure(self, timeout_s: float = 0.0) -> bool:
        """Complete a pending erasure, waiting up to `timeout_s`; True when none is pending."""
        ...

    def close(self) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, values: dict[str, str]) -> None: ...
    def add_templates(
        self,
        subject: str,
        records: Sequence[TemplateRecord],
        model: str,
        model_version: str,
        metadata: dict[str, Any] | None = None,
    ) -> list[int]: ...
    def has_content(self, subject: str, content_hash: str) -> bool: ...
    def remove_subject(self, subject: str) -> int: ...
    def remove_template(self, subject: str, template_id: int) -> int: ...
    def subjects(self, limit: int | None = None, offset: int = 0) -> list[SubjectInfo]: ...
    def subject(self, name: str) -> SubjectInfo | None: ...
    def similar_names(self, name: str) -> list[str]:
        """Other subjects' names with the same :func:`name_key` as `name` (an index lookup)."""
        ...

    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]: ...
    def search(
        self, probes: npt.NDArray[np.float32], top_k: int
    ) -> list[list[tuple[str, float]]]: ...
    def count(self) -> tuple[int, int]: ...
    def integrity_check(self) -> str: ...
