"""Every failure the service reports: one JSON shape, a specific 4xx, never a bare 500.

Body: ``{"error": {"status": 413, "code": "image_too_large", "message": "..."}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facescope.cluster.library import ClusterError, UnknownClusterError, UnknownFaceError
from facescope.errors import (
    CalibrationError,
    CorruptGalleryError,
    DuplicateTemplateError,
    EmptyGalleryError,
    EnrollmentError,
    FacescopeError,
    GalleryBusyError,
    GalleryError,
    GalleryModelMismatchError,
    ImageTooLargeError,
    InvalidEmbeddingError,
    InvalidImageError,
    NoFaceError,
    PoorQualityError,
    SimilarSubjectError,
    UnknownSubjectError,
    UnknownTemplateError,
)
from facescope.service.collections import (
    CollectionExistsError,
    InvalidNameError,
    UnknownCollectionError,
)
from facescope.service.state import ApiKeyError

log = logging.getLogger("facescope.service")


class ApiError(Exception):
    """An error with its HTTP status and a stable machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


#: facescope exceptions -> (status, code); the first matching class wins.
_MAPPING: tuple[tuple[type[Exception], int, str], ...] = (
    (CorruptGalleryError, 503, "collection_damaged"),
    (GalleryBusyError, 503, "collection_busy"),
    (ImageTooLargeError, 413, "image_too_large"),
    (InvalidImageError, 400, "invalid_image"),
    (NoFaceError, 422, "no_face"),
    (PoorQualityError, 422, "poor_quality"),
    (EnrollmentError, 422, "enrolment_refused"),
    (UnknownCollectionError, 404, "unknown_collection"),
    (UnknownSubjectError, 404, "unknown_subject"),
    (UnknownTemplateError, 404, "unknown_template"),
    (DuplicateTemplateError, 409, "duplicate_template"),
    (SimilarSubjectError, 409, "similar_subject"),
    (CollectionExistsError, 409, "collection_exists"),
    (EmptyGalleryError, 409, "empty_collection"),
    (GalleryModelMismatchError, 409, "model_mismatch"),
    (InvalidNameError, 422, "invalid_name"),
    (InvalidEmbeddingError, 422, "invalid_embedding"),
    (CalibrationError, 422, "not_calibrated"),
    (ApiKeyError, 422, "invalid_key_request"),
    (UnknownClusterError, 404, "unknown_cluster"),
    (UnknownFaceError, 404, "unknown_face"),
    (ClusterError, 409, "cluster_error"),
    (GalleryError, 409, "gallery_error"),
)


def as_api_error(exc: Exception) -> ApiError:
    """The ApiError a facescope exception (or an ApiError) stands for."""
    if isinstance(exc, ApiError):
        return exc
    for kind, status, code in _MAPPING:
        if isinstance(exc, kind):
            # a damaged or busy collection is the server's state, not the request's fault
            headers = {"Retry-After": "5"} if status == 503 else None
            return ApiError(status, code, str(exc), headers)
    if isinstance(exc, FacescopeError):
        return ApiError(400, "bad_request", str(exc))
    raise exc


def _response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": error.status, "code": error.code, "message": error.message}},
        status_code=error.status,
        headers=error.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def install_handlers(app: FastAPI, redact: Callable[[str], str] = lambda text: text) -> None:
    """Route every exception to the JSON error body; `redact` rewrites its message.

    The service passes :meth:`ServiceContext.redact`, which names collections
    instead of the server's file paths.
    """

    def error_response(error: ApiError) -> JSONResponse:
        error.message = redact(error.message)
        return _response(error)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(FacescopeError)
    async def _facescope(_: Request, exc: FacescopeError) -> JSONResponse:
        return error_response(as_api_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return error_response(ApiError(422, "invalid_request", problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, "internal", "internal error; see the server log"))
