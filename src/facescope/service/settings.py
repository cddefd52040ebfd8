"""What the REST service is configured with: where data lives and its limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from facescope.cluster.library import DEFAULT_LIBRARY
from facescope.gallery.gallery import DEFAULT_GALLERY
from facescope.service.backend import data_location

#: Environment variables read by :meth:`ServiceSettings.from_env` (``facescope serve``).
ENV_PREFIX = "FACESCOPE_SERVICE_"


@dataclass(frozen=True)
class ServiceSettings:
    """Configuration of one service process.

    Attributes:
        data: folder holding the default collection (the CLI's gallery), the other
            collections under ``collections/``, and ``service.sqlite3`` (API keys
            and the audit log); or the URI of a PostgreSQL database
            (``postgresql://user@host/db[?schema=name]``) holding all of them, shared
            by every service process (:mod:`facescope.service.backend`).
        max_body_bytes: largest request body accepted (413 beyond).
        max_pixels: largest decoded image, width x height (413 beyond): the
            decompression-bomb guard applied before any pixel is decoded.
        max_faces: most faces one image may hold (422 beyond).
        rate_per_minute: requests each API key (or, with no keys configured,
            each client address) may make per minute (429 beyond).
        request_timeout_s: longest an image request may compute (503 beyond).
        max_concurrent: image requests computed at once; the rest queue.
        header_timeout_s: a connection must send complete request headers within
            this time of opening or of its previous response, else it is closed
            (idle sockets, slowloris); see ``service/connections.py``.
        body_timeout_s: a request body must arrive in full within this time of
            its headers (408 beyond).
        max_connections_per_client: connections one client address (IPv6: /64)
            may hold waiting for request headers (its oldest is closed beyond),
            and requests it may have in progress (429 beyond).
        max_connections: open connections server-wide (the oldest idle one is
            closed beyond) and requests in progress (503 beyond); ``/health``
            and ``/ready`` are never refused.
        model: recognition model of newly created collections.
        host: the address the server listens on (``facescope serve --host``); without
            API keys the service answers only when this is a loopback address, and
            only to requests whose ``Host`` header names this machine.
        trusted_proxies: addresses of reverse proxies whose ``X-Forwarded-For`` and
            ``X-Forwarded-Proto`` headers are believed (client address in the audit
            log and rate limits); empty (the default) believes no one.
        max_jobs: video jobs queued or running in this process at once (429 beyond);
            the upload itself is bounded by `max_body_bytes`.
        max_video_frames: most frames one video job reads (its ``max_frames`` is
            capped to this).
        job_keep_s: seconds a finished job (and its result) is kept for polling.
        library: the photo library folder (``/v1/library``, ``facescope serve
            --library``); None means ``<data>/library`` (see :attr:`library_path`).
    """

    data: Path | str = field(default_factory=lambda: Path(DEFAULT_GALLERY))
    max_body_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_faces: int = 20
    rate_per_minute: int = 600
    request_timeout_s: float = 30.0
    max_concurrent: int = 4
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections_per_client: int = 32
    max_connections: int = 256
    model: str = "sface"
    host: str = "127.0.0.1"
    trusted_proxies: tuple[str, ...] = ()
    max_jobs: int = 4
    max_video_frames: int = 3000
    job_keep_s: float = 3600.0
    library: Path | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_pixels",
            "max_faces",
            "rate_per_minute",
            "max_jobs",
            "max_video_frames",
        ):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.request_timeout_s <= 0 or self.max_concurrent <= 0:
            raise ValueError("request_timeout_s and max_concurrent must be positive")
        if min(self.header_timeout_s, self.body_timeout_s) <= 0:
            raise ValueError("header_timeout_s and body_timeout_s must be positive")
        if min(self.max_connections_per_client, self.max_connections) <= 0:
            raise ValueError("max_connections_per_client and max_connections must be positive")
        if self.job_keep_s <= 0:
            raise ValueError("job_keep_s must be positive")
        # a folder (Path), or the URI of a PostgreSQL database (str): never a folder
        # named after a URI
        object.__setattr__(self, "data", data_location(self.data))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        if self.library is not None:
            object.__setattr__(self, "library", Path(self.library))

    @property
    def library_path(self) -> Path:
        """The photo library's folder: `library`, else ``<data>/library``.

        With a PostgreSQL `data`, the default is the CLI's (``./facescope-library``).
        """
        if self.library is not None:
            return self.library
        if isinstance(self.data, str):
            return Path(DEFAULT_LIBRARY)
        return self.data / "library"

    @classmethod
    def from_env(cls, **overrides: object) -> ServiceSettings:
        """Defaults, then ``FACESCOPE_SERVICE_<FIELD>`` variables, then `overrides`."""
        settings = cls()
        values: dict[str, object] = {}
        for name, kind in (
            ("max_body_bytes", int),
            ("max_pixels", int),
            ("max_faces", int),
            ("rate_per_minute", int),
            ("request_timeout_s", float),
            ("max_concurrent", int),
            ("header_timeout_s", float),
            ("body_timeout_s", float),
            ("max_connections_per_client", int),
            ("max_connections", int),
            ("max_jobs", int),
            ("max_video_frames", int),
            ("job_keep_s", float),
        ):
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ValueError(
                        f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number"
                    ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(settings, **values)  # type: ignore[arg-type]
