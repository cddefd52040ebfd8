"""What every request handler shares: settings, galleries, keys, limits, metrics.

One :class:`ServiceContext` per app. Handlers ask it who the caller is
(:meth:`guard`), run the heavy work in worker threads under a concurrency limit
and a timeout (:meth:`compute`), and write the audit log (:meth:`audited`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import numpy as np
import numpy.typing as npt
from fastapi import Request

from facescope.errors import FacescopeError
from facescope.io.image import load_image
from facescope.pipeline import find_faces
from facescope.service.backend import open_collections, open_state
from facescope.service.collections import DEFAULT_COLLECTION, Collections
from facescope.service.errors import ApiError, as_api_error
from facescope.service.limits import RateLimiter
from facescope.service.metrics import Metrics
from facescope.service.network import is_loopback
from facescope.service.pg_collections import PostgresCollections
from facescope.service.pg_state import PostgresServiceState
from facescope.service.settings import ServiceSettings
from facescope.service.state import ApiKey, ServiceState
from facescope.types import Faces

T = TypeVar("T")

# a path ending in a gallery file (the database, its WAL or search cache), as
# written in gallery error messages
_FILE = r"gallery\.sqlite3(?:-wal|-shm|-journal|\.index)?"
_COLLECTION_FILE = re.compile(
    r"(?:[^\s'\"]*/)?collections/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/" + _FILE
)
_DEFAULT_FILE = re.compile(r"(?:[^\s'\"]*/)?" + _FILE)


class SharedRateLimiter:
    """The per-caller token bucket of :class:`RateLimiter`, kept in the database."""

    def __init__(self, state: PostgresServiceState, per_minute: int) -> None:
        self.per_minute = per_minute
        self._state = state

    def take(self, caller: str) -> float:
        """Spend one request; return 0 if allowed, else the seconds until the next one is."""
        return self._state.take_rate(caller, self.per_minute)


@dataclass(frozen=True)
class Caller:
    """Who is asking: an API key, or (no keys configured, loopback only) anyone local."""

    key: ApiKey | None
    client: str

    @property
    def name(self) -> str:
        return self.key.id if self.key else f"anonymous@{self.client}"

    def allows(self, scope: str, collection: str | None) -> bool:
        return self.key is None or self.key.allows(scope, collection)


class ServiceContext:
    """Shared state of one service app."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.state: ServiceState | PostgresServiceState = open_state(settings.data)
        self.collections: Collections | PostgresCollections = open_collections(
            settings.data, self.state, settings.model
        )
        self.metrics = Metrics()
        # a database is shared by every replica: so is its rate limit
        self.rate: RateLimiter | SharedRateLimiter = (
            SharedRateLimiter(self.state, settings.rate_per_minute)
            if isinstance(self.state, PostgresServiceState)
            else RateLimiter(settings.rate_per_minute)
        )
        self.limiter = anyio.CapacityLimiter(settings.max_concurrent)

    def close(self) -> None:
        self.collections.close()
        self.state.close()

    def redact(self, message: str) -> str:
        """`message` with the server's file paths replaced by collection names.

        Error messages of the gallery name its file, which helps the operator at
        a terminal but tells a remote caller how the server is laid out.
        """
        message = _COLLECTION_FILE.sub(lambda m: f"collection {m.group(1)!r}", message)
        message = _DEFAULT_FILE.sub(f"collection {DEFAULT_COLLECTION!r}", message)
        data = self.settings.data
        if isinstance(data, str):  # a database: its address stays on the server
            return message.replace(data, "<data>")
        for root in sorted({str(data.absolute()), str(data.resolve())}, key=len, reverse=True):
            message = message.replace(root, "<data>")
        return message

    # ---- who ----------------------------------------------------------------------

    def guard(self, request: Request, scope: str, collection: str | None = None) -> Caller:
        """Authenticate, rate-limit and authorise one request.

        A data folder that never had an API key is open, to loopback callers
        only; once a key was created, every /v1 request needs an active one, as
        ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, even after the
        last key is revoked (then every request is refused with 503
        ``no_active_key`` until a key is created or ``facescope keys open``).
        """
        client = request.client.host if request.client else "unknown"
        token = _token(request)
        key: ApiKey | None = None
        if self.state.auth_required():
            if not self.state.has_keys():
                raise ApiError(
                    503,
                    "no_active_key",
                    "this service requires an API key, but no active key exists (the last "
                    "one was revoked); an administrator must create one with "
                    "`facescope keys create`",
                )
            if token is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "an API key is required: send 'Authorization: Bearer <key>'",
                    {"WWW-Authenticate": "Bearer"},
                )
            key = self.state.authenticate(token)
            if key is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "unknown or revoked API key",
                    {"WWW-Authenticate": "Bearer"},
                )
        elif not is_loopback(self.settings.host):
            # keys were removed while serving beyond loopback: never serve openly there
            raise ApiError(
                503,
                "no_active_key",
                f"this service listens on {self.settings.host} and has no API key; it "
                "answers without a key on loopback only. Create a key with "
                "`facescope keys create`",
            )
        wait = self.rate.take(key.id if key else f"ip:{client}")
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"over {self.settings.rate_per_minute} requests per minute; retry in {wait:.0f} s",
                {"Retry-After": f"{wait:.0f}"},
            )
        caller = Caller(key, client)
        if not caller.allows(scope, collection):
            self.state.audit(
                "denied",
                key=key,
                client=client,
                collection=collection,
                outcome="error:forbidden",
                detail={"needed": scope, "method": request.method, "path": request.url.path},
            )
            where = f"collection {collection!r}" if collection else "this service"
            raise ApiError(403, "forbidden", f"this API key may not {_VERBS[scope]} {where}")
        return caller

    # ---- work ---------------------------------------------------------------------

    async def compute(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function` in a worker thread, at most `max_concurrent` at once, with a timeout."""
        try:
            with anyio.fail_after(self.settings.request_timeout_s):
                return await anyio.to_thread.run_sync(
                    function, *args, limiter=self.limiter, abandon_on_cancel=True
                )
        except TimeoutError:
            raise ApiError(
                503,
                "timeout",
                f"the request took over {self.settings.request_timeout_s:g} s; try a smaller "
                "image or retry later",
                {"Retry-After": "5"},
            ) from None

    def decode(self, data: bytes, field: str) -> npt.NDArray[np.uint8]:
        """Decode an uploaded image under the pixel limit; errors name the field."""
        try:
            return load_image(data, max_pixels=self.settings.max_pixels)
        except FacescopeError as exc:
            message = str(exc).replace("<bytes>", field, 1)
            raise as_api_error(type(exc)(message)) from None

    def faces(self, rgb: npt.NDArray[np.uint8], operation: str) -> Faces:
        """Detect faces, refusing images with more than `max_faces`."""
        faces = find_faces(rgb)
        self.metrics.faces.labels(operation).inc(len(faces))
        if len(faces) > self.settings.max_faces:
            raise ApiError(
                422,
                "too_many_faces",
                f"{len(faces)} faces found; at most {self.settings.max_faces} per image",
            )
        return faces

    @contextmanager
    def audited(
        self, caller: Caller, action: str, collection: str | None, subject: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Audit the block: fill the yielded dict with the result; errors are logged too.

        The entry is written (as ``pending``) before the block runs and completed
        after it, so a change is never stored without its audit entry, even if
        the process is killed in between (:meth:`ServiceState.begin_audit`).
        For handlers already in a worker thread; async handlers use :meth:`audited_async`.
        """
        detail: dict[str, Any] = {}
        entry = self._begin(caller, action, collection, subject)
        try:
            yield detail
        except Exception as exc:
            self.state.finish_audit(entry, _outcome(exc), detail)
            raise
        self.state.finish_audit(entry, "ok", detail)

    @asynccontextmanager
    async def audited_async(
        self, caller: Caller, action: str, collection: str | None, subject: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """:meth:`audited` for async handlers: the writes go to a thread, off the event loop."""
        detail: dict[str, Any] = {}
        entry = await anyio.to_thread.run_sync(self._begin, caller, action, collection, subject)
        try:
            yield detail
        except Exception as exc:
            await anyio.to_thread.run_sync(self.state.finish_audit, entry, _outcome(exc), detail)
            raise
        await anyio.to_thread.run_sync(self.state.finish_audit, entry, "ok", detail)

    def _begin(
        self, caller: Caller, action: str, collection: str | None, subject: str | None
    ) -> int:
        return self.state.begin_audit(
            action, key=caller.key, client=caller.client, collection=collection, subject=subject
        )


def _outcome(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"error:{exc.code}"
    if isinstance(exc, FacescopeError):
        return f"error:{as_api_error(exc).code}"
    return f"error:{type(exc).__name__}"


_VERBS = {"read": "read", "enrol": "change", "admin": "administer"}


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        kind, _, value = header.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None
