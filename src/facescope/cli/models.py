"""``facescope models``: the bundled models, their hashes and licences, and converted graphs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import JsonOption, friendly, note
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.models.converted import ConvertedModel, ConvertedStatus
    from facescope.models.registry import ModelStatus

#: Exit status when a model is missing or its file's hash differs.
EXIT_MODEL_PROBLEM = 1


@dataclass(frozen=True)
class Inventory:
    """Each bundled model's status, and the graphs converted from them."""

    statuses: list[ModelStatus]
    built: list[ConvertedStatus]
    cache: str

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.statuses) and all(
            c.status == "ok" for c in self.built
        )

    def to_dict(self) -> list[dict[str, Any]]:
        """One entry per bundled model (with its ``converted`` graphs, if any)."""
        return [self._entry(s) for s in self.statuses]

    def _entry(self, s: ModelStatus) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "model": s.spec.key,
            "task": s.spec.task,
            "package": f"{s.spec.distribution}=={s.spec.version}",
            "installed": s.installed_version,
            "sha256": s.spec.sha256,
            "licence": s.spec.licence,
            "status": s.status,
            "detail": s.detail,
        }
        converted = [c for c in self.built if c.spec.source == s.spec.key]
        if converted:
            entry["converted"] = [
                {
                    "model": c.spec.key,
                    "task": c.spec.task,
                    "converter_version": c.spec.converter_version,
                    "path": str(c.path) if c.path else None,
                    "sha256": c.record.sha256 if c.record else None,
                    "status": c.status,
                    "detail": c.detail,
                }
                for c in converted
            ]
        return entry


def _inventory(found: Inventory) -> Iterator[RenderableType]:
    table = Table(title="facescope models")
    for column in ("model", "task", "package", "licence", "sha256", "status"):
        table.add_column(column, overflow="fold")
    for s in found.statuses:
        colour = "green" if s.status == "ok" else "red"
        table.add_row(
            s.spec.key,
            s.spec.task,
            f"{s.spec.distribution}=={s.spec.version}",
            s.spec.licence,
            s.spec.sha256[:16] + "…",
            f"[{colour}]{s.status}[/]",
        )
    for c in found.built:
        colour = "green" if c.status == "ok" else "red"
        table.add_row(
            c.spec.key,
            c.spec.task,
            f"converted from {c.spec.source} (converter v{c.spec.converter_version})",
            c.spec.source_spec.licence,
            c.record.sha256[:16] + "…" if c.record else "—",
            f"[{colour}]{c.status}[/]",
        )
    yield table
    yield f"converted graphs: {escape(found.cache)}"
    for s in found.statuses:
        if s.status != "ok":
            yield f"[red]{s.spec.key}[/]: {escape(s.detail)}"
    for c in found.built:
        if c.status != "ok":
            yield f"[red]{c.spec.key}[/]: {escape(c.detail)}"


@friendly
def models(
    as_json: JsonOption = False,
    rebuild: Annotated[
        bool, typer.Option(help="Convert the converted graphs again even when cached.")
    ] = False,
) -> None:
    """List the bundled models: package, version, SHA-256, licence and status.

    Also builds, once, the graphs converted from them (SFace for ONNX Runtime) into the
    converted-model cache the runtime loads; `make install` runs this. Exits 1 when a
    model is missing or a file's hash differs.
    """
    from facescope.models import converted
    from facescope.models.registry import MODEL_FILES, model_status

    statuses = [model_status(key) for key in MODEL_FILES]

    def building(spec: ConvertedModel) -> None:
        note(
            f"building {spec.key} from {spec.source} (converter v{spec.converter_version}) "
            f"into {converted.cache_dir()} …"
        )

    built = [
        converted.ensure_built(key, force=rebuild, on_build=building)
        for key in converted.CONVERTED_MODELS
    ]
    found = Inventory(statuses, built, str(converted.cache_dir()))
    emit(found, as_json=as_json, render=_inventory)
    if not found.ok:
        raise typer.Exit(EXIT_MODEL_PROBLEM)


def register(app: typer.Typer) -> None:
    """Add ``facescope models`` to `app`."""
    app.command()(models)
