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

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from facescope.service import ServiceSettings, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DATA = Path(__file__).parent / "data"
EXAMPLES = int(os.environ.get("FACESCOPE_FUZZ_EXAMPLES", "30"))

_root = Path(tempfile.mkdtemp(prefix="facescope-fuzz-"))
# generous rate limit: the fuzzer sends hundreds of requests a minute
app = create_app(ServiceSettings(data=_root, rate_per_minute=1_000_000))
with TestClient(app) as _client:  # runs start-up (model warm-up), enrols one subject
    _client.post(
        "/v1/collections/default/subjects/Obama/faces",
        files={"image": ("obama_1.jpg", (DATA / "obama_1.jpg").read_bytes(), "image/jpeg")},
    )
    _client.post("/v1/collections", json={"name": "site-a"})

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
