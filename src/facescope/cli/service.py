"""``facescope serve`` and ``facescope keys``: the REST service and its API keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from facescope.cli._common import DEFAULT_DATA, DataOption, JsonOption, errors, friendly, warn
from facescope.cli.output import emit, plain

if TYPE_CHECKING:
    from facescope.service.state import ApiKey

# The service's own defaults (facescope.service.server); written here so that the
# command line does not import the web stack just to show its --help.
_HOST = "127.0.0.1"
_PORT = 8000


@friendly
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs an API key.")
    ] = _HOST,
    port: Annotated[int, typer.Option(help="TCP port.")] = _PORT,
    data: DataOption = DEFAULT_DATA,
    model: Annotated[str, typer.Option(help="Model of new collections: sface or dlib.")] = "sface",
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Address of a reverse proxy whose X-Forwarded-For is believed (repeat).",
        ),
    ] = None,
    library: Annotated[
        Path | None,
        typer.Option(
            "--library",
            help="Photo library of the web UI's 'Photo library' view (default: DATA/library); "
            "fill it with `facescope cluster PHOTOS --library DIR` or by uploading photos.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Service processes sharing the port, each with its own models (they share "
            "the data: the folder through SQLite, or the PostgreSQL database).",
        ),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Inference threads per process (ONNX Runtime, OpenCV); default: the "
            "cores divided by --workers (one process: one ONNX thread per request).",
        ),
    ] = None,
) -> None:
    """Run the REST API and web UI (http://HOST:PORT/, OpenAPI at /openapi.json).

    A server prints no result, so it has no --json; its log lines go to stderr.
    --data names a folder or a PostgreSQL database (postgresql://user@host/db): with a
    database, any number of `serve` processes on any number of machines share the
    galleries, keys, audit log and rate limits.
    """
    from facescope.service.server import check_bind
    from facescope.service.server import serve as run_server
    from facescope.service.settings import ServiceSettings

    settings = ServiceSettings.from_env(
        data=data,
        model=model,
        host=host,
        trusted_proxies=tuple(trusted_proxy or ()),
        library=library,
    )
    from facescope.models import consent
    from facescope.service.backend import describe, is_database

    if not is_database(settings.data):
        # licence consents for opt-in models are read from the served data folder
        os.environ[consent.DATA_ENV] = str(settings.data)
    keyed = check_bind(host, settings)
    shown = f"[{host}]" if ":" in host else host
    processes = f", {workers} worker processes" if workers > 1 else ""
    errors.print(
        f"facescope serving {escape(describe(settings.data))} on http://{escape(shown)}:{port}/ "
        f"({'API keys required' if keyed else 'open: no API keys configured, loopback only'}"
        f"{processes})",
        highlight=False,
    )
    run_server(settings, host, port, workers=workers, threads=threads)


keys_app = typer.Typer(
    help="Create, list and revoke API keys of the service.", no_args_is_help=True
)


def _created(made: dict[str, Any]) -> Iterator[RenderableType]:
    yield f"key id {made['id']} ({made['scope']} on {escape(', '.join(made['collections']))})"
    yield "secret (shown once, keep it safe):"
    yield plain(made["key"])


@keys_app.command("create")
@friendly
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        str, typer.Option(help="read (identify, verify, list), enrol (also change), admin (all).")
    ] = "read",
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", "-c", help="Collection it may use (repeat); default all."),
    ] = None,
    data: DataOption = DEFAULT_DATA,
    as_json: JsonOption = False,
) -> None:
    """Make an API key; its secret is printed once and stored only as a hash."""
    from facescope.service.backend import data_location, open_state
    from facescope.service.state import ALL_COLLECTIONS

    state = open_state(data_location(data))
    try:
        token, record = state.create_key(name, scope, collection or [ALL_COLLECTIONS])
    finally:
        state.close()
    emit({"key": token, **record.to_dict()}, as_json=as_json, render=_created)


def _keys(keys: list[ApiKey]) -> Iterator[RenderableType]:
    table = Table("id", "name", "scope", "collections", "status")
    for key in keys:
        table.add_row(
            key.id,
            escape(key.name),
            key.scope,
            escape(", ".join(key.collections)),
            "active" if key.active else "[red]revoked[/]",
        )
    yield table


@keys_app.command("list")
@friendly
def keys_list(data: DataOption = DEFAULT_DATA, as_json: JsonOption = False) -> None:
    """List the keys (never their secrets)."""
    from facescope.service.backend import data_location, open_state

    state = open_state(data_location(data))
    try:
        keys = state.list_keys()
    finally:
        state.close()
    emit(keys, as_json=as_json, render=_keys)


@keys_app.command("revoke")
@friendly
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `facescope keys list`).")],
    data: DataOption = DEFAULT_DATA,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key; the running service refuses it from the next request on."""
    from facescope.service.backend import data_location, open_state

    state = open_state(data_location(data))
    try:
        record = state.revoke_key(key_id)
        last = not state.has_keys()
    finally:
        state.close()
    if last:
        warn(
            "that was the last active key: the service now refuses every request until you "
            "create a key (`facescope keys create`). It stays closed; to serve loopback "
            "without keys again, run `facescope keys open` deliberately."
        )
    emit(
        {**record.to_dict(), "last_active_key": last},
        as_json=as_json,
        render=lambda r: [f"revoked key {record.id} ({escape(record.name)})"],
    )


@keys_app.command("open")
@friendly
def keys_open(
    data: DataOption = DEFAULT_DATA,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: anyone on this machine may use the service.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Let the service answer without a key again (loopback only); needs no active key."""
    from facescope.service.backend import data_location, describe, open_state

    if not yes:
        raise typer.BadParameter(
            "this lets any program or web page on this machine read and change the "
            "galleries; pass --yes to confirm",
            param_hint="--yes",
        )
    state = open_state(data_location(data))
    try:
        state.reopen()
    finally:
        state.close()
    emit(
        {"data": describe(data_location(data)), "auth_required": False},
        as_json=as_json,
        render=lambda r: ["the service now answers without a key, on loopback only"],
    )


def register(app: typer.Typer) -> None:
    """Add ``facescope serve`` and ``facescope keys`` to `app`."""
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
