"""The model-inversion audit as ``facescope audit invert`` runs it: checked options in, metrics out.

:func:`run_inversion_audit` validates the combination of options (photos or an
embeddings file, bundled or remote target, transfer judges, budget), builds the
targets, runs :func:`~facescope.privacy.audit.audit_inversion` and, with `report`,
writes the HTML report. It prints nothing; progress goes to one stage callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from facescope.privacy.audit import (
    DEFAULT_PER_IDENTITY,
    AuditError,
    audit_inversion,
    targets_from_file,
    targets_from_folder,
)
from facescope.privacy.invert import DEEP_BUDGET, DEFAULT_POOL, SCREENING_BUDGET

#: The recognisers the audit can attack or judge with, without a URL.
BUNDLED = ("sface", "dlib")
#: What each progress stage is doing, in words.
STAGES = {
    "embedding": "embedding photos",
    "pool": "scoring the prior pool",
    "search": "searching",
    "scoring": "scoring",
}

T = TypeVar("T")


@dataclass(frozen=True)
class InversionAuditRun:
    """The audit's headline ``metrics`` (the JSON document), the model attacked, the judges."""

    metrics: dict[str, Any]
    model: str
    judges: list[str] = field(default_factory=list)
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``facescope audit invert --json`` document: the headline metrics."""
        return self.metrics


def run_inversion_audit(
    *,
    gallery: str | Path | None = None,
    embeddings: str | Path | None = None,
    target: str = "sface",
    model: str | None = None,
    transfer: Sequence[str] | None = None,
    threshold: float | None = None,
    budget: int | None = None,
    deep: bool = False,
    pool: int = DEFAULT_POOL,
    per_identity: int = DEFAULT_PER_IDENTITY,
    distractors: str | Path | None = None,
    report: str | Path | None = None,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> InversionAuditRun:
    """Attack the embeddings of `gallery` photos or of an `embeddings` file (exactly one).

    `target` is ``sface``, ``dlib`` or an ``http(s)://`` embedding URL (which needs
    `threshold`); `transfer` names the independent judges (default: the other bundled
    model with photos). `budget` queries per embedding, or :data:`DEEP_BUDGET` with
    `deep`, else :data:`SCREENING_BUDGET`. `progress` is ``progress(stage, done, total)``
    with the stages of :data:`STAGES`.
    """
    if (gallery is None) == (embeddings is None):
        raise AuditError("give exactly one of --gallery (photos) or --embeddings (a file)")
    if budget is not None and deep:
        raise AuditError("--budget and --deep are exclusive (--deep is --budget 4000)")
    spent = budget if budget is not None else (DEEP_BUDGET if deep else SCREENING_BUDGET)
    remote = target.startswith(("http://", "https://"))
    if not remote and target not in BUNDLED:
        raise AuditError(f"unknown target {target!r}: use sface, dlib or an http(s):// URL")
    if remote and threshold is None:
        raise AuditError("a remote target needs --threshold (its acceptance threshold)")
    name = model or (target if not remote else "sface")
    if transfer is None:
        transfer = [m for m in BUNDLED if m != name] if gallery is not None else []
    for other in transfer:
        if other not in BUNDLED:
            raise AuditError(f"unknown transfer model {other!r}: use sface or dlib")
    judges = [m for m in dict.fromkeys(transfer) if m != name]

    def counted(items: Iterable[T]) -> Iterator[T]:
        listed = list(items)
        for done, item in enumerate(listed, 1):
            yield item
            if progress is not None:
                progress("embedding", done, len(listed))

    if gallery is not None:
        targets = targets_from_folder(
            gallery,
            [name, *judges],
            per_identity=per_identity,
            distractors=distractors,
            progress=counted,
        )
    else:
        assert embeddings is not None
        if judges:
            raise AuditError(
                "--transfer needs photos (--gallery): an embeddings file has none to judge by"
            )
        targets, name = targets_from_file(embeddings, model)
    audit = audit_inversion(
        targets,
        target if remote else name,
        target_name=name,
        transfer=judges,
        threshold=threshold,
        budget=spent,
        pool_size=pool,
        seed=seed,
        progress=progress,
    )
    metrics = audit.metrics()
    page = None
    if report is not None:
        from facescope.privacy.audit_report import write_audit_report

        page = write_audit_report(audit, report)
        metrics["report"] = str(page)
    return InversionAuditRun(metrics, name, judges, page)
