"""Property-based fuzzing of the REST API against its own OpenAPI document (schemathesis).

Every operation gets generated valid and invalid requests (both body kinds,
odd path and query values); none may answer with a 5xx. A gallery with one
enrolled subject makes the existing-resource paths reachable too.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from service_helpers import BASE_URL

from facescope.service import ServiceSettings, create_app

pytestmark = pytest.mark.slow  # schemathesis fuzzing of the whole API

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DATA = Path(__file__).parents[1] / "data"
EXAMPLES = int(os.environ.get("FACESCOPE_FUZZ_EXAMPLES", "30"))

_root = Path(tempfile.mkdtemp(prefix="facescope-fuzz-"))
# generous rate limit: the fuzzer sends hundreds of requests a minute
app = create_app(ServiceSettings(data=_root, rate_per_minute=1_000_000))
with TestClient(
    app, base_url=BASE_URL
) as _client:  # runs start-up (model warm-up), enrols one subject
    _client.post(
        "/v1/collections/default/subjects/Obama/faces",
        files={"image": ("obama_1.jpg", (DATA / "obama_1.jpg").read_bytes(), "image/jpeg")},
    )
    _client.post("/v1/collections", json={"name": "site-a"})


async def _loopback(scope: Any, receive: Any, send: Any) -> None:
    """`app` with requests addressed to 127.0.0.1: schemathesis sends ``Host: testserver``,
    which a keyless service refuses (DNS-rebinding guard, tested in test_service_hardening)."""
    if scope["type"] == "http":
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope = {**scope, "headers": [*headers, (b"host", b"127.0.0.1:8000")]}
    await app(scope, receive, send)


schema = schemathesis.openapi.from_asgi("/openapi.json", _loopback)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
