"""What the REST service is configured with: where data lives and its limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from facescope.gallery.gallery import DEFAULT_GALLERY

#: Environment variables read by :meth:`ServiceSettings.from_env` (``facescope serve``).
ENV_PREFIX = "FACESCOPE_SERVICE_"


@dataclass(frozen=True)
class ServiceSettings:
    """Configuration of one service process.

    Attributes:
        data: folder holding the default collection (the CLI's gallery), the other
            collections under ``collections/``, and ``service.sqlite3`` (API keys
            and the audit log).
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
    """

    data: Path = field(default_factory=lambda: Path(DEFAULT_GALLERY))
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

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_pixels", "max_faces", "rate_per_minute"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.request_timeout_s <= 0 or self.max_concurrent <= 0:
            raise ValueError("request_timeout_s and max_concurrent must be positive")
        if min(self.header_timeout_s, self.body_timeout_s) <= 0:
            raise ValueError("header_timeout_s and body_timeout_s must be positive")
        if min(self.max_connections_per_client, self.max_connections) <= 0:
            raise ValueError("max_connections_per_client and max_connections must be positive")
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))

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
