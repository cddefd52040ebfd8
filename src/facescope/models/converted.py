"""Model graphs converted once from a pinned model file, cached, and verified at load.

Some pinned model files cannot run as shipped: ONNX Runtime refuses the SFace file, so it is
rewritten into an fp32 graph (and, for the opt-in int8 precision, rebuilt as an integer
graph). The converters (:mod:`facescope.embed.converters`, which need ``onnx``, the
``build`` extra) run once, when ``facescope models`` (``make install`` runs it) writes each
converted graph to a cache folder; the runtime only loads it:

* folder: ``$FACESCOPE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/facescope/models``, else
  ``~/.cache/facescope/models``;
* file: ``<key>-<source SHA-256, 16 hex>-c<converter version>[-<inputs digest, 12 hex>].onnx``
  (the inputs digest covers package files the converter also reads, such as the int8
  calibration), so another source file, converter or calibration gets another name;
* record: the same name with ``.json``: the key, the source model and its SHA-256, the
  converter version, the SHA-256 of each extra input, the SHA-256 and size of the
  converted file, when and with which versions it was built (:class:`ConvertedRecord`).

At load the record must name the same key, source SHA-256, converter version and inputs
(otherwise the file is stale) and the file's SHA-256 must be the recorded one (otherwise
it is altered): a stale or altered file is never used. When the graph is missing, stale
or altered and ``onnx`` is installed, the runtime converts it once, logging a warning, and
stores it; without ``onnx`` it raises an error that says to run ``facescope models``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from facescope.errors import ModelFileError, ModelNotAvailableError
from facescope.models.registry import MODEL_FILES, ModelFile, verified_path

__all__ = [
    "CACHE_ENV",
    "CONVERTED_MODELS",
    "AlteredError",
    "ConvertedModel",
    "ConvertedRecord",
    "ConvertedStatus",
    "NotBuiltError",
    "artefact_path",
    "build",
    "cache_dir",
    "converted_status",
    "ensure_built",
    "load",
    "onnx_available",
    "read_verified",
]

logger = logging.getLogger(__name__)

CACHE_ENV: Final[str] = "FACESCOPE_MODEL_CACHE"
"""Environment variable naming the converted-model cache folder."""

RECORD_FORMAT: Final[int] = 1
BUILD_HINT: Final[str] = "build it with `facescope models` (make install runs it)"
ONNX_HINT: Final[str] = 'the converter needs onnx: pip install "facescope[build]"'


@dataclass(frozen=True)
class ConvertedModel:
    """A graph converted from a pinned model file by a build-time converter."""

    key: str
    task: str
    source: str
    """Key of the pinned source file in :data:`facescope.models.registry.MODEL_FILES`."""
    converter_version: int
    """Bumped whenever the converter's output changes (it is part of the file name)."""
    builder: str
    """``module:function`` taking the source bytes and returning the converted bytes."""
    inputs: tuple[str, ...] = ()
    """Package files the converter also reads, as ``package/name`` (hashed into the key)."""
    reference_sha256: str = ""
    """SHA-256 of the reference build (onnx 1.22, numpy 2.4): informative, not enforced."""

    @property
    def source_spec(self) -> ModelFile:
        """The pinned file this graph is converted from."""
        return MODEL_FILES[self.source]


CONVERTED_MODELS: dict[str, ConvertedModel] = {
    spec.key: spec
    for spec in (
        ConvertedModel(
            key="sface_fp32",
            task="SFace as an fp32 graph with a dynamic batch (ONNX Runtime; the default)",
            source="sface",
            converter_version=1,
            builder="facescope.embed.converters:build_sface_fp32",
            reference_sha256="37e8b26c735620f5537dea6fd282c9c66b1a8b765503ff21cff7c7bb14b56771",
        ),
        ConvertedModel(
            key="sface_int8",
            task="SFace as an integer-only graph (FACESCOPE_SFACE_PRECISION=int8)",
            source="sface",
            converter_version=1,
            builder="facescope.embed.converters:build_sface_int8",
            inputs=("facescope.embed/sface_int8_calibration.json",),
            reference_sha256="351357a4080a3aa6f883f8f3634e23705c9a6cf1c102f35cb2cebf50511e51a0",
        ),
        ConvertedModel(
            key="sface_stem",
            task="SFace's first two blocks: texture statistics for PAD and the degradation "
            "detectors (facescope.models.stem)",
            source="sface",
            converter_version=1,
            builder="facescope.embed.converters:build_sface_stem",
            reference_sha256="545b07699281f3d80e9f34a099b1984fbb4cf1f3f3ae0d026f4d519775a73f14",
        ),
    )
}


@dataclass(frozen=True)
class ConvertedRecord:
    """The JSON record written next to a converted graph."""

    key: str
    source: str
    source_sha256: str
    converter_version: int
    inputs: dict[str, str]
    sha256: str
    size: int
    created: str
    built_with: dict[str, str] = field(default_factory=dict)
    format: int = RECORD_FORMAT

    def to_json(self) -> dict[str, Any]:
        """The record as written to disk (``format`` first)."""
        data = asdict(self)
        return {"format": data.pop("format"), **data}

    @classmethod
    def from_json(cls, data: Any) -> ConvertedRecord:
        """Parse a record; ValueError when it is not one of this format."""
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ValueError("not a converted-model record of format 1")
        try:
            record = cls(
                key=str(data["key"]),
                source=str(data["source"]),
                source_sha256=str(data["source_sha256"]),
                converter_version=int(data["converter_version"]),
                inputs={str(k): str(v) for k, v in dict(data["inputs"]).items()},
                sha256=str(data["sha256"]),
                size=int(data["size"]),
                created=str(data["created"]),
                built_with={str(k): str(v) for k, v in dict(data.get("built_with", {})).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed converted-model record: {exc}") from exc
        return record


class NotBuiltError(ModelNotAvailableError):
    """The converted graph is not in the cache, or its record is stale."""

    def __init__(self, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        self.stale = stale


class AlteredError(ModelFileError):
    """The cached converted graph's SHA-256 differs from its record."""


def cache_dir() -> Path:
    """The converted-model cache folder (it may not exist yet)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG spec says to ignore a relative path
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "facescope" / "models"


def input_digests(key: str) -> dict[str, str]:
    """SHA-256 of each extra package file the converter of ``key`` reads."""
    digests = {}
    for name in _spec(key).inputs:
        package, _, resource = name.partition("/")
        try:
            data = (importlib.resources.files(package) / resource).read_bytes()
        except (OSError, ModuleNotFoundError) as exc:
            raise ModelFileError(
                f"cannot read {name}, an input of the converted model {key} ({exc}); "
                "reinstall facescope"
            ) from exc
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def artefact_path(key: str, source_sha256: str, inputs: dict[str, str] | None = None) -> Path:
    """Where the graph ``key`` converted from the source with this SHA-256 is cached."""
    spec = _spec(key)
    if inputs is None:
        inputs = input_digests(key)
    name = f"{key}-{source_sha256[:16]}-c{spec.converter_version}"
    if inputs:
        joined = "\n".join(f"{k}={v}" for k, v in sorted(inputs.items()))
        name += "-" + hashlib.sha256(joined.encode()).hexdigest()[:12]
    return cache_dir() / f"{name}.onnx"


def record_path(path: Path) -> Path:
    """The record of a cached graph: the same name with ``.json``."""
    return path.with_suffix(".json")


def read_verified(key: str, source_sha256: str) -> tuple[bytes, ConvertedRecord]:
    """Read a cached graph after checking its record and SHA-256.

    Raises:
        NotBuiltError: no graph or record in the cache, or the record is stale (another
            key, source, converter version or input) or unreadable.
        AlteredError: the graph's SHA-256 differs from the recorded one.
    """
    spec = _spec(key)
    inputs = input_digests(key)
    path = artefact_path(key, source_sha256, inputs)
    record_file = record_path(path)
    try:
        raw = record_file.read_bytes()
    except FileNotFoundError:
        raise NotBuiltError(f"the converted model {key} is not built (no {path})") from None
    except OSError as exc:
        raise NotBuiltError(f"cannot read the record {record_file}: {exc}") from exc
    try:
        record = ConvertedRecord.from_json(json.loads(raw))
    except ValueError as exc:
        raise NotBuiltError(f"the record {record_file} is unreadable ({exc})", stale=True) from exc
    expected = (key, spec.source, source_sha256, spec.converter_version, inputs)
    found = (
        record.key,
        record.source,
        record.source_sha256,
        record.converter_version,
        record.inputs,
    )
    if found != expected:
        fields = ("key", "source", "source_sha256", "converter_version", "inputs")
        differ = [name for name, a, b in zip(fields, found, expected, strict=True) if a != b]
        raise NotBuiltError(
            f"the record {record_file} is stale ({', '.join(differ)} differ)", stale=True
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotBuiltError(f"the converted model {key} is not built (no {path})") from None
    except OSError as exc:
        raise NotBuiltError(f"cannot read the converted model {path}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.sha256:
        raise AlteredError(
            f"the converted model {path} has SHA-256 {actual}, but its record says "
            f"{record.sha256}: the file is altered or truncated"
        )
    return data, record


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _built_with() -> dict[str, str]:
    versions = {}
    for distribution in ("facescope", "onnx", "numpy"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def store(key: str, source_sha256: str, data: bytes, inputs: dict[str, str]) -> ConvertedRecord:
    """Write a converted graph and then its record into the cache, each atomically.

    Raises:
        OSError: the cache folder cannot be created or written.
    """
    spec = _spec(key)
    path = artefact_path(key, source_sha256, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = ConvertedRecord(
        key=key,
        source=spec.source,
        source_sha256=source_sha256,
        converter_version=spec.converter_version,
        inputs=inputs,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        built_with=_built_with(),
    )
    # the graph first: a record is only ever next to the graph it describes
    _write_atomic(path, data)
    _write_atomic(record_path(path), (json.dumps(record.to_json(), indent=1) + "\n").encode())
    return record


def onnx_available() -> bool:
    """Whether the converters can run (``onnx`` is installed), without importing it."""
    try:
        return importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        return False


def build(
    key: str,
    source_path: Path | None = None,
    *,
    source_sha256: str | None = None,
    must_store: bool = True,
) -> tuple[bytes, ConvertedRecord | None]:
    """Convert ``key`` now (needs ``onnx``) and store it in the cache.

    Args:
        key: a key of :data:`CONVERTED_MODELS`.
        source_path: the source model file; by default the pinned one, SHA-256 checked.
        source_sha256: the source's expected SHA-256 (checked against its bytes).
        must_store: raise when the cache cannot be written; with ``False`` log a warning
            and return the graph without a record.

    Raises:
        ModelFileError: the source is unreadable, has another SHA-256, or cannot be
            converted.
        OSError: the cache cannot be written (only with ``must_store``).
    """
    spec = _spec(key)
    if source_path is None:
        source_path = verified_path(spec.source)
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {source_path}: {exc}") from exc
    digest = hashlib.sha256(source).hexdigest()
    if source_sha256 is not None and digest != source_sha256:
        raise ModelFileError(
            f"model file {source_path} has SHA-256 {digest}, expected {source_sha256}"
        )
    inputs = input_digests(key)
    module_name, _, function_name = spec.builder.partition(":")
    converter: Callable[[bytes], bytes] = getattr(
        importlib.import_module(module_name), function_name
    )
    try:
        data = converter(source)
    except ValueError as exc:
        raise ModelFileError(f"cannot convert {source_path} into {key}: {exc}") from exc
    try:
        record = store(key, digest, data, inputs)
    except OSError as exc:
        if must_store:
            raise
        logger.warning(
            "cannot write the converted model %s to %s (%s): using it from memory; "
            "it will be converted again in the next process",
            key,
            cache_dir(),
            exc,
        )
        return data, None
    return data, record


def load(key: str, source_path: Path, source_sha256: str) -> bytes:
    """The converted graph ``key`` for the runtime: read from the cache and verified.

    When it is missing, stale or altered and ``onnx`` is installed, it is converted once,
    now, with a logged warning, and stored for the next processes.

    Args:
        key: a key of :data:`CONVERTED_MODELS`.
        source_path: the source model file (read only to convert).
        source_sha256: its SHA-256, already verified by the caller.

    Raises:
        ModelNotAvailableError: the graph is not built (or stale) and ``onnx`` is not
            installed; the message says to run ``facescope models``.
        ModelFileError: the cached graph is altered and ``onnx`` is not installed, or
            conversion failed.
    """
    problem: ModelFileError
    try:
        data, _ = read_verified(key, source_sha256)
        return data
    except NotBuiltError as exc:
        problem = exc
    except AlteredError as exc:
        problem = exc
    if not onnx_available():
        message = f"{problem}; {BUILD_HINT} ({ONNX_HINT})"
        if isinstance(problem, AlteredError):
            raise AlteredError(message) from problem
        raise ModelNotAvailableError(message) from problem
    logger.warning(
        "%s: converting it now, once, into %s (`facescope models` does this at install)",
        problem,
        cache_dir(),
    )
    started = time.perf_counter()
    data, record = build(key, source_path, source_sha256=source_sha256, must_store=False)
    logger.info(
        "converted %s in %.2f s%s",
        key,
        time.perf_counter() - started,
        "" if record is None else f" (SHA-256 {record.sha256})",
    )
    return data


@dataclass(frozen=True)
class ConvertedStatus:
    """What ``facescope models`` reports for one converted graph."""

    spec: ConvertedModel
    path: Path | None
    record: ConvertedRecord | None
    status: str
    """``ok``, ``missing``, ``stale``, ``altered`` or ``failed``."""
    detail: str


def converted_status(key: str) -> ConvertedStatus:
    """Check one converted graph in the cache without raising (for the pinned source)."""
    spec = _spec(key)
    source_sha256 = spec.source_spec.sha256
    try:
        path = artefact_path(key, source_sha256)
    except ModelFileError as exc:  # an input of the converter is unreadable
        return ConvertedStatus(spec, None, None, "failed", str(exc))
    try:
        _, record = read_verified(key, source_sha256)
    except NotBuiltError as exc:
        return ConvertedStatus(spec, path, None, "stale" if exc.stale else "missing", str(exc))
    except AlteredError as exc:
        return ConvertedStatus(spec, path, None, "altered", str(exc))
    detail = "hash verified"
    if spec.reference_sha256 and record.sha256 != spec.reference_sha256:
        detail += (
            f"; differs from the reference build {spec.reference_sha256[:16]}… "
            f"(built with {record.built_with})"
        )
    return ConvertedStatus(spec, path, record, "ok", detail)


def ensure_built(
    key: str,
    *,
    force: bool = False,
    on_build: Callable[[ConvertedModel], None] | None = None,
) -> ConvertedStatus:
    """Build ``key`` into the cache unless it is there and verified (``facescope models``).

    ``on_build`` is called just before a conversion starts (to show progress). Never
    raises for a missing source, missing ``onnx`` or an unwritable cache: the status says.
    """
    status = converted_status(key)
    if status.status == "ok" and not force:
        return status
    spec = _spec(key)
    if not onnx_available():
        return ConvertedStatus(
            spec, status.path, None, status.status, f"{status.detail}; {ONNX_HINT}"
        )
    if on_build is not None:
        on_build(spec)
    started = time.perf_counter()
    try:
        build(key)
    except (ModelFileError, OSError) as exc:
        return ConvertedStatus(spec, status.path, None, "failed", str(exc))
    status = converted_status(key)
    if status.status == "ok":
        elapsed = time.perf_counter() - started
        status = ConvertedStatus(
            spec, status.path, status.record, "ok", f"built in {elapsed:.1f} s; {status.detail}"
        )
    return status


def _spec(key: str) -> ConvertedModel:
    try:
        return CONVERTED_MODELS[key]
    except KeyError:
        raise ModelNotAvailableError(
            f"unknown converted model '{key}'; known: {', '.join(sorted(CONVERTED_MODELS))}"
        ) from None
