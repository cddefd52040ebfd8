"""The interface both gallery backends implement (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facescope.gallery.sqlite_store import SubjectInfo, TemplateRecord


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
    def templates(
        self, subject: str | None = None
    ) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.float32], list[TemplateRecord]]: ...
    def search(
        self, probes: npt.NDArray[np.float32], top_k: int
    ) -> list[list[tuple[str, float]]]: ...
    def count(self) -> tuple[int, int]: ...
    def integrity_check(self) -> str: ...
