"""Regression tests of the service security review (issue 18): each case was reproduced first."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from service_helpers import client, error_code, upload
from typer.testing import CliRunner

from facescope.cli import app as cli
from facescope.service.state import PENDING, ServiceState


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _enrol(api: Any, data: Path, name: str = "Obama", **headers: str) -> Any:
    return api.post(
        f"/v1/collections/default/subjects/{name}/faces",
        files=upload(data / "obama_1.jpg"),
        headers=headers,
    )


# ---- 1. revoking the last key keeps the service closed --------------------------------


def test_revoking_the_last_key_closes_the_service(tmp_path: Path, data: Path) -> None:
    state = ServiceState(tmp_path)
    token, record = state.create_key("only", "admin")
    state.close()
    with client(tmp_path) as api:
        assert _enrol(api, data, **bearer(token)).status_code == 201
        result = CliRunner().invoke(cli, ["keys", "revoke", record.id, "--data", str(tmp_path)])
        assert result.exit_code == 0
        assert "last active key" in result.output
        for method, path in (
            ("GET", "/v1/collections/default/subjects"),
            ("DELETE", "/v1/collections/default/subjects/Obama"),
            ("GET", "/v1/info"),
            ("GET", "/metrics"),
        ):
            for headers in ({}, bearer(token)):
                response = api.request(method, path, headers=headers)
                assert response.status_code == 503, (method, path, response.text)
                assert error_code(response) == "no_active_key"
        # nothing was erased while it was closed
        fresh, _ = ServiceState(tmp_path).create_key("new", "admin")
        subjects = api.get("/v1/collections/default/subjects", headers=bearer(fresh))
        assert [s["name"] for s in subjects.json()] == ["Obama"]
        assert api.get("/v1/info", headers=bearer(fresh)).json()["auth_required"] is True
        # the revoked key stays refused once a new key exists
        assert api.get("/v1/info", headers=bearer(token)).status_code == 401


def test_reopening_is_explicit_and_needs_no_active_key(tmp_path: Path, data: Path) -> None:
    state = ServiceState(tmp_path)
    _, record = state.create_key("only", "admin")
    runner = CliRunner()
    refused = runner.invoke(cli, ["keys", "open", "--yes", "--data", str(tmp_path)])
    assert refused.exit_code == 2 and "active API key" in refused.output
    assert runner.invoke(cli, ["keys", "open", "--data", str(tmp_path)]).exit_code == 2  # no --yes
    state.revoke_key(record.id)
    assert state.auth_required()
    opened = runner.invoke(cli, ["keys", "open", "--yes", "--data", str(tmp_path)])
    assert opened.exit_code == 0, opened.output
    assert not ServiceState(tmp_path).auth_required()
    with client(tmp_path) as api:
        assert api.get("/v1/info").json()["auth_required"] is False
    state.close()


def test_keyless_service_bound_beyond_loopback_refuses(tmp_path: Path) -> None:
    with client(tmp_path, host="0.0.0.0") as api:
        response = api.get("/v1/collections")
        assert response.status_code == 503 and error_code(response) == "no_active_key"


def test_folders_keyed_before_the_mode_was_recorded_stay_closed(tmp_path: Path) -> None:
    state = ServiceState(tmp_path)
    _, record = state.create_key("old", "admin")
    state.revoke_key(record.id)
    state.close()
    with sqlite3.connect(tmp_path / "service.sqlite3") as db:
        db.execute("DELETE FROM settings")  # as written by a version without the mode
    assert ServiceState(tmp_path).auth_required()


# ---- 3. deeply nested JSON is a 400 everywhere -------------------------------------------

NESTED = "[" * 100_000 + "]" * 100_000
IMAGE_ENDPOINTS = (
    "/v1/detect",
    "/v1/embed",
    "/v1/pad",
    "/v1/verify",
    "/v1/collections/default/identify",
    "/v1/collections/default/subjects",
    "/v1/collections/default/subjects/Ann/faces",
)


@pytest.mark.parametrize("path", IMAGE_ENDPOINTS)
def test_deeply_nested_json_is_a_400(service: Any, path: str) -> None:
    response = service.post(
        path, content=f'{{"image": {NESTED}}}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_json"


@pytest.mark.parametrize("path", IMAGE_ENDPOINTS[-2:])
def test_deeply_nested_multipart_metadata_is_a_400(service: Any, data: Path, path: str) -> None:
    response = service.post(
        path,
        files=upload(data / "obama_1.jpg"),
        # under the 64 KiB part limit, far over the parser's recursion limit
        data={"name": "Ann", "metadata": '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}"},
    )
    assert response.status_code == 400 and error_code(response) == "invalid_json"


def test_json_bodies_of_other_endpoints_nested_deeply_are_400(service: Any) -> None:
    response = service.post(
        "/v1/collections",
        content='{"name": ' + NESTED + "}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400 and error_code(response) == "bad_request"


def test_metadata_nested_within_the_parser_limit_is_refused(service: Any, data: Path) -> None:
    deep = "[" * 500 + "]" * 500
    response = service.post(
        "/v1/collections/default/subjects",
        files=upload(data / "obama_1.jpg"),
        data={"name": "Ann", "metadata": '{"a": ' + deep + "}"},
    )
    assert response.status_code == 422 and "nested" in response.json()["error"]["message"]


# ---- 7. metrics labels are bounded ---------------------------------------------------------


def test_unknown_methods_and_paths_do_not_grow_the_metrics(service: Any) -> None:
    for i in range(40):
        service.request(f"X{i}", "/v1/collections")
        service.get(f"/no/such/path/{i}")
    lines = service.get("/metrics").text.splitlines()
    series = [line for line in lines if line.startswith("facescope_http_requests_total{")]
    assert not any('method="X' in line for line in series)
    assert any('method="other"' in line for line in series)
    assert not any("/no/such/path" in line for line in lines)
    assert len(lines) < 300


def test_metrics_need_a_key_on_a_keyed_service(tmp_path: Path) -> None:
    state = ServiceState(tmp_path)
    token, _ = state.create_key("prometheus", "read")
    state.close()
    with client(tmp_path) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers=bearer(token)).status_code == 200
        assert api.get("/openapi.json").status_code == 200  # the contract is public
        assert api.get("/health").status_code == 200


# ---- 8. web pages cannot reach the keyless service ------------------------------------------


def test_rebound_host_names_are_refused_without_keys(service: Any) -> None:
    for host in ("attacker.example", "attacker.example:8000", "10.0.0.5"):
        response = service.get("/v1/collections", headers={"host": host})
        assert response.status_code == 403 and error_code(response) == "host_not_allowed"
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert service.get("/v1/collections", headers={"host": host}).status_code == 200


def test_host_is_not_checked_once_keys_exist(tmp_path: Path) -> None:
    state = ServiceState(tmp_path)
    token, _ = state.create_key("proxy", "read")
    state.close()
    with client(tmp_path) as api:
        response = api.get("/v1/collections", headers={"host": "faces.example", **bearer(token)})
        assert response.status_code == 200


def test_cross_site_posts_are_refused(service: Any, data: Path) -> None:
    for headers in (
        {"origin": "http://attacker.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:9999"},
        {"sec-fetch-site": "cross-site"},
    ):
        response = service.post(
            "/v1/collections/default/subjects/Mallory/faces",
            files=upload(data / "obama_1.jpg"),
            headers=headers,
        )
        assert response.status_code == 403 and error_code(response) == "cross_origin"
        deleted = service.delete("/v1/collections/default/subjects/Mallory", headers=headers)
        assert deleted.status_code == 403
    assert service.get("/v1/collections/default/subjects").json() == []
    same = service.post(
        "/v1/collections/default/subjects/Ann/faces",
        files=upload(data / "obama_1.jpg"),
        headers={"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"},
    )
    assert same.status_code == 201


def test_responses_forbid_framing(service: Any) -> None:
    for path in ("/", "/health", "/v1/collections", "/no/such/path"):
        headers = service.get(path).headers
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]


# ---- 10. text fields are capped the same way in both body formats --------------------------


def test_large_metadata_is_refused_in_json_and_multipart(service: Any, data: Path) -> None:
    big = {"notes": "x" * (70 * 1024)}
    from service_helpers import b64

    as_json = service.post(
        "/v1/collections/default/subjects",
        json={"image": b64(data / "obama_1.jpg"), "name": "Ann", "metadata": big},
    )
    assert as_json.status_code == 413 and error_code(as_json) == "field_too_large"
    import json

    as_form = service.post(
        "/v1/collections/default/subjects",
        files=upload(data / "obama_1.jpg"),
        data={"name": "Ann", "metadata": json.dumps(big)},
    )
    assert as_form.status_code in (400, 413), as_form.text
    assert service.get("/v1/collections/default/subjects").json() == []
    small = service.post(
        "/v1/collections/default/subjects",
        files=upload(data / "obama_1.jpg"),
        data={"name": "Ann", "metadata": json.dumps({"notes": "x" * 1000})},
    )
    assert small.status_code == 201


# ---- 11. the audit entry is written before the change -------------------------------------


def test_audit_entry_exists_before_the_template_is_stored(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facescope.gallery.gallery import Gallery

    seen: list[list[str]] = []
    store = Gallery.enroll_templates

    def spy(self: Gallery, *args: Any, **kwargs: Any) -> Any:
        with sqlite3.connect(tmp_path / "service.sqlite3") as db:
            seen.append(
                [r[0] for r in db.execute("SELECT outcome FROM audit WHERE action='enrol'")]
            )
        return store(self, *args, **kwargs)

    monkeypatch.setattr(Gallery, "enroll_templates", spy)
    with client(tmp_path) as api:
        assert _enrol(api, data).status_code == 201
        assert seen == [[PENDING]]
        entries = ServiceState(tmp_path).audit_entries(collection="default")
        assert [(e.action, e.outcome) for e in entries] == [("enrol", "ok")]
        assert entries[0].detail["template_ids"]


# ---- 12. errors name collections, not server paths ----------------------------------------


def test_errors_name_the_collection_not_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "collections" / "site-a"
    folder.mkdir(parents=True)
    (folder / "gallery.sqlite3").write_bytes(b"this is not a database" * 100)
    with client(tmp_path) as api:
        response = api.get("/v1/collections/site-a/subjects")
        assert 400 <= response.status_code < 600 and response.status_code != 500
        message = response.json()["error"]["message"]
        assert "collection 'site-a'" in message
        assert str(tmp_path) not in message and "sqlite3" not in message
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert "site-a" in ready.json()["checks"]["collections"]
        assert str(tmp_path) not in ready.text


# ---- 13. small ones -------------------------------------------------------------------------


def test_a_one_pixel_image_is_no_face(service: Any) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    response = service.post(
        "/v1/collections/default/subjects/Ann/faces",
        files={"image": ("dot.png", buffer.getvalue(), "image/png")},
    )
    assert response.status_code == 422 and "no face" in response.json()["error"]["message"]


def test_audit_of_an_unknown_collection_is_404(service: Any) -> None:
    response = service.get("/v1/collections/never-made/audit")
    assert response.status_code == 404 and error_code(response) == "unknown_collection"
    assert service.post("/v1/collections", json={"name": "gone"}).status_code == 201
    assert service.delete("/v1/collections/gone").status_code == 200
    kept = service.get("/v1/collections/gone/audit")  # a deleted collection keeps its log
    assert kept.status_code == 200
    assert [e["action"] for e in kept.json()] == ["delete_collection", "create_collection"]


# ---- 5. a damaged gallery is a clear 503 and /ready names it ----------------------------


def test_damaged_rows_are_503_naming_the_collection(tmp_path: Path, data: Path) -> None:
    with client(tmp_path) as api:
        assert _enrol(api, data).status_code == 201
        with sqlite3.connect(tmp_path / "gallery.sqlite3") as db:
            db.execute("UPDATE templates SET embedding = zeroblob(512)")
        probe = api.post("/v1/collections/default/identify", files=upload(data / "obama_2.jpg"))
        assert probe.status_code == 503 and error_code(probe) == "collection_damaged"
        message = probe.json()["error"]["message"]
        assert "collection 'default'" in message and str(tmp_path) not in message
        ready = api.get("/ready")
        assert ready.status_code == 503 and "default" in ready.json()["checks"]["collections"]
        assert api.get("/health").status_code == 200


# ---- 6. erasure is complete before 200, or answered 202 and finished later -------------


@pytest.mark.slow
def test_erasure_under_a_concurrent_reader_is_pending_then_finished(
    tmp_path: Path, data: Path
) -> None:
    name = "Erasable Person 7f3a"
    with client(tmp_path) as api:
        assert _enrol(api, data, name=name).status_code == 201
        reader = sqlite3.connect(tmp_path / "gallery.sqlite3")
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM templates").fetchone()  # pins a snapshot
        deleted = api.delete(f"/v1/collections/default/subjects/{name}")
        assert deleted.status_code == 202, deleted.text
        assert deleted.json()["erasure"] == "pending"
        wal = tmp_path / "gallery.sqlite3-wal"
        assert name.encode() in wal.read_bytes()
        reader.execute("COMMIT")
        reader.close()
        # the next access to the collection finishes the erasure
        assert api.get("/v1/collections/default/subjects").json() == []
        for path in tmp_path.glob("gallery.sqlite3*"):
            assert name.encode() not in path.read_bytes(), path
        entries = ServiceState(tmp_path).audit_entries(collection="default")
        assert entries[0].detail["erasure"] == "pending"


def test_erasure_without_readers_is_complete(tmp_path: Path, data: Path) -> None:
    with client(tmp_path) as api:
        assert _enrol(api, data).status_code == 201
        deleted = api.delete("/v1/collections/default/subjects/Obama")
        assert deleted.status_code == 200 and deleted.json()["erasure"] == "complete"
