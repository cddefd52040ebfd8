"""Request bodies with images: multipart uploads or JSON with base64, the same fields.

Every image endpoint accepts either

* ``multipart/form-data`` with a file part per image field (``image``, or
  ``image_a`` and ``image_b``) and plain text parts for the other fields, or
* ``application/json`` with the image fields as base64 strings (a ``data:``
  URL prefix is allowed) and the other fields as JSON values.

:func:`openapi_body` declares both in the OpenAPI document, which is the contract.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from facescope.service.errors import ApiError

#: Largest text field (a subject name, JSON ``metadata``...), in either body format:
#: metadata is stored with the subject and returned in every listing.
MAX_FIELD_BYTES = 64 * 1024
#: Most text fields in one body.
MAX_FIELDS = 16
#: Deepest nesting of a JSON object field (metadata), so that storing and
#: returning it can never exhaust the serialisers' recursion limits.
MAX_DEPTH = 32


def parse_json(data: bytes | str, what: str) -> Any:
    """``json.loads`` whose every failure is a 400 naming `what`.

    Deeply nested documents raise RecursionError in the parser, not
    JSONDecodeError: a body of ``[[[[...]]]]`` must be a client error, not a 500.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ApiError(400, "invalid_json", f"{what}: JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", f"{what}: not valid JSON") from None


@dataclass(frozen=True)
class Upload:
    """A parsed body: encoded images by field name, plus the other fields."""

    images: dict[str, tuple[bytes, str]]
    fields: dict[str, Any] = field(default_factory=dict)

    def image(self, name: str) -> tuple[bytes, str]:
        """(encoded bytes, file name) of a required image field."""
        try:
            return self.images[name]
        except KeyError:
            raise ApiError(422, "missing_image", f"the request has no {name!r} image") from None


def openapi_body(
    images: Sequence[str],
    text: dict[str, dict[str, Any]] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``requestBody`` of an image endpoint, for ``openapi_extra``."""
    text = text or {}
    needed = [*images, *required]
    json_props = {
        name: {"type": "string", "description": "the encoded image file, base64", "minLength": 1}
        for name in images
    } | text
    form_props = {
        name: {"type": "string", "format": "binary", "description": "the image file"}
        for name in images
    } | {
        name: {
            "type": "string",
            "description": schema.get("description", "") + " (JSON text for objects)",
        }
        for name, schema in text.items()
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": form_props, "required": needed}
                },
                "application/json": {
                    "schema": {"type": "object", "properties": json_props, "required": needed}
                },
            },
        }
    }


def _decode_base64(name: str, value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ApiError(422, "invalid_request", f"{name}: expected a non-empty base64 string")
    text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_base64", f"{name}: not valid base64") from None
    if not data:
        raise ApiError(400, "invalid_image", f"{name}: the image is empty (0 bytes)")
    return data


async def read_upload(request: Request, image_fields: Sequence[str]) -> Upload:
    """Parse a multipart or JSON body into an :class:`Upload`."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    images: dict[str, tuple[bytes, str]] = {}
    fields: dict[str, Any] = {}
    if kind == "application/json":
        document = parse_json(await request.body(), "the body")
        if not isinstance(document, dict):
            raise ApiError(422, "invalid_request", "the JSON body must be an object")
        if len(document) > len(image_fields) + MAX_FIELDS:
            raise ApiError(422, "invalid_request", f"at most {MAX_FIELDS} fields besides images")
        for name, value in document.items():
            if name in image_fields:
                images[name] = (_decode_base64(name, value), name)
            else:
                _check_size(name, value)
                fields[name] = value
    elif kind == "multipart/form-data":
        try:
            form = await request.form(
                max_files=len(image_fields), max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
            )
        except Exception as exc:  # starlette raises its own MultiPartException, or KeyError
            raise ApiError(
                400, "invalid_multipart", f"cannot parse the multipart body: {exc}"
            ) from None
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name not in image_fields:
                        raise ApiError(422, "invalid_request", f"unexpected file field {name!r}")
                    data = await value.read()
                    if not data:
                        raise ApiError(
                            400, "invalid_image", f"{name}: the image is empty (0 bytes)"
                        )
                    images[name] = (data, value.filename or name)
                elif name in image_fields:
                    # a text part where a file was expected: take it as base64
                    images[name] = (_decode_base64(name, value), name)
                else:
                    _check_size(name, value)
                    fields[name] = value
        finally:
            await form.close()
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send multipart/form-data (file upload) or application/json (base64 images)",
        )
    return Upload(images, fields)


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _check_size(name: str, value: Any) -> None:
    """Refuse a field over :data:`MAX_FIELD_BYTES` (as JSON text) or :data:`MAX_DEPTH`."""
    if _depth(value) > MAX_DEPTH:
        raise ApiError(422, "invalid_request", f"{name}: nested over {MAX_DEPTH} levels")
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
        raise ApiError(413, "field_too_large", f"{name}: over the limit of {MAX_FIELD_BYTES} bytes")


def text_field(upload: Upload, name: str, *, required: bool = False) -> str | None:
    """A string field of the body."""
    value = upload.fields.get(name)
    if value is None:
        if required:
            raise ApiError(422, "invalid_request", f"the request has no {name!r} field")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "invalid_request", f"{name}: expected a non-empty string")
    return value


def object_field(upload: Upload, name: str) -> dict[str, Any] | None:
    """A JSON-object field (multipart parts carry it as JSON text)."""
    value = upload.fields.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_json(value, name)
        _check_size(name, value)
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_request", f"{name}: expected a JSON object")
    return value
