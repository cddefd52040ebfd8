"""Bulk enrolment of a folder-per-identity tree, in-process or on Ray.

Work is split in two:

* **Templates** (decode, hash, detect, embed) are pure per photo
  (:func:`facescope.gallery.templates.photo_template`), so they run anywhere:
  in this process, in order (engine ``local``), or as Ray tasks over batches of
  paths (engine ``ray``). Each Ray worker process loads the models once, on its
  first photo. A photo that cannot be enrolled comes back from a worker as data
  (the same :class:`~facescope.errors.FacescopeError` and message as the local
  path), never as a failed task.
* **Commits** happen in the driver only (one writer), in a fixed order: by
  identity, then path. Each photo is its own enrolment, as ``facescope enroll``
  would do it, so a duplicate or bad photo is skipped and reported and never
  stops the run. Both engines therefore build the same gallery from the same tree.

Ray is imported only when the ``ray`` engine is used
(``pip install "facescope[ray]"``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facescope.errors import (
    DuplicateTemplateError,
    EngineNotAvailableError,
    EnrollmentError,
    FacescopeError,
    GalleryModelMismatchError,
)
from facescope.gallery.gallery import Gallery
from facescope.gallery.store import TemplateRecord
from facescope.gallery.templates import decode_photo, template_from_pixels
from facescope.match.calibrate import LabelledImages, folder_per_identity

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ENGINES",
    "RAY_INSTALL",
    "BulkResult",
    "PhotoOutcome",
    "bulk_enroll",
    "compute_templates",
    "require_engine",
    "template_batch",
    "template_outcome",
]

ENGINES = ("local", "ray")
DEFAULT_BATCH_SIZE = 16
"""Photos per Ray task: large enough to amortise task overhead, small enough to balance."""
RAY_INSTALL = 'pip install "facescope[ray]"'

#: Settings that change what a worker computes or how fast; forwarded to Ray
#: workers when set in the driver (the gallery key is never sent: workers do not need it).
_FORWARDED_ENV = ("FACESCOPE_MAX_PIXELS", "FACESCOPE_SFACE_PRECISION", "FACESCOPE_THREADS")

Progress = Callable[[int], None]
"""Called with the number of photos just finished."""


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of one photo: a template, or the error that refused it.

    `content_hash` is set whenever the photo decoded, even if no template could
    be made, so the driver can report a photo already enrolled as a duplicate
    first, exactly as :meth:`Gallery.enroll` does.
    """

    label: str
    content_hash: str | None
    record: TemplateRecord | None
    error: FacescopeError | None


@dataclass(frozen=True)
class BulkResult:
    """What a bulk enrolment stored and what it skipped."""

    added: int
    total: int
    problems: list[tuple[Path, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    identity: str
    path: Path


def template_outcome(
    path: str | os.PathLike[str], label: str, model: str, largest_face: bool
) -> PhotoOutcome:
    """Template of one photo, with any FacescopeError returned as data."""
    try:
        rgb, digest = decode_photo(path)
    except FacescopeError as exc:
        return PhotoOutcome(label, None, None, exc)
    try:
        record = template_from_pixels(rgb, digest, label, model, largest_face)
    except FacescopeError as exc:
        return PhotoOutcome(label, digest, None, exc)
    return PhotoOutcome(label, digest, record, None)


def template_batch(
    photos: Sequence[tuple[str, str]], model: str, largest_face: bool
) -> tuple[str, list[PhotoOutcome], FacescopeError | None]:
    """Templates of (path, label) pairs; the unit of work of one Ray task.

    Returns the model version the worker embedded with (so the driver can refuse
    a node with other model files), the outcomes in input order, and an error
    that stopped the whole batch (a model that will not load), if any.
    """
    from facescope.embed.recognizers import get_recognizer

    try:
        version = str(get_recognizer(model).version)
    except FacescopeError as exc:
        return "", [], exc
    return version, [template_outcome(p, label, model, largest_face) for p, label in photos], None


def require_engine(engine: str, address: str | None = None) -> None:
    """Check an engine name (and that Ray is installed for ``ray``) before any work starts."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise ValueError("--address is only used with --engine ray")
    if engine == "ray":
        _import_ray()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EngineNotAvailableError(
            f"the ray engine needs the ray package, which is not installed: {RAY_INSTALL}"
        ) from None
    return ray


def compute_templates(
    photos: Sequence[tuple[str | os.PathLike[str], str]],
    model: str,
    *,
    largest_face: bool = False,
    engine: str = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    expected_version: str | None = None,
) -> Generator[PhotoOutcome, None, None]:
    """Yield the outcome of each (path, label) photo, in input order, on either engine.

    Args:
        photos: paths and the labels that name them in messages and templates.
        model: recognition model (``sface`` or ``dlib``).
        engine: ``local`` (this process) or ``ray``.
        address: Ray cluster address (``ray://host:10001``, ``auto``); None starts a
            local Ray with `num_cpus` (default: every CPU) unless Ray is already
            initialised, which is then used as it is (and left running).
        batch_size: photos per Ray task.
        expected_version: model version the templates must have (a gallery's);
            a Ray worker with another raises GalleryModelMismatchError.
    """
    require_engine(engine, address)
    if engine == "local":
        for path, label in photos:
            yield template_outcome(path, label, model, largest_face)
        return
    yield from _ray_outcomes(
        [(os.path.abspath(path), label) for path, label in photos],
        model,
        largest_face,
        address=address,
        num_cpus=num_cpus,
        batch_size=max(1, batch_size),
        expected_version=expected_version,
    )


@contextlib.contextmanager
def _ray_session(address: str | None, num_cpus: int | None) -> Iterator[Any]:
    """Ray, initialised here if it is not already; shut down only if started here."""
    import logging

    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address is not None:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _worker_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _FORWARDED_ENV if os.environ.get(name)}
    # each task holds one CPU: one ONNX Runtime thread per worker, unless told otherwise
    env.setdefault("FACESCOPE_THREADS", "1")
    return env


def _ray_outcomes(
    photos: list[tuple[str, str]],
    model: str,
    largest_face: bool,
    *,
    address: str | None,
    num_cpus: int | None,
    batch_size: int,
    expected_version: str | None,
) -> Generator[PhotoOutcome, None, None]:
    batches = [photos[i : i + batch_size] for i in range(0, len(photos), batch_size)]
    if not batches:
        return
    with _ray_session(address, num_cpus) as ray:
        task = ray.remote(num_cpus=1, max_retries=2)(template_batch).options(
            runtime_env={"env_vars": _worker_env()}
        )
        # a bounded window of batches in flight or waiting for their turn keeps the
        # driver's memory flat on huge trees, while results are yielded in order
        window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))
        in_flight: dict[Any, int] = {}
        ready: dict[int, list[PhotoOutcome]] = {}
        submitted = 0
        next_batch = 0
        try:
            while next_batch < len(batches):
                while submitted < len(batches) and len(in_flight) + len(ready) < window:
                    in_flight[task.remote(batches[submitted], model, largest_face)] = submitted
                    submitted += 1
                if next_batch not in ready:
                    done, _ = ray.wait(list(in_flight), num_returns=1)
                    for ref in done:
                        index = in_flight.pop(ref)
                        version, outcomes, error = ray.get(ref)
                        if error is not None:
                            raise error
                        if expected_version is not None and version != expected_version:
                            raise GalleryModelMismatchError(
                                f"a Ray worker embeds with {model} {version}, the gallery holds "
                                f"{model} {expected_version}; install the same facescope and "
                                "model packages on every node"
                            )
                        ready[index] = outcomes
                while next_batch in ready:
                    yield from ready.pop(next_batch)
                    next_batch += 1
        finally:
            for ref in in_flight:
                ray.cancel(ref)


def bulk_enroll(
    gallery: Gallery,
    folder: str | os.PathLike[str] | LabelledImages,
    *,
    largest_face: bool = False,
    engine: str = "local",
    address: str | None = None,
    num_cpus: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    allow_similar: bool = False,
) -> BulkResult:
    """Enrol every photo of ``folder/<identity>/...`` into `gallery`, one photo at a time.

    Templates are computed on `engine` (see :func:`compute_templates`) with the
    gallery's model; this process commits them, sorted by identity then path,
    so ``local`` and ``ray`` give the same gallery. A photo that is unreadable,
    has no face (or several, without `largest_face`), or is already enrolled for
    its identity, or whose identity is a new name equal to an enrolled one up to case
    and whitespace (without `allow_similar`), is skipped and listed in
    :attr:`BulkResult.problems` with the message ``Gallery.enroll`` would raise.
    """
    require_engine(engine, address)
    labelled = folder if isinstance(folder, LabelledImages) else folder_per_identity(folder)
    jobs = sorted(
        (
            _Job(identity, Path(path))
            for path, identity in zip(labelled.paths, labelled.identities, strict=True)
        ),
        key=lambda job: (job.identity, job.path),
    )
    outcomes = compute_templates(
        [(job.path, os.fspath(job.path)) for job in jobs],
        gallery.model,
        largest_face=largest_face,
        engine=engine,
        address=address,
        num_cpus=num_cpus,
        batch_size=batch_size,
        expected_version=gallery.model_version,
    )
    added = 0
    problems: list[tuple[Path, str]] = []
    with contextlib.closing(outcomes):  # a run that fails stops its Ray tasks at once
        for job, outcome in zip(jobs, outcomes, strict=True):
            try:
                added += _commit(gallery, job.identity, outcome, allow_similar)
            except FacescopeError as exc:
                problems.append((job.path, str(exc)))
            if progress is not None:
                progress(1)
    return BulkResult(added, len(jobs), problems)


def _commit(gallery: Gallery, identity: str, outcome: PhotoOutcome, allow_similar: bool) -> int:
    """Store one photo's template, raising what ``Gallery.enroll`` would for it."""
    if not identity.strip():
        raise EnrollmentError("subject name must not be empty")
    if outcome.record is None:
        # Gallery.enroll looks for an enrolled duplicate right after decoding
        if outcome.content_hash is not None and gallery.has_template(
            identity, outcome.content_hash
        ):
            raise DuplicateTemplateError(
                f"{outcome.label}: this photo is already enrolled for {identity!r}"
            )
        assert outcome.error is not None
        raise outcome.error
    return gallery.enroll_templates(identity, [outcome.record], allow_similar=allow_similar).added
