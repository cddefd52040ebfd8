"""The FastAPI application: REST API under /v1, operations endpoints, the web UI at /.

Build it with :func:`create_app`; ``facescope serve`` runs it with uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.staticfiles import StaticFiles

from facescope.detect.faces import detector_name
from facescope.gallery.gallery import DEFAULT_FPIR
from facescope.match.thresholds import DEFAULT_FMR, load_calibration
from facescope.models import consent
from facescope.service import (
    routes_analysis,
    routes_gallery,
    routes_library,
    routes_recognition,
)
from facescope.service.connections import BodyDeadline
from facescope.service.context import ServiceContext
from facescope.service.errors import install_handlers
from facescope.service.limits import BodyLimit
from facescope.service.metrics import CONTENT_TYPE, MetricsMiddleware
from facescope.service.network import BrowserGuard
from facescope.service.schemas import (
    ErrorResponse,
    Health,
    InfoResponse,
    LicencedModel,
    Limits,
    Ready,
)
from facescope.service.settings import ServiceSettings

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer fsk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key, as a header")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "bad input (invalid image, base64 or JSON)"),
        (401, "missing, unknown or revoked API key"),
        (403, "the key lacks the scope or the collection"),
        (404, "unknown collection, subject or template"),
        (409, "conflict (duplicate photo, existing collection)"),
        (413, "body or image over the limit"),
        (415, "not multipart/form-data or JSON"),
        (422, "invalid request, no face, too many faces"),
        (429, "over the rate limit (see Retry-After)"),
        (503, "timed out (see Retry-After)"),
    )
}


def _ui_dir() -> str:
    return str(resources.files("facescope.service") / "ui")


def create_app(settings: ServiceSettings | None = None, *, warm_up: bool = True) -> FastAPI:
    """The service app over `settings.data` (default ``./facescope-data``).

    `warm_up` loads the detector and recogniser at start-up, so the first
    request is not slow and /ready says when the models are in.
    """
    settings = settings or ServiceSettings.from_env()
    context = ServiceContext(settings)
    readiness: dict[str, str] = {"models": "loading" if warm_up else "lazy"}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            try:
                await context.compute(_warm_up, settings.model)
                readiness["models"] = "ok"
            except Exception as exc:  # reported by /ready, not a crash
                readiness["models"] = f"failed: {exc}"
        yield
        context.close()

    from facescope import __version__

    app = FastAPI(
        title="facescope",
        version=__version__,
        summary="Offline face recognition: detect, enrol, identify, verify.",
        description=(
            "Images go as `multipart/form-data` file parts or as base64 strings in a JSON "
            "body, under the same field names. Errors are "
            '`{"error": {"status", "code", "message"}}` with a specific 4xx status.'
        ),
        lifespan=lifespan,
        responses=_ERRORS,
        # FastAPI's Swagger and ReDoc pages load their scripts from a CDN: blank offline
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = context
    install_handlers(app, context.redact)
    security = [Security(_bearer), Security(_header)]
    app.include_router(routes_gallery.router, dependencies=security)
    app.include_router(routes_recognition.router, dependencies=security)
    app.include_router(routes_library.router, dependencies=security)
    app.include_router(routes_analysis.router, dependencies=security)

    @app.get("/v1/info", response_model=InfoResponse, tags=["service"], dependencies=security)
    def info(request: Request) -> InfoResponse:
        context.guard(request, "read")
        calibration = load_calibration()
        return InfoResponse(
            version=__version__,
            auth_required=context.state.auth_required(),
            default_model=settings.model,
            models=sorted(calibration.models),
            limits=Limits(
                max_body_bytes=settings.max_body_bytes,
                max_pixels=settings.max_pixels,
                max_faces=settings.max_faces,
                rate_per_minute=settings.rate_per_minute,
                request_timeout_s=settings.request_timeout_s,
            ),
            fmr_choices=sorted(calibration.for_model(settings.model).thresholds),
            default_fmr=DEFAULT_FMR,
            default_fpir=DEFAULT_FPIR,
            detector=detector_name(),
            research_models=[
                LicencedModel(
                    key=gate.key,
                    licence=gate.licence,
                    provides=gate.provides,
                    # consents live in a data folder; a database's service uses this
                    # machine's ($FACESCOPE_DATA or the default folder)
                    enabled=consent.is_enabled(
                        gate.key, None if isinstance(settings.data, str) else settings.data
                    ),
                    enable_command=gate.enable_command,
                )
                for gate in consent.GATES.values()
            ],
        )

    @app.get("/health", response_model=Health, tags=["service"], summary="Liveness")
    def health() -> Health:
        return Health(status="ok")

    @app.get(
        "/ready",
        response_model=Ready,
        tags=["service"],
        summary="Readiness: models loaded, data folder usable",
        responses={503: {"model": Ready, "description": "not ready"}},
    )
    def ready() -> Response:
        checks = dict(readiness)
        try:
            context.state.auth_required()
            checks["data"] = "ok"
            broken = context.collections.broken()
            checks["collections"] = (
                "failed: " + "; ".join(f"{name}: {why}" for name, why in broken.items())
                if broken
                else "ok"
            )
        except Exception as exc:
            checks["data"] = f"failed: {exc}"
        checks = {name: context.redact(value) for name, value in checks.items()}
        ok = all(v in ("ok", "lazy") for v in checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (a key with read scope on a keyed service)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
        dependencies=security,
    )
    def metrics(request: Request) -> Response:
        # request counts and rates are operational data: not for anonymous callers
        context.guard(request, "read")
        return Response(context.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(f"{_ui_dir()}/index.html", media_type="text/html")

    app.mount("/ui", StaticFiles(directory=_ui_dir()), name="ui")
    # added innermost first: count every request, refuse foreign pages and rebound
    # host names, then oversized bodies before parsing
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(BodyDeadline, timeout_s=settings.body_timeout_s)
    app.add_middleware(
        BrowserGuard,
        open_mode=lambda: not context.state.auth_required(),
        bind_host=settings.host,
    )
    app.add_middleware(MetricsMiddleware, metrics=context.metrics)
    return app


def _warm_up(model: str) -> None:
    """Load the detector and the recogniser (one blank pass each)."""
    import numpy as np

    from facescope.pipeline import aligned_faces, embed_faces, find_faces

    find_faces(np.zeros((240, 320, 3), np.uint8))
    crop = np.zeros((112, 112, 3), np.uint8)
    embed_faces(crop, aligned_faces(crop), model)
