"""API keys: scopes, per-collection access, revocation, hashed storage, safe binding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from service_helpers import client, error_code, upload
from typer.testing import CliRunner

from facescope.cli import app as cli
from facescope.service.backend import open_state
from facescope.service.server import UnsafeBindError, check_bind, is_loopback
from facescope.service.settings import ServiceSettings
from facescope.service.state import ServiceState


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def keys(service_data: Path | str) -> dict[str, str]:
    """Keys made beforehand, as `facescope keys create` does (folder or PostgreSQL)."""
    state = open_state(service_data)
    made = {
        "admin": state.create_key("ops", "admin")[0],
        "a_enrol": state.create_key("site A kiosk", "enrol", ["site-a"])[0],
        "a_read": state.create_key("site A door", "read", ["site-a"])[0],
        "b_enrol": state.create_key("site B kiosk", "enrol", ["site-b"])[0],
        "a_admin": state.create_key("site A admin", "admin", ["site-a"])[0],
    }
    state.close()
    return made


@pytest.fixture()
def api(service_data: Path | str, keys: dict[str, str], data: Path) -> Any:
    with client(service_data) as test_client:
        for name in ("site-a", "site-b"):
            created = test_client.post(
                "/v1/collections", json={"name": name}, headers=bearer(keys["admin"])
            )
            assert created.status_code == 201
        enrolled = test_client.post(
            "/v1/collections/site-b/subjects/Obama/faces",
            files=upload(data / "obama_1.jpg"),
            headers=bearer(keys["b_enrol"]),
        )
        assert enrolled.status_code == 201
        yield test_client


def test_requests_without_a_valid_key_get_401(api: Any, keys: dict[str, str]) -> None:
    for headers in ({}, bearer("fsk_0000_nope"), bearer("garbage"), {"X-API-Key": "x"}):
        response = api.get("/v1/collections", headers=headers)
        assert response.status_code == 401 and error_code(response) == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.get("/v1/collections", headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert api.get("/health").status_code == 200  # liveness needs no key
    assert api.get("/v1/info", headers=bearer(keys["a_read"])).json()["auth_required"] is True


def test_key_for_collection_a_can_neither_read_nor_write_b(
    api: Any, keys: dict[str, str], data: Path
) -> None:
    a = bearer(keys["a_enrol"])
    listed = api.get("/v1/collections", headers=a).json()
    assert [c["name"] for c in listed] == ["site-a"]
    reads = [
        api.get("/v1/collections/site-b", headers=a),
        api.get("/v1/collections/site-b/subjects", headers=a),
        api.get("/v1/collections/site-b/subjects/Obama", headers=a),
        api.post("/v1/collections/site-b/identify", files=upload(data / "obama_2.jpg"), headers=a),
        api.post(
            "/v1/verify?collection=site-b&subject=Obama",
            files=upload(data / "obama_2.jpg"),
            headers=a,
        ),
    ]
    writes = [
        api.post(
            "/v1/collections/site-b/subjects/Mallory/faces",
            files=upload(data / "biden_1.jpg"),
            headers=a,
        ),
        api.delete("/v1/collections/site-b/subjects/Obama", headers=a),
        api.delete("/v1/collections/site-b/subjects/Obama/faces/1", headers=a),
        api.delete("/v1/collections/site-b", headers=a),
    ]
    for response in reads + writes:
        assert response.status_code == 403, response.text
        assert error_code(response) == "forbidden"
    # nothing in B changed
    subjects = api.get("/v1/collections/site-b/subjects", headers=bearer(keys["b_enrol"])).json()
    assert [(s["name"], s["templates"]) for s in subjects] == [("Obama", 1)]
    # and A itself works for that key
    own = api.post(
        "/v1/collections/site-a/subjects/Biden/faces",
        files=upload(data / "biden_1.jpg"),
        headers=a,
    )
    assert own.status_code == 201


def test_scopes_read_enrol_admin(api: Any, keys: dict[str, str], data: Path) -> None:
    read = bearer(keys["a_read"])
    assert (
        api.post(
            "/v1/collections/site-a/identify", files=upload(data / "obama_2.jpg"), headers=read
        ).status_code
        == 200
    )
    refused = api.post(
        "/v1/collections/site-a/subjects/X/faces", files=upload(data / "biden_1.jpg"), headers=read
    )
    assert refused.status_code == 403 and "may not change" in refused.json()["error"]["message"]
    assert api.get("/v1/collections/site-a/audit", headers=read).status_code == 403
    enrol = bearer(keys["a_enrol"])
    assert api.post("/v1/collections", json={"name": "site-a2"}, headers=enrol).status_code == 403
    # an admin key of collection A administers A, not others
    a_admin = bearer(keys["a_admin"])
    assert api.get("/v1/collections/site-a/audit", headers=a_admin).status_code == 200
    assert api.get("/v1/collections/site-b/audit", headers=a_admin).status_code == 403
    assert api.post("/v1/collections", json={"name": "site-c"}, headers=a_admin).status_code == 403


def test_revoked_key_is_refused_at_once(
    api: Any, keys: dict[str, str], service_data: Path | str
) -> None:
    token = keys["a_read"]
    assert api.get("/v1/collections", headers=bearer(token)).status_code == 200
    state = open_state(service_data)
    key_id = token.split("_")[1]
    state.revoke_key(key_id)
    state.close()  # revoked from another process's connection, as the CLI does
    response = api.get("/v1/collections", headers=bearer(token))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_audit_log_names_the_key_and_records_denials(
    api: Any, keys: dict[str, str], data: Path
) -> None:
    a = bearer(keys["a_enrol"])
    api.post(
        "/v1/collections/site-b/subjects/M/faces", files=upload(data / "biden_1.jpg"), headers=a
    )
    entries = api.get("/v1/collections/site-b/audit", headers=bearer(keys["admin"])).json()

    def key_id(name: str) -> str:
        return keys[name].split("_")[1]

    assert [(e["action"], e["key_id"], e["outcome"]) for e in entries] == [
        ("denied", key_id("a_enrol"), "error:forbidden"),
        ("enrol", key_id("b_enrol"), "ok"),
        ("create_collection", key_id("admin"), "ok"),
    ]
    assert entries[0]["detail"] == {
        "needed": "enrol",
        "method": "POST",
        "path": "/v1/collections/site-b/subjects/M/faces",
    }


def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    state = ServiceState(tmp_path)
    token, record = state.create_key("x", "admin")
    state.close()
    secret = token.split("_", 2)[2]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("service.sqlite3*"))
    assert secret.encode() not in stored and token.encode() not in stored
    assert record.id.encode() in stored


def test_key_requests_are_validated(tmp_path: Path) -> None:
    from facescope.service.state import ApiKeyError

    state = ServiceState(tmp_path)
    with pytest.raises(ApiKeyError, match="scope"):
        state.create_key("x", "root")
    with pytest.raises(ApiKeyError, match="collection"):
        state.create_key("x", "read", [" "])
    with pytest.raises(ApiKeyError, match="no API key"):
        state.revoke_key("nope")
    state.close()


def test_binding_beyond_loopback_needs_a_key(tmp_path: Path) -> None:
    settings = ServiceSettings(data=tmp_path)
    assert check_bind("127.0.0.1", settings) is False
    assert check_bind("::1", settings) is False
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        with pytest.raises(UnsafeBindError, match="no API key"):
            check_bind(host, settings)
    state = ServiceState(tmp_path)
    state.create_key("ops", "admin")
    state.close()
    assert check_bind("0.0.0.0", settings) is True
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "door",
            "--scope",
            "read",
            "-c",
            "site-a",
            "--data",
            str(tmp_path),
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    import json

    record = json.loads(made.output)
    assert record["key"].startswith(f"fsk_{record['id']}_") and record["collections"] == ["site-a"]
    listed = json.loads(
        runner.invoke(cli, ["keys", "list", "--data", str(tmp_path), "--json"]).output
    )
    assert [k["id"] for k in listed] == [record["id"]] and "key" not in listed[0]
    revoked = runner.invoke(cli, ["keys", "revoke", record["id"], "--data", str(tmp_path)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    again = runner.invoke(cli, ["keys", "revoke", record["id"], "--data", str(tmp_path)])
    assert again.exit_code == 2 and "already revoked" in again.output
    bad = runner.invoke(cli, ["keys", "create", "x", "--scope", "root", "--data", str(tmp_path)])
    assert bad.exit_code == 2
    refused = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path / "empty")])
    assert refused.exit_code == 2 and "refusing to listen" in refused.output
